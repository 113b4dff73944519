"""Client-side rate limiting shared by every caller of the same Datadog limit.

Datadog limits per organization and per *rate-limit name* (several routes share a
name). A limiter is keyed by (API base URL, credentials fingerprint, limit name);
a process-wide registry hands the same limiter to every client built with the same
keys, so many reconcilers of one org queue behind one budget instead of each
discovering the limit by hitting 429.

Which route belongs to which limit is learned from the `X-RateLimit-Name` header.
Until a route's limit is known, its own route string stands in as the name.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


@dataclass
class RateLimitInfo:
    """The X-RateLimit-* headers of one response."""

    name: str | None = None
    limit: float | None = None
    period: float | None = None
    remaining: float | None = None
    reset: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        name = headers.get("x-ratelimit-name")
        return cls(
            name=name.strip() if name else None,
            limit=_header_float(headers, "x-ratelimit-limit"),
            period=_header_float(headers, "x-ratelimit-period"),
            remaining=_header_float(headers, "x-ratelimit-remaining"),
            reset=_header_float(headers, "x-ratelimit-reset"),
        )

    @property
    def present(self) -> bool:
        return any(v is not None for v in (self.limit, self.remaining, self.reset))


@dataclass
class RateLimiter:
    """The known state of one rate limit; callers ask it how long to wait."""

    name: str
    limit: float | None = None
    period: float | None = None
    remaining: float | None = None
    reset_at: float = 0.0  # monotonic time the current window ends
    blocked_until: float = 0.0  # monotonic time a 429 told us to wait until
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def _now(self) -> float:
        return self.clock()

    def wait_time(self) -> float:
        """Seconds to wait before the next request may go (0 = go now)."""
        now = self._now()
        wait = max(0.0, self.blocked_until - now)
        if self.remaining is not None and self.remaining <= 0:
            if self.reset_at > now:
                wait = max(wait, self.reset_at - now)
            else:  # the window rolled over: the budget is unknown again
                self.remaining = None
        return wait

    def reserve(self) -> None:
        """Count one request against the known remaining budget."""
        if self.remaining is not None and self.remaining > 0:
            self.remaining -= 1

    def observe(self, info: RateLimitInfo) -> None:
        """Update from a response's headers."""
        now = self._now()
        if info.limit is not None:
            self.limit = info.limit
        if info.period is not None:
            self.period = info.period
        if info.reset is not None:
            self.reset_at = now + info.reset
        if info.remaining is not None:
            self.remaining = info.remaining

    def block_for(self, seconds: float) -> None:
        """A 429 said: nothing goes for `seconds`."""
        self.blocked_until = max(self.blocked_until, self._now() + max(0.0, seconds))
        self.remaining = 0
        self.reset_at = max(self.reset_at, self.blocked_until)


_Key = tuple[str, str, str]


class RateLimitRegistry:
    """Process-wide store of limiters, learned route names and concurrency caps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limiters: dict[_Key, RateLimiter] = {}
        self._route_names: dict[_Key, str] = {}
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, str], asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()

    def limit_name(self, base_url: str, fingerprint: str, route: str) -> str:
        """The limit name a route is known to count against (the route itself if unknown)."""
        with self._lock:
            return self._route_names.get((base_url, fingerprint, route), route)

    def learn(self, base_url: str, fingerprint: str, route: str, name: str) -> None:
        with self._lock:
            self._route_names[(base_url, fingerprint, route)] = name

    def limiter(self, base_url: str, fingerprint: str, name: str) -> RateLimiter:
        key = (base_url, fingerprint, name)
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = self._limiters[key] = RateLimiter(name=name)
            return limiter

    def for_route(self, base_url: str, fingerprint: str, route: str) -> RateLimiter:
        return self.limiter(base_url, fingerprint, self.limit_name(base_url, fingerprint, route))

    def observe(
        self, base_url: str, fingerprint: str, route: str, info: RateLimitInfo
    ) -> RateLimiter | None:
        """Learn the route's limit name and update that limiter; returns it if headers said so."""
        if info.name:
            self.learn(base_url, fingerprint, route, info.name)
        if not info.present and not info.name:
            return None
        limiter = self.for_route(base_url, fingerprint, route)
        limiter.observe(info)
        return limiter

    def semaphore(self, base_url: str, fingerprint: str, size: int) -> asyncio.Semaphore:
        """The concurrency cap for (base URL, keys) on the running event loop.

        The first caller fixes the size for that pair.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            per_loop = self._semaphores.get(loop)
            if per_loop is None:
                per_loop = self._semaphores[loop] = {}
            sem = per_loop.get((base_url, fingerprint))
            if sem is None:
                sem = per_loop[(base_url, fingerprint)] = asyncio.Semaphore(max(1, size))
            return sem

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._limiters.clear()
            self._route_names.clear()
            self._semaphores = weakref.WeakKeyDictionary()


DEFAULT_REGISTRY = RateLimitRegistry()
