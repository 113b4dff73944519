"""Cost (v2 ``/api/v2/usage/*_cost``): deterministic numbers per org, the real rules and shapes.

Why: the operator reports each client's cost; tests need numbers stable for an org and month
(derived from a hash of its public_id) and the rules of the real endpoints. Evidence
(DataDog/datadog-api-client-python ``usage_metering_api.py`` docstrings, generated from the v2
spec, and ``tests/v2/cassettes/test_scenarios/*cost*``):

- every cost endpoint is "only accessible for parent-level organizations"; a child org's keys
  get ``400 {"errors": ["API called with non-parent org keys. Data is only available at the
  root level org"]}`` (recorded);
- estimated: "Either start_month or start_date should be specified, but not both" and neither
  "can go beyond two months in the past"; "only available for the current month and previous
  month"; ``cost_aggregation`` (cumulative|daily) applies to ``start_date``;
- historical: ``start_month`` required; "Cost data for a given month becomes available no
  later than the 16th of the following month";
- projected: "only available for the current month and becomes available around the 12th of
  the month"; rows carry ``region`` and charge types ``projected_committed``,
  ``projected_on_demand`` and ``total`` (recorded), ``date`` the month's last day;
- ``include_connected_accounts`` (default false): "include accounts connected to the current
  account as partner customers in the Datadog partner network program" — the partner admin
  org sees its connected customer orgs only with it (DataDog/documentation
  partners/multi_tenant_billing/cost-and-usage-visibility.md: "Requires
  include_connected_accounts=true");
- estimated/historical rows carry ``committed`` and ``on_demand`` charges (a recorded
  estimated answer has no ``total`` charge rows: ``total_cost`` is the row's total); answers
  are ``Content-Type: application/json`` (recorded) to the clients' ``Accept:
  application/json;datetime-format=rfc3339``.

Numbers: each org has a full-month amount per product and month; the month-to-date estimate
is that amount times the fraction of the month elapsed on the simulator clock, the projection
is the full amount, and historical cost is the full amount.
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from ddmsp.simulator.http import Route, caller_org, query_bool, state_of
from ddmsp.simulator.store import Org, SimError
from ddmsp.simulator.usage import (
    add_months,
    month_start,
    months_between,
    parse_month,
    require_root,
    sim_now,
    unit,
    visible_orgs,
)

PRODUCTS = ("infra_host", "apm_host", "logs_indexed_15day", "synthetics_api_tests")
HISTORICAL_FROM_DAY = 16  # "no later than the 16th of the following month"
PROJECTED_FROM_DAY = 12  # "becomes available around the 12th of the month"


def month_amounts(org: Org, month: str) -> dict[str, tuple[float, float]]:
    """Full-month (committed, on_demand) cost per product of one org."""
    return {
        p: (round(50 + 450 * unit(org.public_id, month, p + "c"), 2),
            round(80 * unit(org.public_id, month, p + "o"), 2))
        for p in PRODUCTS
    }


def month_fraction(month: str, now: datetime) -> float:
    """How much of ``month`` has elapsed at ``now`` (1.0 for past months)."""
    start = datetime.fromisoformat(f"{month}-01T00:00:00+00:00")
    days = calendar.monthrange(start.year, start.month)[1]
    elapsed = (now - start).total_seconds() / (days * 86400)
    return max(0.0, min(1.0, elapsed))


def charges_for(org: Org, month: str, fraction: float = 1.0,
                projected: bool = False) -> list[dict[str, Any]]:
    """One org's charges in one month, scaled to ``fraction`` of the month."""
    out: list[dict[str, Any]] = []
    for product, (committed, on_demand) in month_amounts(org, month).items():
        c, o = round(committed * fraction, 2), round(on_demand * fraction, 2)
        if projected:
            out += [{"product_name": product, "charge_type": "projected_committed", "cost": c},
                    {"product_name": product, "charge_type": "projected_on_demand", "cost": o},
                    {"product_name": product, "charge_type": "total", "cost": round(c + o, 2)}]
        else:
            out += [{"charge_type": "committed", "cost": c, "product_name": product},
                    {"charge_type": "on_demand", "cost": o, "product_name": product}]
    return out


def total_of(charges: list[dict[str, Any]]) -> float:
    """A row's total: its ``total`` charges, else the sum of its charges."""
    totals = [c["cost"] for c in charges if c["charge_type"] == "total"]
    return round(float(sum(totals if totals else (c["cost"] for c in charges))), 2)


