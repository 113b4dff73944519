"""Cost (v2 ``/api/v2/usage/*_cost``) with deterministic numbers per org, in the real shapes.

Why: the operator reports each client's cost; tests need numbers that are stable for an org and
month (derived from a hash of its public_id), so a restart or a second run shows the same cost.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ddmsp.simulator.http import Route, caller_org, query_bool, state_of
from ddmsp.simulator.store import Org, SimError
from ddmsp.simulator.usage import months_between, parse_month, unit

PRODUCTS = ("infra_host", "apm_host", "logs_indexed_15day", "synthetics_api_tests")


def charges_for(org: Org, month: str) -> list[dict[str, Any]]:
    """Charges of one org in one month: committed, on_demand and total per product."""
    out: list[dict[str, Any]] = []
    for product in PRODUCTS:
        committed = round(50 + 450 * unit(org.public_id, month, product + "c"), 2)
        on_demand = round(80 * unit(org.public_id, month, product + "o"), 2)
        out.append({"charge_type": "committed", "cost": committed, "product_name": product})
        out.append({"charge_type": "on_demand", "cost": on_demand, "product_name": product})
        out.append(
            {
                "charge_type": "total",
                "cost": round(committed + on_demand, 2),
                "product_name": product,
            }
        )
    return out


def total_of(charges: list[dict[str, Any]]) -> float:
    """Sum of the ``total`` charges."""
    return round(float(sum(c["cost"] for c in charges if c["charge_type"] == "total")), 2)


def _merge(charges_list: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    acc: dict[tuple[str, str], float] = {}
    for charges in charges_list:
        for c in charges:
            key = (c["product_name"], c["charge_type"])
            acc[key] = acc.get(key, 0.0) + c["cost"]
    return [
        {"charge_type": ct, "cost": round(v, 2), "product_name": p} for (p, ct), v in acc.items()
    ]


def cost_entries(
    caller: Org, children: list[Org], months: list[str], view: str, kind: str
) -> list[dict[str, Any]]:
    """CostByOrg (or ProjectedCost) resources for a caller and its direct children."""
    total_key = "projected_total_cost" if kind == "projected_cost" else "total_cost"
    rtype = "projected_cost" if kind == "projected_cost" else "cost_by_org"
    data: list[dict[str, Any]] = []
    for month in months:
        date = f"{month}-01T00:00:00+00:00"
        if view == "summary":
            groups = [(caller, _merge([charges_for(o, month) for o in [caller, *children]]))]
        else:
            groups = [(o, charges_for(o, month)) for o in [caller, *children]]
        for org, charges in groups:
            rid = hashlib.sha256(f"{kind}:{view}:{org.public_id}:{month}".encode()).hexdigest()
            data.append(
                {
                    "type": rtype,
                    "id": rid,
                    "attributes": {
                        "org_name": org.name,
                        "public_id": org.public_id,
                        total_key: total_of(charges),
                        "charges": charges,
                        "date": date,
                    },
                }
            )
    return data


def _view(request: web.Request) -> str:
    view = request.query.get("view", "summary")
    if view not in ("summary", "sub-org"):
        raise SimError(400, "Invalid view: must be 'summary' or 'sub-org'")
    return view


def _cost(request: web.Request, months: list[str], kind: str) -> web.Response:
    state = state_of(request)
    org = caller_org(request)
    query_bool(request, "include_connected_accounts")
    data = cost_entries(org, state.children(org.public_id), months, _view(request), kind)
    return web.json_response({"data": data})


def _this_month() -> datetime:
    return datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def estimated_cost(request: web.Request) -> web.Response:
    """GET /api/v2/usage/estimated_cost (and the older estimated_cost_by_org path)."""
    q = request.query
    start = parse_month(q.get("start_month"), "start_month") or parse_month(
        q.get("start_date"), "start_date"
    )
    end = parse_month(q.get("end_month"), "end_month") or parse_month(q.get("end_date"), "end_date")
    agg = q.get("cost_aggregation")
    if agg is not None and agg not in ("cumulative", "daily"):
        raise SimError(400, "Invalid cost_aggregation")
    return _cost(request, months_between(start or _this_month(), end), "estimated_cost")


async def historical_cost(request: web.Request) -> web.Response:
    """GET /api/v2/usage/historical_cost."""
    start = parse_month(request.query.get("start_month"), "start_month", required=True)
    assert start is not None
    end = parse_month(request.query.get("end_month"), "end_month")
    return _cost(request, months_between(start, end), "historical_cost")


async def projected_cost(request: web.Request) -> web.Response:
    """GET /api/v2/usage/projected_cost (current month)."""
    return _cost(request, months_between(_this_month(), None), "projected_cost")


ROUTES: list[Route] = [
    ("GET", "/api/v2/usage/estimated_cost", estimated_cost, "both", "usage"),
    ("GET", "/api/v2/usage/estimated_cost_by_org", estimated_cost, "both", "usage"),
    ("GET", "/api/v2/usage/historical_cost", historical_cost, "both", "usage"),
    ("GET", "/api/v2/usage/projected_cost", projected_cost, "both", "usage"),
]
