"""The engine's deletion pass (reconcile/engine.py, reconcile/deletion.py) with a fake
object store: it acts on the object as read under its lock, waits on transient errors,
and releases its finalizer only as a compare-and-swap."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from ddmsp.reconcile.deletion import FINALIZER
from ddmsp.reconcile.engine import Reconciler
from ddmsp.reconcile.external import Observation
from ddmsp.reconcile.kube import ObjectChanged
from ddmsp.reconcile.outcomes import Waiting
from ddmsp.resources import ROLE


class Kube:
    """One DatadogRole in a fake API server with resourceVersions."""

    def __init__(self, status: dict[str, Any] | None = None, deleting: bool = True) -> None:
        meta: dict[str, Any] = {"name": "ops", "namespace": "ns", "uid": "u", "generation": 1,
                                "resourceVersion": "5", "finalizers": [FINALIZER, "other/x"]}
        if deleting:
            meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        self.body: dict[str, Any] = {
            "apiVersion": "ddmsp.io/v1alpha1", "kind": "DatadogRole", "metadata": meta,
            "spec": {"orgRef": {"name": "acme"}, "permissions": []},
            "status": status or {}}
        self.finalizer_writes: list[tuple[list[str], str]] = []
        self.conflict_once = False

    def _bump(self) -> None:
        meta = self.body["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)

    async def get(self, info: Any, ns: str, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.body)

    async def patch_status(self, info: Any, ns: str, name: str, patch: dict[str, Any],
                           resource_version: str | None = None) -> dict[str, Any]:
        self.body["status"] = {**self.body.get("status", {}),
                               **{k: v for k, v in patch.items() if v is not None}}
        self._bump()
        return copy.deepcopy(self.body)

    async def patch_finalizers(self, info: Any, ns: str, name: str, finalizers: list[str],
                               resource_version: str) -> dict[str, Any]:
        if self.conflict_once or resource_version != self.body["metadata"]["resourceVersion"]:
            self.conflict_once = False
            raise ObjectChanged("changed")
        self.finalizer_writes.append((finalizers, resource_version))
        self.body["metadata"]["finalizers"] = finalizers
        self._bump()
        return copy.deepcopy(self.body)

    async def post_event(self, *args: Any) -> None:
        return None


class Role:
    """A role in 'Datadog', deleted by the ID status records."""
    applied_keys: tuple[str, ...] = ()
    identity_keys: tuple[str, ...] = ()

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.exists = True
        self.deleted: list[str] = []
        self.fail: Exception | None = None

    async def connect(self, ctx: Any) -> Role.External:
        if self.fail is not None:
            raise self.fail
        return Role.External(self, ctx)

    def translate_error(self, exc: BaseException) -> None:
        return None

    class External:
        def __init__(self, role: Role, ctx: Any) -> None:
            self.role, self.ctx = role, ctx

        async def observe(self) -> Observation:
            owned = bool(self.ctx.obj.status.get("roleId"))
            return Observation(exists=owned and self.role.exists)

        async def delete(self) -> None:
            self.role.deleted.append(str(self.ctx.obj.status["roleId"]))
            self.role.exists = False


def reconciler(kube: Kube, role: Role) -> Reconciler:
    rec = Reconciler(ROLE, role, kube)  # type: ignore[arg-type]
    rec.finalizer = True
    return rec


def test_deletion_uses_what_a_pass_in_flight_recorded_then_releases_with_a_precondition(
        ) -> None:
    """The bug: kopf's deletion handler got the body from before the create's pass wrote
    roleId, deleted nothing and let go. Here a pass in flight (holding the lock) records
    the role ID after deletion was requested; the deletion pass waits for the lock, reads
    the object then, deletes that role, and drops only its own finalizer."""
    kube = Kube()
    role = Role(kube)
    rec = reconciler(kube, role)

    async def scenario() -> None:
        lock = rec._lock("ns", "ops")
        await lock.acquire()  # a pass in flight
        deletion = asyncio.create_task(rec.reconcile("ns", "ops"))
        await asyncio.sleep(0.01)
        kube.body["status"]["roleId"] = "r-123"  # ... records what it created
        kube._bump()
        lock.release()
        result = await deletion
        assert result.gone

    asyncio.run(scenario())
    assert role.deleted == ["r-123"]
    assert kube.finalizer_writes == [(["other/x"], "6")]  # the version it read, only ours


def test_a_transient_error_keeps_the_finalizer_and_retries() -> None:
    kube = Kube({"roleId": "r-1"})
    role = Role(kube)
    role.fail = Waiting("DatadogUnavailable", "503 from Datadog", delay=5)
    rec = reconciler(kube, role)
    result = asyncio.run(rec.reconcile("ns", "ops"))
    assert not result.gone and result.requeue_after == 5
    assert kube.body["metadata"]["finalizers"] == [FINALIZER, "other/x"]
    ready = next(c for c in kube.body["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "DatadogUnavailable" and "deletionPolicy: Orphan" in \
        ready["message"]
    role.fail = None  # Datadog is back
    assert asyncio.run(rec.reconcile("ns", "ops")).gone
    assert role.deleted == ["r-1"] and FINALIZER not in kube.body["metadata"]["finalizers"]


def test_a_changed_object_is_read_again_before_the_finalizer_goes() -> None:
    kube = Kube({"roleId": "r-1"})
    role = Role(kube)
    kube.conflict_once = True
    rec = reconciler(kube, role)
    first = asyncio.run(rec.reconcile("ns", "ops"))
    assert not first.gone and first.reason == "ObjectChanged"
    assert FINALIZER in kube.body["metadata"]["finalizers"]
    assert asyncio.run(rec.reconcile("ns", "ops")).gone
    assert role.deleted == ["r-1"]  # deleted once; the second pass observed it gone


def test_orphan_and_paused() -> None:
    kube = Kube({"roleId": "r-1"})
    kube.body["spec"]["deletionPolicy"] = "Orphan"
    role = Role(kube)
    assert asyncio.run(reconciler(kube, role).reconcile("ns", "ops")).gone
    assert role.deleted == []
    kube = Kube({"roleId": "r-1"})
    kube.body["metadata"]["annotations"] = {"ddmsp.io/paused": "true"}
    role = Role(kube)
    result = asyncio.run(reconciler(kube, role).reconcile("ns", "ops"))
    assert not result.gone and result.reason == "DeletionPaused" and role.deleted == []


def test_the_finalizer_is_added_before_anything_is_created() -> None:
    kube = Kube(deleting=False)
    kube.body["metadata"]["finalizers"] = []
    seen: list[list[str]] = []

    class Connector:
        applied_keys: tuple[str, ...] = ()
        identity_keys: tuple[str, ...] = ()
        async def connect(self, ctx: Any) -> Any:
            seen.append(list(ctx.obj.metadata.get("finalizers") or []))
            raise Waiting("OrgNotReady", "later")

        def translate_error(self, exc: BaseException) -> None:
            return None

    rec = Reconciler(ROLE, Connector(), kube)  # type: ignore[arg-type]
    rec.finalizer = True
    asyncio.run(rec.reconcile("ns", "ops"))
    assert seen == [[FINALIZER]]
