"""One partner's Plan & Usage view, read in a handful of calls, and each client's share of it.

Datadog serves cost to parent-level orgs only, and a partner admin org sees its connected
customer orgs (spun-off DPN customers included) only with ``include_connected_accounts=true``
(DataDog/documentation partners/multi_tenant_billing/cost-and-usage-visibility.md). One view
per partner covers every client, so a refresh costs the same few calls for 10 clients or
1,000: estimated (sub-org), projected (sub-org), last month's historical (until published,
then cached), and this month's usage summary with per-org details.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ddmsp.datadog import DatadogClient, DatadogError, OrgCost
from ddmsp.datadog.errors import ForbiddenError, ValidationError
from ddmsp.datadog.models import UsageSummary
from ddmsp.reconcile.conditions import now_rfc3339

log = logging.getLogger(__name__)

COST_PERMISSIONS = ("usage_read", "billing_read")
USAGE_PERMISSION = "usage_read"
TOP_PRODUCTS = 5
# Usage figures kept per client (the API's own field names), when the API reports them.
USAGE_FIELDS = (
    "infra_host_top99p", "agent_host_top99p", "apm_host_top99p", "container_avg",
    "custom_ts_avg", "ingested_events_bytes_sum", "indexed_events_count_sum",
    "logs_indexed_logs_usage_sum", "synthetics_check_calls_count_sum",
)


def month_of(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m")


def previous_month(month: str) -> str:
    year, mon = (int(p) for p in month.split("-"))
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def money(value: float) -> str:
    return f"{value:.2f}"


@dataclass
class PartnerView:
    """What one refresh learned for one partner (absent parts were unavailable)."""

    month: str
    estimated: dict[str, OrgCost] | None = None
    projected: dict[str, OrgCost] | None = None
    last_month: dict[str, OrgCost] | None = None
    usage: dict[str, dict[str, float]] | None = None
    read_at: dict[str, str] = field(default_factory=dict)
    missing_permissions: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    calls: int = 0

    # -------------------------------------------------------------- partner-wide sums
    def totals(self) -> dict[str, Any]:
        """Partner-wide totals and sums per account (contract) for the partner's status."""
        out: dict[str, Any] = {"month": self.month}
        contracts: dict[str, dict[str, Any]] = {}
        for key, rows in (("estimatedTotal", self.estimated), ("projectedTotal", self.projected),
                          ("lastMonthTotal", self.last_month)):
            if rows is None:
                continue
            out[key] = money(sum(r.amount for r in rows.values()))
            if key == "lastMonthTotal":
                continue
            for row in rows.values():
                account = row.account_name or row.account_public_id or "(own account)"
                entry = contracts.setdefault(account, {"account": account, "orgs": set()})
                entry["orgs"].add(row.public_id)
                entry[key] = entry.get(key, 0.0) + row.amount
        if self.estimated is not None:
            out["orgs"] = len(self.estimated)
        out["contracts"] = [
            {"account": c["account"], "orgs": len(c["orgs"]),
             "estimatedTotal": money(c.get("estimatedTotal", 0.0)),
             **({"projectedTotal": money(c["projectedTotal"])} if "projectedTotal" in c else {})}
            for c in sorted(contracts.values(), key=lambda c: str(c["account"]))
        ]
        return out


def _by_org(rows: list[OrgCost], month: str | None) -> dict[str, OrgCost]:
    """One row per org (the given month's, when rows span months)."""
    out: dict[str, OrgCost] = {}
    for row in rows:
        if not row.public_id:
            continue
        if month and row.date is not None and month_of(row.date) != month:
            continue
        out[row.public_id] = row
    return out


