"""Comparing JSON bodies by shape: same keys, same JSON value types, values aside."""

from __future__ import annotations

from typing import Any

# Fields present in some recordings of an endpoint and not in older ones of the same endpoint
# (user_count: in role create answers recorded in 2024, not in the 2022 one).
NEWER_FIELDS = frozenset({"name_aliases", "user_count"})
# Fields the real API returns as null or as a value depending on the object's history.
NULLABLE_FIELDS = frozenset({"modified_at", "sso_url", "expires_at"})


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_diff(recorded: Any, ours: Any, path: str = "$") -> list[str]:
    """Differences in shape between a recorded body and the simulator's, as readable lines."""
    key = path.rsplit(".", 1)[-1]
    rk, ok = _kind(recorded), _kind(ours)
    if rk != ok:
        if key in NULLABLE_FIELDS and "null" in (rk, ok):
            return []
        return [f"{path}: recorded {rk}, simulator {ok}"]
    out: list[str] = []
    if rk == "object":
        for k in recorded:
            if k not in ours:
                out.append(f"{path}.{k}: missing in simulator answer")
            else:
                out.extend(shape_diff(recorded[k], ours[k], f"{path}.{k}"))
        for k in ours:
            if k not in recorded and k not in NEWER_FIELDS:
                out.append(f"{path}.{k}: not in the recorded answer")
    elif rk == "array":
        if recorded and not ours:
            out.append(f"{path}: recorded a non-empty array, simulator an empty one")
        for i in range(min(len(recorded), len(ours))):
            out.extend(shape_diff(recorded[i], ours[i], f"{path}[{i}]"))
    return out
