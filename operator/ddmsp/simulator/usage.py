"""Deterministic usage and cost per org, in the real response shapes.

Why: the operator reports each client's cost; tests need numbers that are stable for an org and
month (derived from a hash of its public_id), so a restart or a second run shows the same cost.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from ddmsp.simulator.state import Org, SimError

PRODUCTS = ("infra_host", "apm_host", "logs_indexed_15day", "synthetics_api_tests")


def _unit(public_id: str, month: str, salt: str) -> float:
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


def charges_for(org: Org, month: str) -> list[dict[str, Any]]:
    """Charges of one org in one month: committed, on_demand and total per product."""
    out: list[dict[str, Any]] = []
    for product in PRODUCTS:
        committed = round(50 + 450 * _unit(org.public_id, month, product + "c"), 2)
        on_demand = round(80 * _unit(org.public_id, month, product + "o"), 2)
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
        name: int(lo + (hi - lo) * _unit(org.public_id, month, name))
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
