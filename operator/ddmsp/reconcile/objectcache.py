"""The newest known body of each object of the engine's kinds: kopf's watch plus our writes.

A pass used to start with a GET of its object (and of the org it depends on): at a
thousand clients those GETs were the single largest kube cost (bench/README.md). The watch
already delivers every change, and each of our own writes answers with the object as
written, so the engine reads from here and falls back to a GET only for objects it has not
seen yet. Two sources race (a watch event may arrive after our own newer write), so a body
replaces another only when its resourceVersion is newer: Kubernetes made resourceVersions
of one resource comparable integers in 1.35 (KEP-5504, ``CompareResourceVersion``). A
version that does not parse drops the entry, and the next read is a GET.

Staleness is what controller-runtime's informer cache has too, and it is safe here for the
same reason: every decision that must not be taken twice (a create) is a compare-and-swap
on the resourceVersion read, which a stale body fails (``ObjectChanged`` drops the entry).
Bodies are kept as compact JSON (a few KiB each; parsed dicts would be several times that).
"""

from __future__ import annotations

import json
from typing import Any

Key = tuple[str, str, str]  # plural, namespace ("" when cluster-scoped), name


def resource_version(body: dict[str, Any]) -> int | None:
    """The resourceVersion as an integer, or None when it is not one (KEP-5504's rule:
    a positive integer without leading zeros)."""
    value = str((body.get("metadata") or {}).get("resourceVersion") or "")
    if not value.isdigit() or value.startswith("0"):
        return None
    return int(value)


class ObjectCache:
    """Newest body per object, by resourceVersion; never older than our own last write."""

    def __init__(self) -> None:
        self._bodies: dict[Key, tuple[int, str]] = {}
        # Only kinds whose watch feeds the cache are read from it: any other kind's entry
        # would never be refreshed.
        self.watched: set[str] = set()

    def __len__(self) -> int:
        return len(self._bodies)

    @staticmethod
    def key(plural: str, body: dict[str, Any]) -> Key:
        meta = body.get("metadata") or {}
        return plural, str(meta.get("namespace") or ""), str(meta.get("name") or "")

    def offer(self, plural: str, body: dict[str, Any]) -> None:
        """Keep ``body`` if it is newer than what is held."""
        if plural not in self.watched:
            return
        key = self.key(plural, body)
        version = resource_version(body)
        if version is None:
            self._bodies.pop(key, None)
            return
        held = self._bodies.get(key)
        if held is not None and held[0] >= version:
            return
        meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
        slim = {**body, "metadata": meta}
        self._bodies[key] = (version, json.dumps(slim, separators=(",", ":"), default=str))

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A private copy of the newest body (callers may change it), or None."""
        if plural not in self.watched:
            return None
        held = self._bodies.get((plural, namespace or "", name))
        if held is None:
            return None
        body: dict[str, Any] = json.loads(held[1])
        return body

    def forget(self, plural: str, namespace: str, name: str) -> None:
        self._bodies.pop((plural, namespace or "", name), None)