class ViewReader:
    """Reads partner views; remembers published historical months (they never change)."""

    def __init__(self) -> None:
        self._historical: dict[tuple[str, str], dict[str, OrgCost]] = {}

    async def read(self, dd: DatadogClient, now: datetime) -> PartnerView:
        view = PartnerView(month=month_of(now))

        async def call(what: str, permissions: tuple[str, ...], fn: Any) -> Any:
            view.calls += 1
            try:
                result = await fn()
            except ForbiddenError:
                view.missing_permissions.update(permissions)
                view.problems.append(f"{what}: forbidden (needs {', '.join(permissions)})")
                return None
            except ValidationError as exc:
                view.problems.append(f"{what}: {'; '.join(exc.api_errors) or exc}")
                return None
            except DatadogError as exc:
                view.problems.append(f"{what}: {type(exc).__name__}")
                return None
            view.read_at[what] = now_rfc3339()
            return result

        estimated = await call("estimated", COST_PERMISSIONS, lambda: dd.estimated_cost(
            view="sub-org", include_connected_accounts=True))
        if estimated is not None:
            months = sorted({month_of(r.date) for r in estimated if r.date})
            if months:
                view.month = months[-1]  # the API's month, not our clock's
            view.estimated = _by_org(estimated, view.month)
        cost_forbidden = bool(view.missing_permissions)
        if not cost_forbidden:  # no point asking the other cost views with the same keys
            projected = await call("projected", COST_PERMISSIONS, lambda: dd.projected_cost(
                view="sub-org", include_connected_accounts=True))
            if projected is not None:
                view.projected = _by_org(projected, None)
            last = previous_month(view.month)
            key = (dd.fingerprint, last)
            if key in self._historical:
                view.last_month = self._historical[key]
                view.read_at["lastMonth"] = view.read_at.get("estimated", now_rfc3339())
            else:
                historical = await call("lastMonth", COST_PERMISSIONS, lambda: dd.historical_cost(
                    f"{last}-01T00:00:00Z", view="sub-org", include_connected_accounts=True))
                if historical:
                    view.last_month = self._historical[key] = _by_org(historical, last)
        summary = await call("usage", (USAGE_PERMISSION,), lambda: dd.usage_summary(
            f"{view.month}-01T00:00:00Z", include_org_details=True,
            include_connected_accounts=True))
        if summary is not None:
            view.usage = usage_by_org(summary)
            if cost_forbidden:  # usage_read works, so cost lacks billing_read
                view.missing_permissions.discard(USAGE_PERMISSION)
        return view


def usage_by_org(summary: UsageSummary) -> dict[str, dict[str, float]]:
    """This month's figures per org public ID (the last month entry of the summary)."""
    out: dict[str, dict[str, float]] = {}
    for month in summary.usage[-1:]:
        for org in month.orgs:
            if not org.public_id:
                continue
            extra = org.model_extra or {}
            out[org.public_id] = {k: float(extra[k]) for k in USAGE_FIELDS
                                  if isinstance(extra.get(k), (int, float))}
    return out


def client_cost(view: PartnerView, public_id: str) -> dict[str, Any] | None:
    """``status.cost`` of one client from the partner's view (None: not in the view)."""
    row = (view.estimated or {}).get(public_id)
    if row is None:
        return None
    cost: dict[str, Any] = {"month": view.month, "estimatedTotal": money(row.amount),
                            "estimatedAt": view.read_at.get("estimated")}
    projected = (view.projected or {}).get(public_id)
    if projected is not None:
        cost["projectedTotal"] = money(projected.amount)
        cost["projectedAt"] = view.read_at.get("projected")
    last = (view.last_month or {}).get(public_id)
    if last is not None:
        cost["lastMonth"] = previous_month(view.month)
        cost["lastMonthTotal"] = money(last.amount)
        cost["lastMonthAt"] = view.read_at.get("lastMonth")
    products = sorted(row.by_product().items(), key=lambda kv: (-kv[1], kv[0]))
    cost["topProducts"] = [{"product": p, "cost": money(c)} for p, c in products[:TOP_PRODUCTS]]
    return cost


def client_usage(view: PartnerView, public_id: str) -> dict[str, Any] | None:
    figures = (view.usage or {}).get(public_id)
    if figures is None:
        return None
    return {"month": view.month, "readAt": view.read_at.get("usage"), "values": figures}