def _merge(charges_list: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    acc: dict[tuple[str, str], float] = {}
    for charges in charges_list:
        for c in charges:
            key = (c["product_name"], c["charge_type"])
            acc[key] = acc.get(key, 0.0) + c["cost"]
    return [
        {"charge_type": ct, "cost": round(v, 2), "product_name": p} for (p, ct), v in acc.items()
    ]


def _row(kind: str, view: str, org: Org, account: Org | None, key: str, date: str,
         charges: list[dict[str, Any]]) -> dict[str, Any]:
    """One row. ``region`` as recorded on projected rows; account fields (spec'd, not in the
    2022 recordings) only on a partner's connected-accounts view, where they tell contracts
    apart."""
    projected = kind == "projected_cost"
    rid = hashlib.sha256(f"{kind}:{view}:{org.public_id}:{key}".encode()).hexdigest()
    attributes: dict[str, Any] = {"org_name": org.name, "public_id": org.public_id}
    if account is not None:
        attributes.update(account_name=account.name, account_public_id=account.public_id)
    if projected:
        attributes["region"] = "us"
    attributes[("projected_total_cost" if projected else "total_cost")] = total_of(charges)
    attributes.update(charges=charges, date=date)
    return {"type": "projected_cost" if projected else "cost_by_org", "id": rid,
            "attributes": attributes}


def cost_rows(orgs: list[tuple[Org, Org]], caller: Org, view: str, kind: str,
              periods: list[tuple[str, str, float]], accounts: bool) -> list[dict[str, Any]]:
    """Rows per period (key, date, fraction of the month) per org, or summed (summary)."""
    projected = kind == "projected_cost"
    data: list[dict[str, Any]] = []
    for key, date, fraction in periods:
        month = key[:7]
        per_org = [(o, a, charges_for(o, month, fraction, projected)) for o, a in orgs]
        if view == "summary":
            data.append(_row(kind, view, caller, caller if accounts else None, key, date,
                             _merge([c for _, _, c in per_org])))
        else:
            data.extend(_row(kind, view, o, a if accounts else None, key, date, c)
                        for o, a, c in per_org)
    return data


def _view(request: web.Request) -> str:
    view = request.query.get("view", "summary")
    if view not in ("summary", "sub-org"):
        raise SimError(400, "Invalid view: must be 'summary' or 'sub-org'")
    return view


@dataclass
class Scope:
    """Who asks (a root org), what it sees, how, and when (the simulator clock)."""

    caller: Org
    orgs: list[tuple[Org, Org]]
    view: str
    now: datetime
    connected: bool

    def rows(self, kind: str, periods: list[tuple[str, str, float]]) -> web.Response:
        data = cost_rows(self.orgs, self.caller, self.view, kind, periods, self.connected)
        return web.json_response({"data": data})


def _scope(request: web.Request) -> Scope:
    caller = caller_org(request)
    require_root(caller)
    state = state_of(request)
    connected = query_bool(request, "include_connected_accounts")
    view = _view(request)
    return Scope(caller, visible_orgs(state, caller, connected), view, sim_now(state), connected)


def _month_date(month: str) -> str:
    return f"{month}-01T00:00:00+00:00"


async def estimated_cost(request: web.Request) -> web.Response:
    """GET /api/v2/usage/estimated_cost (and the older estimated_cost_by_org path)."""
    scope = _scope(request)
    now = scope.now
    q = request.query
    s_month, s_date = q.get("start_month"), q.get("start_date")
    if s_month and s_date:
        raise SimError(400, "Either start_month or start_date should be specified, but not both")
    agg = q.get("cost_aggregation")
    if agg is not None and agg not in ("cumulative", "daily"):
        raise SimError(400, "Invalid cost_aggregation: must be 'cumulative' or 'daily'")
    oldest = add_months(month_start(now), -2)
    this_month = month_start(now)
    if s_date:
        first = parse_month(s_date, "start_date")
        last = parse_month(q.get("end_date"), "end_date") or now
        assert first is not None
        if first < oldest:
            raise SimError(400, "start_date cannot go beyond two months in the past")
        if last < first:
            raise SimError(400, "end_date must not be before start_date")
        return scope.rows("estimated_cost", _days(first, min(last, now), agg or "daily", now))
    start = parse_month(s_month, "start_month") or this_month
    end = parse_month(q.get("end_month"), "end_month")
    if month_start(start) < oldest:
        raise SimError(400, "start_month cannot go beyond two months in the past")
    previous = add_months(this_month, -1)
    months = [m for m in months_between(start, end)
              if previous.strftime("%Y-%m") <= m <= this_month.strftime("%Y-%m")]
    return scope.rows("estimated_cost", [(m, _month_date(m), month_fraction(m, now))
                                         for m in months])


def _days(start: datetime, end: datetime, agg: str, now: datetime) -> list[tuple[str, str, float]]:
    """Daily periods: each day's share of its month (daily) or the month to that day
    (cumulative)."""
    out: list[tuple[str, str, float]] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end and len(out) < 93:
        month = day.strftime("%Y-%m")
        upto = min(day + timedelta(days=1), now)
        if agg == "cumulative":
            fraction = month_fraction(month, upto)
        else:
            fraction = month_fraction(month, upto) - month_fraction(month, day)
        out.append((day.strftime("%Y-%m-%d"), day.isoformat(), max(0.0, fraction)))
        day += timedelta(days=1)
    return out


async def historical_cost(request: web.Request) -> web.Response:
    """GET /api/v2/usage/historical_cost: months published by the 16th of the next month."""
    scope = _scope(request)
    start = parse_month(request.query.get("start_month"), "start_month", required=True)
    assert start is not None
    end = parse_month(request.query.get("end_month"), "end_month")
    months = [m for m in months_between(start, end) if _published(m, scope.now)]
    return scope.rows("historical_cost", [(m, _month_date(m), 1.0) for m in months])


def _published(month: str, now: datetime) -> bool:
    start = datetime.fromisoformat(_month_date(month))
    return now >= add_months(start, 1).replace(day=HISTORICAL_FROM_DAY)


async def projected_cost(request: web.Request) -> web.Response:
    """GET /api/v2/usage/projected_cost: this month, from around the 12th."""
    scope = _scope(request)
    now = scope.now
    if now.day < PROJECTED_FROM_DAY:
        return web.json_response({"data": []})
    month = now.strftime("%Y-%m")
    last = calendar.monthrange(now.year, now.month)[1]
    return scope.rows("projected_cost", [(month, f"{month}-{last:02d}T00:00:00Z", 1.0)])


ROUTES: list[Route] = [
    ("GET", "/api/v2/usage/estimated_cost", estimated_cost, "both", "usage"),
    ("GET", "/api/v2/usage/estimated_cost_by_org", estimated_cost, "both", "usage"),
    ("GET", "/api/v2/usage/historical_cost", historical_cost, "both", "usage"),
    ("GET", "/api/v2/usage/projected_cost", projected_cost, "both", "usage"),
]
