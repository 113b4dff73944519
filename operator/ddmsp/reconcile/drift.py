"""Drift recording, the one place: ``status.drift`` from what an observation found.

A difference is drift only on a generation already applied (``observedGeneration`` at the
current generation and one of the kind's ``applied_keys`` set when the pass began): before
that, a difference is the spec not applied yet. ObserveOnly reports drift uncorrected.
"""

from __future__ import annotations

from collections.abc import Iterable

from ddmsp.reconcile.conditions import now_rfc3339
from ddmsp.reconcile.external import Observation
from ddmsp.reconcile.managed import ManagedObject


def applied_before(obj: ManagedObject, applied_keys: tuple[str, ...]) -> bool:
    """True when this generation was already reconciled: differences now are drift."""
    before = obj.original_status
    return any(before.get(key) for key in applied_keys) and \
        before.get("observedGeneration") == obj.generation


def record_drift(obj: ManagedObject, observation: Observation,
                 applied_keys: tuple[str, ...]) -> None:
    """Write ``status.drift`` for an observation's drift on an applied generation."""
    if observation.drift and applied_before(obj, applied_keys):
        obj.status["drift"] = {
            "detectedAt": now_rfc3339(),
            "differences": list(observation.drift),
            "corrected": obj.management_policy != "ObserveOnly",
        }


def named_set_diff(noun: str, desired: Iterable[str], actual: Iterable[str],
                   names: dict[str, str]) -> list[str]:
    """Human-readable differences between desired and actual ID sets, IDs shown by name
    (a role's permissions, a user's roles): ``<noun> missing: ...`` and ``<noun> not in
    the spec: ...``."""
    want, have = set(desired), set(actual)
    diff: list[str] = []
    missing = sorted(names.get(i, i) for i in want - have)
    extra = sorted(names.get(i, i) for i in have - want)
    if missing:
        diff.append(f"{noun} missing: {', '.join(missing)}")
    if extra:
        diff.append(f"{noun} not in the spec: {', '.join(extra)}")
    return diff
