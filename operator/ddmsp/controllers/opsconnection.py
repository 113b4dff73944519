"""spec.opsOrgConnection: the DatadogOrgConnection a DatadogClientOrg owns.

The client's controller only keeps a Kubernetes object in line with the field: a
DatadogOrgConnection ``<client>-ops-connection`` in the same namespace, with an
ownerReference to the client (the garbage collector deletes it with the client), source this
client, sink the partner's own org. That kind then does the Datadog work with its own
conditions, deletion policy and adoption (``spec.adopt`` on the owned object is never
touched here, so an existing connection can still be adopted explicitly). A pass that finds
the object as wanted writes nothing (it is read from the watch-fed cache).
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes.client import ApiException

from ddmsp import API_GROUP
from ddmsp.reconcile.external import ReconcileContext
from ddmsp.reconcile.kubeerrors import refusal
from ddmsp.resources import ORG_CONNECTION
from ddmsp.resources.clientorg import CLIENT_ORG, DatadogClientOrgSpec
from ddmsp.resources.opsconnection import ops_connection_name

log = logging.getLogger(__name__)

STATUS = "opsConnection"
# The sink fields the owned object must not carry besides sinkPartner (a merge patch nulls them).
OTHER_SINKS = ("sinkOrgRef", "sinkOrgUUID")


def wanted_spec(ctx: ReconcileContext) -> dict[str, Any] | None:
    """The owned object's spec fields this client decides; None: no object wanted."""
    spec: DatadogClientOrgSpec = ctx.obj.spec
    ops = spec.ops_org_connection
    if ops is None:
        return None
    return {
        "sourceOrgRef": {"name": ctx.obj.name},
        "sinkPartner": True,
        "connectionTypes": sorted(ops.connection_types),
        "deletionPolicy": ops.deletion_policy,
        "managementPolicy": ctx.obj.management_policy,
    }


def owned_by(body: dict[str, Any], uid: str) -> bool:
    refs = (body.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == uid for r in refs)


def differs(have: dict[str, Any], want: dict[str, Any]) -> bool:
    """Whether the object's spec departs from what this client decides (other fields, e.g.
    spec.adopt, are the connection's own business)."""
    same = all((sorted(have.get(k) or []) if k == "connectionTypes" else have.get(k)) == v
               for k, v in want.items())
    return not same or any(have.get(k) is not None for k in OTHER_SINKS)


def new_object(ctx: ReconcileContext, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    obj = ctx.obj
    return {
        "apiVersion": f"{ORG_CONNECTION.group}/{ORG_CONNECTION.version}",
        "kind": ORG_CONNECTION.kind,
        "metadata": {
            "name": name,
            "namespace": obj.namespace,
            "labels": {"app.kubernetes.io/managed-by": "ddmsp",
                       f"{API_GROUP}/owner-kind": CLIENT_ORG.kind,
                       f"{API_GROUP}/owner-name": obj.name[:63].rstrip("-_.")},
            # No blockOwnerDeletion: it would need rights on the client's finalizers, and the
            # connection's own finalizer already holds its deletion until Datadog is done.
            "ownerReferences": [{"apiVersion": f"{CLIENT_ORG.group}/{CLIENT_ORG.version}",
                                 "kind": CLIENT_ORG.kind, "name": obj.name, "uid": obj.uid,
                                 "controller": True}],
        },
        "spec": spec,
    }


async def sync_ops_connection(ctx: ReconcileContext) -> None:
    """Create, patch or delete the owned DatadogOrgConnection; status.opsConnection names it.

    A name taken by an object this client does not own is left alone and reported in
    status and an event (the client's own org work goes on). Kubernetes errors propagate:
    the pass is retried like any other."""
    obj, kube = ctx.obj, ctx.kube
    name = ops_connection_name(obj.name)
    want = wanted_spec(ctx)
    if want is None and STATUS not in obj.status and not ctx.drift_check:
        # None wanted and none recorded: nothing to read on a fleet's first passes. The
        # periodic drift pass still looks, for one made just before a crash lost its record.
        return
    have = await kube.get(ORG_CONNECTION, obj.namespace, name)
    mine = have is not None and owned_by(have, obj.uid)
    if want is None:
        if have is not None and mine and not have["metadata"].get("deletionTimestamp"):
            await kube.delete_object(ORG_CONNECTION, obj.namespace, name,
                                     have["metadata"]["uid"])
            await ctx.event("Normal", "OpsConnectionDeleted",
                            f"spec.opsOrgConnection was removed: DatadogOrgConnection {name} "
                            "deleted (its deletionPolicy decides what happens in Datadog)")
        obj.status.pop(STATUS, None)  # the status writer sends the removal
        return
    record: dict[str, Any] = {"name": name}
    try:
        if have is None:
            await kube.create_object(ORG_CONNECTION, obj.namespace,
                                     new_object(ctx, name, want))
            await ctx.event("Normal", "OpsConnectionCreated",
                            f"DatadogOrgConnection {name} created: this client org to the "
                            f"partner's org ({', '.join(want['connectionTypes'])})")
        elif not mine:
            record["problem"] = (
                f"DatadogOrgConnection {name} exists but is not owned by this "
                "DatadogClientOrg: it is left alone. Delete or rename it, or remove "
                "spec.opsOrgConnection")
        elif have["metadata"].get("deletionTimestamp"):
            record["problem"] = f"DatadogOrgConnection {name} is being deleted; made again " \
                "once it is gone"
        elif differs(have.get("spec") or {}, want):
            patch = {"spec": {**want, **dict.fromkeys(OTHER_SINKS)}}
            await kube.patch_object(ORG_CONNECTION, obj.namespace, name, patch)
    except ApiException as exc:
        if exc.status not in (403, 409, 422):
            raise
        record["problem"] = (f"DatadogOrgConnection {name} could not be written "
                             f"({refusal(exc)})")
    if record.get("problem") and (obj.status.get(STATUS) or {}).get("problem") != \
            record["problem"]:
        log.warning("%s: %s", obj.ref(), record["problem"])
        await ctx.event("Warning", "OpsConnectionProblem", record["problem"])
    if obj.status.get(STATUS) != record:
        obj.status[STATUS] = record
