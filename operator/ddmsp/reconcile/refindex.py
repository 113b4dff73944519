"""Which objects point at a target: each object names some targets (its orgs, its IdP
metadata source), and a change moves it. Kept by watch handlers (see handlers.py for why
these are not kopf indexes)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

Target = TypeVar("Target", bound=Hashable)


class RefIndex(Generic[Target]):
    """target -> names of the objects pointing at it, and each object's current targets."""

    def __init__(self) -> None:
        self._names: dict[Target, set[str]] = {}
        self._targets_of: dict[tuple[str, str], frozenset[Target]] = {}

    def point(self, namespace: str, name: str, target: Target | None) -> None:
        """Record (or, with None, forget) the one target the object points at."""
        self.point_all(namespace, name, () if target is None else (target,))

    def point_all(self, namespace: str, name: str, targets: Iterable[Target]) -> None:
        """Record every target the object points at now (none: forget it)."""
        key = (namespace, name)
        after = frozenset(targets)
        before = self._targets_of.get(key, frozenset())
        if before == after:
            return
        for target in before - after:
            names = self._names.get(target)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._names[target]
        for target in after - before:
            self._names.setdefault(target, set()).add(name)
        if after:
            self._targets_of[key] = after
        else:
            self._targets_of.pop(key, None)

    def targets_of(self, namespace: str, name: str) -> frozenset[Target]:
        """What the object points at now."""
        return self._targets_of.get((namespace, name), frozenset())

    def pointing_at(self, target: Target) -> set[str]:
        """A copy: callers may act (and the index change) while they iterate."""
        return set(self._names.get(target, ()))
