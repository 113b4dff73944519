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

A key fault, instead of the request fields above (it matches no route)::

    {
      "refuse_new_app_key": {"uses": 2,                # required, 1..1000
                             "org": "abc123",          # optional: only keys made in this org
                             "owner": "service_account"},  # optional: "service_account" or
                                                       # "user" (whose key it is)
      "times": 1                     # how many new keys it applies to (default 1)
    }

The next application key created through the API (``POST .../application_keys``) that
matches is refused for its first ``uses`` authentications: 403 ``{"errors": ["Forbidden"]}``,
as Datadog answers an unknown key (``middleware.py``), then it works. Why: Datadog's keys
are eventually consistent after creation; a Datadog engineer proposed documenting that
"Application keys could take up to a few second before becoming valid"
(DataDog/documentation pull request 29867, 2025-06, closed without merging). No recorded
exchange shows such a refusal, and "a few seconds" of wall clock would make tests depend on
timing, so the fault counts refused authentications instead of seconds: the key is refused
however quickly or slowly it is used, the stricter reading. Only requests that need the
application key count (``/api/v1/validate`` checks the API key alone).

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
    refuse_uses: int = 0  # a key fault: refusals of the next matching new application key
    refuse_org: str | None = None
    refuse_owner: str | None = None  # "service_account" | "user" | None (either)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def is_key_fault(self) -> bool:
        """A fault on the next new application key, not on requests."""
        return self.refuse_uses > 0

    def matches_new_key(self, org: str, service_account: bool) -> bool:
        """Whether this key fault applies to a key just made in ``org`` (for a service
        account, or a user)."""
        if not self.is_key_fault or self.refuse_org not in (None, org):
            return False
        owner = "service_account" if service_account else "user"
        return self.refuse_owner in (None, owner)

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
        if self.is_key_fault:
            refuse: dict[str, Any] = {"uses": self.refuse_uses}
            if self.refuse_org is not None:
                refuse["org"] = self.refuse_org
            if self.refuse_owner is not None:
                refuse["owner"] = self.refuse_owner
            return {"id": self.id, "refuse_new_app_key": refuse, "times": self.times}
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


_KEY_FAULT_FIELDS = {"refuse_new_app_key", "times"}
_OWNERS = ("service_account", "user")


def _parse_key_fault(spec: dict[str, Any]) -> Fault:
    """``{"refuse_new_app_key": {...}, "times": n}`` (see the module docstring)."""
    others = set(spec) - _KEY_FAULT_FIELDS
    if others:
        raise FaultSpecError(f"refuse_new_app_key matches no route and takes no request "
                             f"fields: {sorted(others)}")
    refuse = spec["refuse_new_app_key"]
    if not isinstance(refuse, dict) or set(refuse) - {"uses", "org", "owner"}:
        raise FaultSpecError("refuse_new_app_key must be {'uses': N, 'org': public_id, "
                             "'owner': 'service_account' | 'user'}")
    if refuse.get("uses") is None:
        raise FaultSpecError("refuse_new_app_key needs 'uses' (refused authentications)")
    uses = _int(refuse, "uses", 1, 1, 1000)
    org = refuse.get("org")
    if org is not None and (not isinstance(org, str) or not org.strip()):
        raise FaultSpecError("refuse_new_app_key.org must be an org's public_id")
    owner = refuse.get("owner")
    if owner is not None and owner not in _OWNERS:
        raise FaultSpecError(f"refuse_new_app_key.owner must be one of {list(_OWNERS)}")
    return Fault(id=secrets.token_hex(6), times=_int(spec, "times", 1, 1, 1_000_000),
                 refuse_uses=uses, refuse_org=org, refuse_owner=owner)


def parse_fault(spec: Any) -> Fault:
    """Validate a fault description (from JSON or Python) and build a Fault."""
    if not isinstance(spec, dict):
        raise FaultSpecError("fault must be a JSON object")
    if "refuse_new_app_key" in spec:
        return _parse_key_fault(spec)
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
        # application key ID -> authentications still refused (armed key faults)
        self.refused_app_keys: dict[str, int] = {}

    def add_fault(self, spec: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Add a fault (schema in this module's docstring); returns its id."""
        fault = parse_fault({**(spec or {}), **kwargs})
        with self.lock:
            self.faults.append(fault)
        return fault.id

    def clear_faults(self) -> None:
        """Remove every fault (and the refusals armed key faults left)."""
        with self.lock:
            self.faults.clear()
            self.refused_app_keys.clear()

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
                if fault.is_key_fault or not fault.matches(method, template, path):
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

    def arm_key_faults(self, org: str, key_id: str, service_account: bool) -> None:
        """A new application key was made: the first matching key fault marks it refused
        for its first ``uses`` authentications (and uses up one of its ``times``)."""
        with self.lock:
            for fault in self.faults:
                if fault.matches_new_key(org, service_account):
                    self.refused_app_keys[key_id] = fault.refuse_uses
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return

    def refuse_new_key(self, key_id: str) -> bool:
        """Whether this authentication of the key is refused (uses one refusal)."""
        with self.lock:
            left = self.refused_app_keys.get(key_id, 0)
            if left <= 0:
                return False
            if left == 1:
                del self.refused_app_keys[key_id]
            else:
                self.refused_app_keys[key_id] = left - 1
            return True

    def refusals_left(self, key_id: str) -> int:
        """How many authentications of the key are still refused by a key fault."""
        with self.lock:
            return self.refused_app_keys.get(key_id, 0)

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
