"""Usage metering (v1 ``/api/v1/usage/summary``) with deterministic numbers per org.

Why: the operator reports each client's usage; tests need numbers that are stable for an org and
month (derived from a hash of its public_id), so a restart or a second run shows the same usage.
The month helpers here are shared with ``cost``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from ddmsp.simulator.http import (
    Route,
    caller_org,
    query_bool,
    query_int,
    state_of,
    typed_json,
)
from ddmsp.simulator.store import Org, SimError

ROOT_ONLY = ("API called with non-parent org keys. Data is only available at the root "
             "level org")


def unit(public_id: str, month: str, salt: str) -> float:
    digest = hashlib.sha256(f"{public_id}:{month}:{salt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def sim_now(state: Any) -> datetime:
    """The simulator's clock (``/_sim/clock``: ``state.clock``), else real time."""
    clock = getattr(state, "clock", None)
    value = clock.now() if clock is not None else None
    return value.astimezone(UTC) if isinstance(value, datetime) else datetime.now(UTC)


def month_start(when: datetime) -> datetime:
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(when: datetime, n: int) -> datetime:
    index = when.year * 12 + when.month - 1 + n
    return when.replace(year=index // 12, month=index % 12 + 1, day=1)


def require_root(org: Org) -> None:
    """Cost and usage-summary endpoints answer parent-level (root) orgs only (spec:
    "only accessible for parent-level organizations"; recorded 400 body)."""
    if org.parent_id is not None:
        raise SimError(400, ROOT_ONLY)


def visible_orgs(state: Any, caller: Org, include_connected: bool) -> list[tuple[Org, Org]]:
    """(org, account) pairs a root org's usage views cover: itself and its children; with
    ``include_connected_accounts``, also the customer orgs connected to it as a partner (spun
    off from it: DPN customers) and their children. The account is the contract holder."""
    with state.lock:
        out = [(caller, caller)] + [(c, caller) for c in state.children(caller.public_id)]
        if include_connected:
            for org in list(state.orgs.values()):
                if getattr(org, "connected_to", None) == caller.public_id:
                    out.append((org, org))
                    out.extend((c, org) for c in state.children(org.public_id))
        return out


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
    orgs: list[tuple[Org, Org]], months: list[str], include_org_details: bool, now: datetime
) -> dict[str, Any]:
    """A v1 UsageSummaryResponse with a subset of the usage fields."""
    usage: list[dict[str, Any]] = []
    grand = dict.fromkeys(USAGE_FIELDS, 0)
    for month in months:
        per_org = [(o, a, usage_numbers(o, month)) for o, a in orgs]
        day: dict[str, Any] = {"date": f"{month}-01T00:00:00+00:00"}
        for name in USAGE_FIELDS:
            day[name] = sum(n[name] for _, _, n in per_org)
            grand[name] += day[name]
        if include_org_details:
            day["orgs"] = [
                {"id": o.public_id, "name": o.name, "public_id": o.public_id,
                 "account_name": a.name, "account_public_id": a.public_id, "region": "us", **n}
                for o, a, n in per_org
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
        "last_updated": now.replace(microsecond=0).isoformat(),
        "usage": usage,
    }
    for name, total_name in sum_names.items():
        out[total_name] = grand[name]
    return out


async def get_usage_summary(request: web.Request) -> web.Response:
    """GET /api/v1/usage/summary."""
    state = state_of(request)
    org = caller_org(request)
    require_root(org)  # "only accessible for parent-level organizations"
    start = parse_month(request.query.get("start_month"), "start_month", required=True)
    assert start is not None
    end = parse_month(request.query.get("end_month"), "end_month")
    include = query_bool(request, "include_org_details")
    connected = query_bool(request, "include_connected_accounts")
    now = sim_now(state)
    if month_start(start) < add_months(month_start(now), -15):
        raise SimError(400, "start_month: maximum of 15 months ago")
    orgs = visible_orgs(state, org, connected)
    body = usage_summary(orgs, months_between(start, end), include, now)
    return typed_json(body, "application/json;datetime-format=rfc3339")


