"""Budgets the partner org cannot set in Datadog: judge one client's cost against its budget.

Pure: given the spec's budget, this month's cost and the previous ``status.budget``, say
where the client stands, which conditions hold, and which thresholds to announce. A
threshold is announced once per month: the announced ones are kept in ``status.budget``
(so a restart does not repeat them) and the list starts empty when the month changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BUDGET_WARNING = "BudgetWarning"
BUDGET_EXCEEDED = "BudgetExceeded"
BASES = ("estimated", "projected")


@dataclass
class Judgement:
    status: dict[str, Any]
    conditions: dict[str, tuple[bool, str, str]]
    announce: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)
    ratios: dict[str, float] = field(default_factory=dict)


def _pct(value: float) -> str:
    return f"{value:.1f}"


def judge(budget: dict[str, Any], cost: dict[str, Any],
          previous: dict[str, Any] | None) -> Judgement:
    """Where ``cost`` (a ``status.cost``) stands against ``budget`` (``spec.budget``)."""
    limit = float(budget["monthlyLimit"])
    thresholds = sorted({int(t) for t in budget.get("warnAtPercent") or [80, 100]})
    month = str(cost["month"])
    notified = list((previous or {}).get("notified") or []) \
        if (previous or {}).get("month") == month else []
    values = {"estimated": float(cost["estimatedTotal"])}
    if cost.get("projectedTotal") is not None:
        values["projected"] = float(cost["projectedTotal"])
    ratios = {basis: value / limit for basis, value in values.items()}
    status: dict[str, Any] = {"month": month,
                              "estimatedPercent": _pct(ratios["estimated"] * 100)}
    if "projected" in ratios:
        status["projectedPercent"] = _pct(ratios["projected"] * 100)
    status["basis"] = "projected" if "projected" in ratios else "estimated"
    status["percent"] = status[f"{status['basis']}Percent"]
    announce: list[tuple[str, str]] = []
    for basis in BASES:
        if basis not in ratios:
            continue
        pct = ratios[basis] * 100
        for threshold in thresholds:
            mark = f"{basis}:{threshold}"
            if pct >= threshold and mark not in notified:
                notified.append(mark)
                reason = BUDGET_EXCEEDED if threshold >= 100 else BUDGET_WARNING
                what = "month-to-date estimate" if basis == "estimated" else "projected month end"
                announce.append((reason, f"{month}: the {what} ${values[basis]:.2f} is "
                                 f"{pct:.1f}% of the ${limit:.2f} budget (threshold "
                                 f"{threshold}%)"))
    status["notified"] = notified
    est, proj = ratios["estimated"] * 100, ratios.get("projected", 0.0) * 100
    projection = (f"projection {proj:.1f}%" if "projected" in ratios else
                  "no projection yet (Datadog projects a month from about its 12th)")
    lowest = thresholds[0]
    exceeded = est >= 100
    conditions = {
        BUDGET_EXCEEDED: (
            (True, "EstimateOverBudget",
             f"month-to-date estimate is {est:.1f}% of the ${limit:.2f} budget")
            if exceeded else
            (False, "WithinBudget", f"month-to-date estimate is {est:.1f}% of the budget")),
    }
    if exceeded:
        warning = (True, "EstimateOverBudget", "the budget is exceeded")
    elif proj >= 100:
        warning = (True, "ProjectedOverBudget",
                   f"the projected month end is {proj:.1f}% of the ${limit:.2f} budget")
    elif max(est, proj) >= lowest:
        warning = (True, "ThresholdReached",
                   f"estimate {est:.1f}%, {projection} of the ${limit:.2f} budget (warn at "
                   f"{lowest}%)")
    else:
        warning = (False, "WithinBudget",
                   f"estimate {est:.1f}%, {projection} of the ${limit:.2f} budget")
    conditions[BUDGET_WARNING] = warning
    return Judgement(status=status, conditions=conditions, announce=announce, ratios=ratios)
