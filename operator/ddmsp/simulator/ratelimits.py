"""Rate limits: named buckets per org, answered with Datadog's ``X-RateLimit-*`` headers.

Why: the operator must back off on 429 as Datadog asks; tests set tiny limits to provoke it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

from ddmsp.simulator.store import StateBase


@dataclass
class RateLimit:
    """One rate-limit bucket definition: `limit` requests per `period` seconds."""

    limit: int
    period: int


# Names follow Datadog's habit of naming buckets after the API area; the real names and values
# are not in the reference data, so limits are generous and tests set tiny ones.
DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    "validate": RateLimit(1000, 60),
    "orgs_read": RateLimit(1000, 60),
    "orgs_write": RateLimit(300, 60),
    "orgs_create": RateLimit(100, 3600),
    "roles": RateLimit(1000, 60),
    "permissions": RateLimit(1000, 60),
    "authn_mappings": RateLimit(1000, 60),
    "saml": RateLimit(100, 60),
    "org_configs": RateLimit(1000, 60),
    "org_connections": RateLimit(1000, 60),
    "usage": RateLimit(600, 3600),
}


@dataclass
class RateInfo:
    """The outcome of one rate-limit check, rendered as X-RateLimit-* headers."""

    name: str
    limit: int
    period: int
    remaining: int
    reset: int
    exceeded: bool

    def headers(self) -> dict[str, str]:
        """The real header set."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Period": str(self.period),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Name": self.name,
        }


class RateLimitState(StateBase):
    """The buckets' definitions and their current windows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rate_limits: dict[str, RateLimit] = {
            k: RateLimit(v.limit, v.period) for k, v in DEFAULT_RATE_LIMITS.items()
        }
        self.rate_windows: dict[tuple[str, str], tuple[float, int]] = {}

    def _to_json_extra(self, out: dict[str, Any]) -> None:
        super()._to_json_extra(out)
        out["rate_limits"] = {k: asdict(v) for k, v in self.rate_limits.items()}

    def _load_extra(self, data: dict[str, Any]) -> None:
        super()._load_extra(data)
        for k, v in data.get("rate_limits", {}).items():
            self.rate_limits[k] = RateLimit(int(v["limit"]), int(v["period"]))

    def check_rate_limit(self, org_id: str, name: str) -> RateInfo | None:
        """Count one request against (org, limit name) in a fixed window aligned to the
        calendar: windows start at multiples of ``period`` seconds since the epoch, and
        ``X-RateLimit-Reset`` is the whole seconds left until the window's end boundary
        (Datadog's docs: "time in seconds until next reset"; the recorded 429 in
        datadog-api-client-python ``tests/cassettes/test_retry/test_retry_rate_limit.yaml``
        has period 10 and reset 3, i.e. not a window started by that request). Real time, not
        the simulator clock, so tests never wait on a moved clock."""
        with self.lock:
            rl = self.rate_limits.get(name)
            if rl is None:
                return None
            now = time.time()
            start = math.floor(now / rl.period) * rl.period
            old_start, count = self.rate_windows.get((org_id, name), (start, 0))
            if old_start != start:
                count = 0
            count += 1
            self.rate_windows[(org_id, name)] = (start, count)
            reset = max(1, math.ceil(start + rl.period - now))
            return RateInfo(name, rl.limit, rl.period, rl.limit - count, reset, count > rl.limit)

    def set_rate_limit(self, name: str, limit: int, period: int = 60) -> None:
        """Change one limit (tests set tiny ones); resets its windows."""
        with self.lock:
            self.rate_limits[name] = RateLimit(limit, period)
            for k in [k for k in self.rate_windows if k[1] == name]:
                del self.rate_windows[k]

    def reset_rate_limits(self) -> None:
        """Forget all rate-limit windows."""
        with self.lock:
            self.rate_windows.clear()
