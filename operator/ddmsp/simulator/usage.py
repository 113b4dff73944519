"""Usage metering (v1 ``/api/v1/usage/summary``) with deterministic numbers per org.

Why: the operator reports each client's usage; tests need numbers that are stable for an org and
month (derived from a hash of its public_id), so a restart or a second run shows the same usage.
The month helpers here are shared with ``cost``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ddmsp.simulator.http import Route, caller_org, query_bool, state_of, typed_json
from ddmsp.simulator.store import Org, SimError


def unit(public_id: str, month: str, salt: str) -> float:
    digest = hashlib.sha256(f"{public_id}:{month}:{salt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def parse_month(value: str | None, what: str, required: bool = False) -> datetime | None:
    """Parse the ISO-8601 month/date parameters Datadog accepts (``2022-04`` ... full time)."""
    if value is None or value == "":
        if required:
            raise SimError(400, f"{what} is required")
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    for candidate in (text, text + "-01"):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    raise SimError(400, f"Invalid {what}: expected an ISO-8601 date")


def months_between(start: datetime, end: datetime | None) -> list[str]:
    """Months ``YYYY-MM`` from start to end inclusive (at most 24)."""
    end = end or start
    if end < start:
        raise SimError(400, "end must not be before start")
    out: list[str] = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month) and len(out) < 24:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


USAGE_FIELDS = {
    "agent_host_top99p": (5, 50),
    "infra_host_top99p": (5, 80),
    "apm_host_top99p": (0, 30),
    "container_avg": (10, 300),
    "custom_ts_avg": (100, 5000),
}


def usage_numbers(org: Org, month: str) -> dict[str, int]:
    """Deterministic usage figures of one org and month."""
    return {
        name: int(lo + (hi - lo) * unit(org.public_id, month, name))
        for name, (lo, hi) in USAGE_FIELDS.items()
    }


def usage_summary(
    caller: Org, children: list[Org], months: list[str], include_org_details: bool
) -> dict[str, Any]:
    """A v1 UsageSummaryResponse with a subset of the usage fields."""
    usage: list[dict[str, Any]] = []
    grand = dict.fromkeys(USAGE_FIELDS, 0)
    for month in months:
        per_org = [(o, usage_numbers(o, month)) for o in [caller, *children]]
        day: dict[str, Any] = {"date": f"{month}-01T00:00:00+00:00"}
        for name in USAGE_FIELDS:
            day[name] = sum(n[name] for _, n in per_org)
            grand[name] += day[name]
        if include_org_details:
            day["orgs"] = [
                {"id": o.public_id, "name": o.name, "public_id": o.public_id, **n}
                for o, n in per_org
            ]
        usage.append(day)
    sum_names = {
        "agent_host_top99p": "agent_host_top99p_sum",
        "infra_host_top99p": "infra_host_top99p_sum",
        "apm_host_top99p": "apm_host_top99p_sum",
        "container_avg": "container_avg_sum",
        "custom_ts_avg": "custom_ts_sum",
    }
    out: dict[str, Any] = {
        "start_date": f"{months[0]}-01T00:00:00+00:00",
        "end_date": f"{months[-1]}-01T00:00:00+00:00",
        "last_updated": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "usage": usage,
    }
    for name, total_name in sum_names.items():
        out[total_name] = grand[name]
    return out


async def get_usage_summary(request: web.Request) -> web.Response:
    """GET /api/v1/usage/summary."""
    state = state_of(request)
    start = parse_month(request.query.get("start_month"), "start_month", required=True)
    assert start is not None
    end = parse_month(request.query.get("end_month"), "end_month")
    include = query_bool(request, "include_org_details")
    query_bool(request, "include_connected_accounts")
    org = caller_org(request)
    body = usage_summary(org, state.children(org.public_id), months_between(start, end), include)
    return typed_json(body, "application/json;datetime-format=rfc3339")


ROUTES: list[Route] = [
    ("GET", "/api/v1/usage/summary", get_usage_summary, "both", "usage"),
]
