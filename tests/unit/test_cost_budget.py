"""Budgets: each threshold announced once per month, on the estimate and on the projection;
the memory lives in status (a restart keeps it) and resets when the month changes."""

from __future__ import annotations

from typing import Any

from ddmsp.controllers.budget import BUDGET_EXCEEDED, BUDGET_WARNING, judge

BUDGET = {"monthlyLimit": 1000, "warnAtPercent": [80, 100]}


def cost(month: str, estimated: float, projected: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"month": month, "estimatedTotal": f"{estimated:.2f}"}
    if projected is not None:
        out["projectedTotal"] = f"{projected:.2f}"
    return out


def test_thresholds_are_announced_once_each_across_refreshes_and_restarts() -> None:
    status: dict[str, Any] | None = None
    seen: list[str] = []
    # estimate grows through the month; projection says 120% from the start
    for estimated in (100, 500, 810, 820, 990, 1005, 1100):
        judged = judge(BUDGET, cost("2026-11", estimated, 1200), status)
        seen += [m for _, m in judged.announce]
        status = dict(judged.status)  # what the refresher writes to status.budget
    assert len(seen) == 4  # projected 80 and 100 at once; estimated 80, then 100
    assert status is not None
    assert status["notified"] == ["projected:80", "projected:100", "estimated:80",
                                  "estimated:100"]
    again = judge(BUDGET, cost("2026-11", 1200, 1300), status)  # a restart reads status back
    assert again.announce == []


def test_conditions_follow_estimate_and_projection() -> None:
    low = judge(BUDGET, cost("2026-11", 100, 300), None)
    assert low.conditions[BUDGET_WARNING][0] is False
    assert low.conditions[BUDGET_EXCEEDED][0] is False
    projected = judge(BUDGET, cost("2026-11", 300, 1100), None)
    assert projected.conditions[BUDGET_WARNING][:2] == (True, "ProjectedOverBudget")
    assert projected.conditions[BUDGET_EXCEEDED][0] is False
    assert [r for r, _ in projected.announce] == [BUDGET_WARNING, BUDGET_EXCEEDED]
    over = judge(BUDGET, cost("2026-11", 1001, 1100), None)
    assert over.conditions[BUDGET_EXCEEDED][:2] == (True, "EstimateOverBudget")
    assert over.ratios == {"estimated": 1.001, "projected": 1.1}


def test_a_new_month_starts_with_no_announcements() -> None:
    october = judge(BUDGET, cost("2026-10", 1200), None).status
    assert october["notified"] == ["estimated:80", "estimated:100"]
    november = judge(BUDGET, cost("2026-11", 850), october)
    assert [m.split(":")[0] for _, m in november.announce] == ["2026-11"]
    assert november.status["notified"] == ["estimated:80"]
    assert november.conditions[BUDGET_EXCEEDED][0] is False


def test_no_projection_yet_judges_the_estimate_only() -> None:
    judged = judge({"monthlyLimit": 50}, cost("2026-11", 45), None)  # default [80, 100]
    assert judged.status["estimatedPercent"] == "90.0"
    assert "projectedPercent" not in judged.status
    assert judged.status["notified"] == ["estimated:80"]
    # the one figure shown everywhere, and a message that does not pretend a projection
    assert judged.status["percent"] == "90.0" and judged.status["basis"] == "estimated"
    ok, reason, message = judged.conditions[BUDGET_WARNING]
    assert ok and reason == "ThresholdReached"
    assert "no projection yet" in message and "projection 0.0%" not in message


def test_the_shown_percent_is_the_projection_once_there_is_one() -> None:
    judged = judge({"monthlyLimit": 100}, cost("2026-11", 20, 60), None)
    assert judged.status["percent"] == "60.0" and judged.status["basis"] == "projected"
    assert "projection 60.0%" in judged.conditions[BUDGET_WARNING][2]