# Hourly usage by product family (v2). Families and measurement names as recorded
# (test_get_hourly_usage_by_product_family_returns_ok_response: infra_hosts); the others
# the spec lists are accepted and answered with their modelled measurements, if any.
HOURLY_FAMILIES: dict[str, dict[str, str]] = {
    "infra_hosts": {"agent_host_count": "agent_host_top99p", "host_count": "infra_host_top99p",
                    "apm_host_count": "apm_host_top99p", "container_count": "container_avg"},
    "timeseries": {"num_custom_timeseries": "custom_ts_avg"},
}
SPEC_FAMILIES = {
    "all", "ai", "analyzed_logs", "application_performance_monitoring", "application_security",
    "audit_trail", "bits_ai", "serverless", "ci_app", "cloud_cost_management", "cloud_siem",
    "csm_container_enterprise", "csm_host_enterprise", "csm_host_pro", "cspm", "custom_events",
    "cws", "data_observability", "dbm", "digital_experience_management", "error_tracking",
    "fargate", "infra_hosts", "incident_management", "indexed_logs", "indexed_spans",
    "infrastructure_monitoring", "ingested_spans", "iot", "lambda_traced_invocations",
    "llm_observability", "log_management", "logs", "network_flows", "network_hosts",
    "network_monitoring", "observability_pipelines", "online_archive", "platform_capabilities",
    "product_analytics", "profiling", "rum", "rum_browser_sessions", "rum_mobile_sessions",
    "sds", "security", "snmp", "software_delivery", "synthetics_api", "synthetics_browser",
    "synthetics_mobile", "synthetics_parallel_testing", "timeseries", "vuln_management",
    "workflow_executions", "audit_logs",
}
MAX_HOURS = 24 * 31


def _hour(value: str | None, what: str) -> datetime | None:
    parsed = parse_month(value, what) if value else None
    return None if parsed is None else parsed.replace(minute=0, second=0, microsecond=0)


async def get_hourly_usage(request: web.Request) -> web.Response:
    """GET /api/v2/usage/hourly_usage: one row per org, hour and product family, paged by
    ``page[next_record_id]``; ``filter[include_descendants]`` adds child orgs and
    ``filter[include_connected_accounts]`` a partner's connected customer orgs."""
    state = state_of(request)
    q = request.query
    start = _hour(q.get("filter[timestamp][start]"), "filter[timestamp][start]")
    if start is None:
        raise SimError(400, "filter[timestamp][start] is required")
    end = _hour(q.get("filter[timestamp][end]"), "filter[timestamp][end]")
    if end is not None and end <= start:
        raise SimError(400, "start_hr [YYYY-MM-DDThh] must be before end_hr [YYYY-MM-DDThh]")
    raw = q.get("filter[product_families]") or ""
    families = [f.strip() for f in raw.split(",") if f.strip()]
    if not families or any(f not in SPEC_FAMILIES for f in families):
        raise SimError(400, "Invalid filter[product_families]")
    if "all" in families:
        families = sorted(HOURLY_FAMILIES)
    limit = query_int(request, "page[limit]", 500, 1, 500)
    after = q.get("page[next_record_id]")
    caller = caller_org(request)
    descendants = query_bool(request, "filter[include_descendants]")
    connected = query_bool(request, "filter[include_connected_accounts]")
    orgs = [(o, a) for o, a in visible_orgs(state, caller, connected)
            if descendants or o.parent_id is None or o is caller]
    now = sim_now(state).replace(minute=0, second=0, microsecond=0)
    stop = min(end or now, now, start + timedelta(hours=MAX_HOURS))
    rows: list[dict[str, Any]] = []
    hour = start
    while hour < stop:
        month = hour.strftime("%Y-%m")
        for org, account in orgs:
            figures = usage_numbers(org, month)
            for family in families:
                names = HOURLY_FAMILIES.get(family, {})
                rid = hashlib.sha256(f"{org.public_id}:{hour.isoformat()}:{family}"
                                     .encode()).hexdigest()
                attributes: dict[str, Any] = {
                    "org_name": org.name, "public_id": org.public_id,
                    "timestamp": hour.isoformat(), "region": "us",
                    "measurements": [{"usage_type": u, "value": figures[f]}
                                     for u, f in names.items()],
                    "product_family": family}
                if connected:
                    attributes.update(account_name=account.name,
                                      account_public_id=account.public_id)
                rows.append({"attributes": attributes, "type": "usage_timeseries", "id": rid})
        hour += timedelta(hours=1)
    if after:
        ids = [r["id"] for r in rows]
        if after not in ids:
            raise SimError(400, "Invalid page[next_record_id]")
        rows = rows[ids.index(after):]
    page, rest = rows[:limit], rows[limit:]
    body: dict[str, Any] = {"data": page}
    if rest:
        body["meta"] = {"pagination": {"next_record_id": rest[0]["id"]}}
    return web.json_response(body)  # recorded: Content-Type application/json


ROUTES: list[Route] = [
    ("GET", "/api/v1/usage/summary", get_usage_summary, "both", "usage"),
    ("GET", "/api/v2/usage/hourly_usage", get_hourly_usage, "both", "usage"),
]
