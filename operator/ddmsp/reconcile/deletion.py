"""The engine's finalizer and what a deletion may wait for.

Every object of an engine kind carries ``ddmsp.io/finalizer`` from its first pass, before
anything is created in Datadog, and the engine removes it only at the end of its own
deletion pass (crossplane-runtime's managed reconciler does the same): on the object read
afresh under its lock, after the deletion policy ran, as a compare-and-swap on the
resourceVersion it read. kopf's deletion handler used to decide from kopf's copy of the
object, taken before a pass in flight had recorded what it created (a role's ID), so it
deleted nothing and let the object go.

An object that others act through (a DatadogClientOrg, whose keys its roles, users and SAML
configs use) waits until no object references it any more: each of them finishes its own
deletion policy first, whatever order ``kubectl delete -f``, a namespace deletion or an
Argo CD prune deletes them in.
"""

from __future__ import annotations

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


def org_ref_name(body: dict[str, Any]) -> str | None:
    """The DatadogClientOrg an object names in ``spec.orgRef`` (the handlers' index reads
    the same field)."""
    ref = ((body.get("spec") or {}).get("orgRef") or {}).get("name")
    return str(ref) if ref else None


async def referencing(kube: KubeAPI, kinds: list[KindInfo], namespace: str, name: str
                      ) -> list[str]:
    """The objects of ``kinds`` in ``namespace`` whose ``spec.orgRef`` names ``name``, read
    afresh (a LIST per kind: deletions are rare, and an object the watch has not shown yet
    must count too), as "Kind name (being deleted)" for a condition message."""
    found: list[str] = []
    for info in kinds:
        for body in await kube.list_objects(info, [namespace]):
            if org_ref_name(body) != name:
                continue
            meta = body.get("metadata") or {}
            state = "being deleted" if meta.get("deletionTimestamp") else "not being deleted"
            found.append(f"{info.kind} {meta.get('name')} ({state})")
    return sorted(found)
