"""The engine's finalizer and what a deletion may wait for.

Every object of an engine kind carries ``ddmsp.io/finalizer`` from its first pass, before
anything is created in Datadog, and the engine removes it only at the end of its own
deletion pass (crossplane-runtime's managed reconciler does the same): on the object read
afresh under its lock, after the deletion policy ran, as a compare-and-swap on the
resourceVersion it read. kopf's deletion handler used to decide from kopf's copy of the
object, taken before a pass in flight had recorded what it created (a role's ID), so it
deleted nothing and let the object go.

An object that others act through (a DatadogClientOrg, whose keys its roles, users, SAML
configs, API keys and org connections use) waits until no object references it any more:
each of them finishes its own deletion policy first, whatever order ``kubectl delete -f``,
a namespace deletion or an Argo CD prune deletes them in. Which spec fields reference an
org is declared per kind (``KindInfo.org_refs``). One the org owns (an ownerReference: a
client's ``spec.opsOrgConnection``) is deleted by the org's deletion pass, as a foreground
deletion would: the garbage collector would wait for the org to be gone first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ddmsp import API_GROUP
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.outcomes import ReconcileOutcome
from ddmsp.resources.kinds import KindInfo

FINALIZER = f"{API_GROUP}/finalizer"


class OrgGone(ReconcileOutcome):
    """Proof that the org an object acted in can no longer be reached: its object and its
    keys are gone (no Secret, no escrow copy). The one reason besides ``Orphan`` that lets
    a deletion leave something in Datadog; a transient error is never one."""

    def __init__(self, message: str) -> None:
        super().__init__("OrgGone", message)


def finalizers(body: dict[str, Any]) -> list[str]:
    return [str(f) for f in (body.get("metadata") or {}).get("finalizers") or []]


def has_finalizer(body: dict[str, Any]) -> bool:
    return FINALIZER in finalizers(body)


def org_refs(info: KindInfo, body: dict[str, Any]) -> list[str]:
    """The DatadogClientOrgs (same namespace) an object names, in the spec fields its kind
    declares (``KindInfo.org_refs``: ``orgRef``; a connection's source and sink). The
    handlers' index reads the same fields."""
    spec = body.get("spec") or {}
    found: list[str] = []
    for field in info.org_refs:
        ref = spec.get(field)
        name = str(ref.get("name") or "") if isinstance(ref, dict) else ""
        if name and name not in found:
            found.append(name)
    return found


@dataclass(frozen=True)
class Referrer:
    """An object that names an org being deleted."""

    info: KindInfo
    body: dict[str, Any]

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.body.get("metadata") or {})

    @property
    def deleting(self) -> bool:
        return bool(self.meta.get("deletionTimestamp"))

    def owned_by(self, uid: str) -> bool:
        """Whether the org owns it (an ownerReference): the garbage collector would delete it
        only after the org is gone, so the org deletes it itself instead of waiting."""
        return any(r.get("uid") == uid for r in self.meta.get("ownerReferences") or [])

    def words(self, deleting: bool | None = None) -> str:
        """``Kind name (being deleted)``; ``deleting`` overrides what the body read says."""
        state = "being deleted" if deleting or self.deleting else "not being deleted"
        return f"{self.info.kind} {self.meta.get('name')} ({state})"


async def referencing(kube: KubeAPI, kinds: list[KindInfo], namespace: str, name: str
                      ) -> list[Referrer]:
    """The objects of ``kinds`` in ``namespace`` that name ``name`` in one of their kind's
    org reference fields, read afresh (a LIST per kind: deletions are rare, and an object
    the watch has not shown yet must count too), sorted for a condition message."""
    found: list[Referrer] = []
    for info in kinds:
        for body in await kube.list_objects(info, [namespace]):
            if name in org_refs(info, body):
                found.append(Referrer(info, body))
    return sorted(found, key=lambda r: r.words())
