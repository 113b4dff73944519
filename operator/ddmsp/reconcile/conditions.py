"""Kubernetes-style conditions: set one, keep lastTransitionTime stable when unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

READY = "Ready"
SYNCED = "Synced"
RECONCILING = "Reconciling"
STALLED = "Stalled"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: bool | str,
    reason: str,
    message: str = "",
    generation: int | None = None,
) -> None:
    """Upsert a condition in place; ``lastTransitionTime`` changes only when status does."""
    value = status if isinstance(status, str) else ("True" if status else "False")
    for cond in conditions:
        if cond.get("type") == type_:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = now_rfc3339()
            cond.update(status=value, reason=reason, message=message)
            if generation is not None:
                cond["observedGeneration"] = generation
            return
    new: dict[str, Any] = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now_rfc3339(),
    }
    if generation is not None:
        new["observedGeneration"] = generation
    conditions.append(new)


def get_condition(conditions: list[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def is_true(conditions: list[dict[str, Any]], type_: str) -> bool:
    cond = get_condition(conditions, type_)
    return cond is not None and cond.get("status") == "True"
