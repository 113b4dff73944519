"""The engine on a cluster-scoped kind (DatadogPartner): no namespace anywhere, as a rule of
the engine rather than a partner special case. The object store, the connector and the
Kubernetes client's calls are faked; the engine, KubeAPI's routing and the status merge
are real."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from kubernetes import client

from ddmsp import metrics
from ddmsp.reconcile.conditions import get_condition
from ddmsp.reconcile.deletion import FINALIZER
from ddmsp.reconcile.engine import Reconciler
from ddmsp.reconcile.external import Observation
from ddmsp.reconcile.kube import CLUSTER_EVENTS_NAMESPACE, KubeAPI
from ddmsp.reconcile.managed import ManagedObject
from ddmsp.reconcile.statuswrite import rebase
from ddmsp.resources import PARTNER

SPEC = {"credentialsSecretRef": {"namespace": "ops", "name": "keys"}}


def partner_body(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "ddmsp.io/v1alpha1", "kind": "DatadogPartner",
            "metadata": {"name": "msp", "uid": "u1", "generation": 1, "resourceVersion": "5",
                         **meta},
            "spec": copy.deepcopy(SPEC)}


def test_a_cluster_scoped_object_has_no_namespace() -> None:
    obj = ManagedObject.from_body(PARTNER, partner_body())
    assert obj.namespace == ""
    assert obj.ref() == "DatadogPartner/msp"


class Store:
    """One cluster-scoped object; records the namespace every call was given."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.namespaces: list[str] = []
        self.finalizer_writes: list[list[str]] = []
        self.events: list[str] = []

    async def get(self, info: Any, ns: str, name: str) -> dict[str, Any]:
        self.namespaces.append(ns)
        return copy.deepcopy(self.body)

    async def patch_status(self, info: Any, ns: str, name: str, patch: dict[str, Any],
                           resource_version: str | None = None) -> dict[str, Any]:
        self.namespaces.append(ns)
        self.body["status"] = {**self.body.get("status", {}),
                               **{k: v for k, v in patch.items() if v is not None}}
        meta = self.body["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        return copy.deepcopy(self.body)

    async def patch_finalizers(self, info: Any, ns: str, name: str, finalizers: list[str],
                               resource_version: str) -> dict[str, Any]:
        self.finalizer_writes.append(finalizers)
        return copy.deepcopy(self.body)

    async def post_event(self, obj: dict[str, Any], type_: str, reason: str,
                         message: str) -> None:
        self.events.append(reason)


class ObserveOnly:
    """A kind that only looks: its observation names its Ready reason."""

    applied_keys: tuple[str, ...] = ()
    identity_keys: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def connect(self, ctx: Any) -> ObserveOnly:
        return self

    def translate_error(self, exc: BaseException) -> None:
        return None

    async def observe(self) -> Observation:
        self.calls.append("observe")
        return Observation(exists=True, reason="KeysValid", message="keys are valid")

    async def create(self) -> None:
        self.calls.append("create")

    async def update(self, observation: Observation) -> None:
        self.calls.append("update")

    async def delete(self) -> None:
        self.calls.append("delete")


def test_an_engine_pass_over_a_cluster_scoped_object() -> None:
    store, kind = Store(partner_body()), ObserveOnly()
    rec = Reconciler(PARTNER, kind, store)  # type: ignore[arg-type]
    result = asyncio.run(rec.reconcile("", "msp"))
    assert result.settled and set(store.namespaces) == {""}
    ready = get_condition(store.body["status"]["conditions"], "Ready") or {}
    assert (ready.get("status"), ready.get("reason")) == ("True", "KeysValid")
    assert store.body["status"]["phase"] == "Ready"
    assert metrics.READY.labels("DatadogPartner", "", "msp")._value.get() == 1
    assert store.finalizer_writes == [] and kind.calls == ["observe"]


def test_deleting_a_kind_without_the_engines_finalizer_never_runs_a_deletion() -> None:
    """A kind registered without the engine's finalizer owns nothing outside Kubernetes: a
    finalizer of that name on it (kopf's old one on DatadogPartners) is not the engine's,
    so the deletion pass neither deletes anything nor touches the finalizers."""
    body = partner_body(deletionTimestamp="2026-01-01T00:00:00Z", finalizers=[FINALIZER])
    store, kind = Store(body), ObserveOnly()
    rec = Reconciler(PARTNER, kind, store)  # type: ignore[arg-type]
    rec.finalizer = False
    result = asyncio.run(rec.reconcile("", "msp"))
    assert result.gone and kind.calls == [] and store.finalizer_writes == []


class Calls:
    """The kubernetes client's API objects: records which method each call used."""

    def __init__(self) -> None:
        self.made: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.made.append((name, args))
            if kwargs.get("_preload_content") is False:  # an answer left unparsed
                return Unparsed()
            return {"metadata": {"name": "msp", "resourceVersion": "7"}}
        return call


class Unparsed:
    """urllib3's response when the client is told not to parse it."""

    def drain_conn(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


def test_kube_routes_cluster_scoped_writes_and_events() -> None:
    """Events of a cluster-scoped object go to the operator's namespace, where the chart
    lets it write events in every install mode."""
    kube = KubeAPI(client.ApiClient(), max_threads=1, cluster_events_namespace="ddmsp-system")
    kube.custom = kube.core = Calls()  # type: ignore[assignment]

    async def writes() -> None:
        await kube.patch_finalizers(PARTNER, "", "msp", [], "5")
        await kube.patch_annotations(PARTNER, "", "msp", {"a": "b"})
        await kube.patch_status(PARTNER, "", "msp", {"phase": "Ready"}, resource_version="5")
        await kube.post_event(partner_body(), "Normal", "KeysValid", "ok")

    asyncio.run(writes())
    made: list[tuple[str, tuple[Any, ...]]] = kube.custom.made  # type: ignore[attr-defined]
    names = [name for name, _ in made]
    assert names == ["patch_cluster_custom_object", "patch_cluster_custom_object",
                     "patch_cluster_custom_object_status", "create_namespaced_event"]
    event = made[-1][1]
    assert event[0] == "ddmsp-system" != CLUSTER_EVENTS_NAMESPACE
    assert "namespace" not in event[1]["involvedObject"]
    assert event[1]["metadata"]["namespace"] == "ddmsp-system"


def test_a_shared_list_is_merged_as_a_set() -> None:
    """A DatadogPartner's missingPermissions has two writers: the check (org_management)
    and the cost merge (usage_read, billing_read). Each one's additions and removals go
    onto the list as the server holds it, never a whole list from an older read."""
    server = {"missingPermissions": ["billing_read", "usage_read"]}  # the cost merge wrote
    base: dict[str, Any] = {"missingPermissions": []}
    mine = {"missingPermissions": ["org_management"]}
    assert rebase(server, base, mine, ("missingPermissions",))["missingPermissions"] == [
        "billing_read", "org_management", "usage_read"]
    assert rebase(server, base, mine)["missingPermissions"] == ["org_management"]  # no set
    gone = rebase({"missingPermissions": ["org_management", "usage_read"]},
                  {"missingPermissions": ["org_management"]}, {"missingPermissions": []},
                  ("missingPermissions",))
    assert gone["missingPermissions"] == ["usage_read"]
