"""Which objects point at a target: each object names at most one target (its org, its
IdP metadata source), and a change moves it. Kept by watch handlers (see handlers.py for
why these are not kopf indexes)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

Target = TypeVar("Target", bound=Hashable)


class RefIndex(Generic[Target]):
    """target -> names of the objects pointing at it, and each object's current target."""

    def __init__(self) -> None:
        self._names: dict[Target, set[str]] = {}
        self._target_of: dict[tuple[str, str], Target] = {}

    def point(self, namespace: str, name: str, target: Target | None) -> None:
        """Record (or, with None, forget) the target the object points at."""
        key = (namespace, name)
        before = self._target_of.get(key)
        if before == target:
            return
        if before is not None:
            names = self._names.get(before)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._names[before]
            del self._target_of[key]
        if target is not None:
            self._names.setdefault(target, set()).add(name)
            self._target_of[key] = target

    def pointing_at(self, target: Target) -> set[str]:
        """A copy: callers may act (and the index change) while they iterate."""
        return set(self._names.get(target, ()))
