"""Fault injection for the simulator.

Why: the operator's hardest paths (429 storms, 5xx, slow answers, a create whose response is
lost) cannot be provoked against Datadog on demand, so tests inject them here.

Schema of ``POST /_sim/faults`` (JSON object; every field optional except as noted)::

    {
      "route": "POST /api/v1/org",   # "METHOD /path/template" as in GET /_sim/calls.
                                     # METHOD may be "*"; the path may end in "*" (prefix match)
                                     # or be a concrete path ("/api/v1/org/abc123").
                                     # Missing or "*" = every /api request.
      "error_rate": 0.5,             # probability in [0, 1] of answering `status` instead of
                                     # calling the endpoint (nothing is changed). Default 0,
                                     # or 1.0 when `status` is given without `error_rate`.
      "status": 500,                 # status of injected errors, 400..599. Default 500.
      "latency_ms": 200,             # extra delay before the request is handled, 0..60000.
      "rate_limit_storm": {"count": 3, "reset": 1},
                                     # the next `count` matching requests answer 429 with the
                                     # real X-RateLimit-* headers and X-RateLimit-Reset=`reset`.
      "commit_then_drop": true,      # perform the change, then abort the connection without
                                     # any response (the client sees a dropped response).
      "times": 1,                    # how many matching requests the fault applies to, then
                                     # it is removed. Default: unlimited (storms end by count).
      "seed": 42                     # seed of the fault's own random generator (error_rate).
    }

The answer is ``{"id": "<fault id>", "fault": {...normalised...}}`` (201). ``GET /_sim/faults``
lists active faults, ``DELETE /_sim/faults`` clears them all and ``DELETE /_sim/faults/{id}``
removes one. Faults are evaluated in insertion order; the first that produces an answer wins
(latency from every matching fault is added). A matching request consumes one of `times`.
Injected errors use the real error body shape ``{"errors": ["..."]}``.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ddmsp.simulator.store import StateBase

_ERROR_TEXT: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    429: "Too many requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_text(status: int) -> str:
    """The message used in an injected error body."""
    return _ERROR_TEXT.get(status, "Error")


class FaultSpecError(ValueError):
    """A fault description that does not follow the schema."""


@dataclass
class Fault:
    """One active fault; see the module docstring for the meaning of each field."""

    id: str
    method: str = "*"
    path: str = "*"
    error_rate: float = 0.0
    status: int = 500
    latency_ms: int = 0
    storm_count: int = 0
    storm_reset: int = 1
    commit_then_drop: bool = False
    times: int | None = None
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, method: str, template: str, path: str) -> bool:
        """Whether this fault applies to a request (template or concrete path)."""
        if self.method not in ("*", method.upper()):
            return False
        if self.path == "*":
            return True
        if self.path.endswith("*"):
            prefix = self.path[:-1]
            return template.startswith(prefix) or path.startswith(prefix)
        return self.path in (template, path)

    def as_dict(self) -> dict[str, Any]:
        """The normalised JSON form shown by GET /_sim/faults."""
        out: dict[str, Any] = {
            "id": self.id,
            "route": f"{self.method} {self.path}",
            "error_rate": self.error_rate,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "commit_then_drop": self.commit_then_drop,
            "times": self.times,
        }
        if self.storm_count:
            out["rate_limit_storm"] = {"count": self.storm_count, "reset": self.storm_reset}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


def _int(spec: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = spec.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise FaultSpecError(f"{key} must be an integer in [{lo}, {hi}]")
    return value


def parse_fault(spec: Any) -> Fault:
    """Validate a fault description (from JSON or Python) and build a Fault."""
    if not isinstance(spec, dict):
        raise FaultSpecError("fault must be a JSON object")
    known = {
        "route",
        "error_rate",
        "status",
        "latency_ms",
        "rate_limit_storm",
        "commit_then_drop",
        "times",
        "seed",
    }
    unknown = set(spec) - known
    if unknown:
        raise FaultSpecError(f"unknown fault fields: {sorted(unknown)}")
    method, path = "*", "*"
    route = spec.get("route", "*")
    if route is None:
        route = "*"
    if not isinstance(route, str) or not route.strip():
        raise FaultSpecError("route must be a string like 'POST /api/v1/org'")
    parts = route.split()
    if len(parts) == 1:
        if parts[0].startswith("/") or parts[0] == "*":
            path = parts[0]
        else:
            method = parts[0].upper()
    elif len(parts) == 2:
        method, path = parts[0].upper(), parts[1]
    else:
        raise FaultSpecError("route must be 'METHOD /path'")
    if path != "*" and not path.startswith("/"):
        raise FaultSpecError("route path must start with '/'")
    status = _int(spec, "status", 500, 400, 599)
    rate = spec.get("error_rate")
    if rate is None:
        rate = 1.0 if "status" in spec else 0.0
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise FaultSpecError("error_rate must be a number in [0, 1]")
    storm = spec.get("rate_limit_storm")
    storm_count, storm_reset = 0, 1
    if storm is not None:
        if not isinstance(storm, dict) or set(storm) - {"count", "reset"}:
            raise FaultSpecError("rate_limit_storm must be {'count': N, 'reset': seconds}")
        storm_count = _int(storm, "count", 1, 1, 1_000_000)
        storm_reset = _int(storm, "reset", 1, 0, 3600)
    drop = spec.get("commit_then_drop", False)
    if not isinstance(drop, bool):
        raise FaultSpecError("commit_then_drop must be a boolean")
    times = spec.get("times")
    if times is not None:
        times = _int(spec, "times", 1, 1, 1_000_000)
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultSpecError("seed must be an integer")
    return Fault(
        id=secrets.token_hex(6),
        method=method,
        path=path,
        error_rate=float(rate),
        status=status,
        latency_ms=_int(spec, "latency_ms", 0, 0, 60_000),
        storm_count=storm_count,
        storm_reset=storm_reset,
        commit_then_drop=drop,
        times=times,
        seed=seed,
        rng=random.Random(seed),
    )


@dataclass
class FaultDecision:
    """What the fault layer decided for one request."""

    latency_ms: int = 0
    error_status: int | None = None
    storm_reset: int | None = None
    drop: bool = False


class FaultsState(StateBase):
    """Active faults, the global latency and the per-route call counts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.faults: list[Fault] = []
        self.call_counts: Counter[tuple[str, int]] = Counter()
        # Per concrete path too ("GET /api/v2/roles/<id>"): a test that asserts "N drift
        # passes of this object changed nothing" must see the passes of that one object
        # happen, and a route template mixes every object (and org) together.
        self.path_counts: Counter[str] = Counter()
        self.latency_ms: int = 0

    def add_fault(self, spec: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Add a fault (schema in this module's docstring); returns its id."""
        fault = parse_fault({**(spec or {}), **kwargs})
        with self.lock:
            self.faults.append(fault)
        return fault.id

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self.lock:
            self.faults.clear()

    def remove_fault(self, fault_id: str) -> bool:
        """Remove one fault; False when unknown."""
        with self.lock:
            before = len(self.faults)
            self.faults = [f for f in self.faults if f.id != fault_id]
            return len(self.faults) != before

    def decide_faults(self, method: str, template: str, path: str) -> FaultDecision:
        """Apply the active faults to one request and consume their budgets."""
        decision = FaultDecision()
        with self.lock:
            for fault in list(self.faults):
                if not fault.matches(method, template, path):
                    continue
                decision.latency_ms += fault.latency_ms
                consumed = True
                if decision.error_status is None and decision.storm_reset is None:
                    if fault.storm_count > 0:
                        fault.storm_count -= 1
                        decision.storm_reset = fault.storm_reset
                        if fault.storm_count == 0 and fault.times is None:
                            self.faults.remove(fault)
                            continue
                    elif fault.error_rate > 0 and fault.rng.random() < fault.error_rate:
                        decision.error_status = fault.status
                    elif fault.commit_then_drop:
                        decision.drop = True
                    elif fault.latency_ms == 0:
                        consumed = False
                if consumed and fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
        return decision

    def record_call(self, route: str, status: int, request: str | None = None) -> None:
        """Count one answered request (status 0 = response dropped by a fault); ``request``
        is ``"METHOD /concrete/path"``, counted whatever the status."""
        with self.lock:
            self.call_counts[(route, status)] += 1
            if request is not None:
                self.path_counts[request] += 1

    def request_count(self, request: str) -> int:
        """How many times ``"METHOD /concrete/path"`` was answered (any status)."""
        with self.lock:
            return self.path_counts[request]

    def calls(self) -> dict[str, dict[int, int]]:
        """Counts per route template and status."""
        with self.lock:
            out: dict[str, dict[int, int]] = {}
            for (route, status), n in sorted(self.call_counts.items()):
                out.setdefault(route, {})[status] = n
            return out

    def reset_calls(self) -> None:
        """Forget call counts."""
        with self.lock:
            self.call_counts.clear()
            self.path_counts.clear()
