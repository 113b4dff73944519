"""Writers of one status never erase each other, on the real kube-apiserver (issue 18).

The API server applies a JSON merge patch to a custom resource's status: a list such as
``conditions`` is replaced whole. An engine pass read the object, the cost refresher then
wrote ``BudgetWarning``, and the pass's patch (computed from its read, no precondition)
replaced the list without it. The engine here is the real one with the real KubeAPI; its
Datadog side is faked (a connector whose observe waits for the test), and the refresher's
write is sent as the refresher sends it (its conditions list, the object's
resourceVersion), so the race is hit every time instead of by chance.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from kubernetes import client

from ddmsp.reconcile.conditions import get_condition, set_condition
from ddmsp.reconcile.engine import Reconciler
from ddmsp.reconcile.external import Observation
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.resources import CLIENT_ORG
from tests.integration.conftest import GROUP, VERSION
from tests.support.kube import Cluster

pytestmark = pytest.mark.kube
ORGS = "datadogclientorgs"


class HeldObserve:
    """A faked Datadog side: observe waits until the test lets it go."""
    applied_keys: tuple[str, ...] = ()
    identity_keys: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def connect(self, ctx: Any) -> HeldObserve:
        return self

    async def observe(self) -> Observation:
        self.entered.set()
        await self.go.wait()
        return Observation(exists=True, message="org acme (faked)")

    def translate_error(self, exc: BaseException) -> None:
        return None


def _refresher_write(objects: client.CustomObjectsApi, namespace: str, name: str,
                     percent: int) -> None:
    """What CostRefresher._update_client sends: its own copy of the conditions with the
    budget ones set, ``status.budget``, and the resourceVersion it read."""
    body = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, ORGS, name)
    status = copy.deepcopy(body.get("status") or {})
    conditions = list(status.get("conditions") or [])
    set_condition(conditions, "BudgetWarning", True, "ThresholdReached",
                  f"estimate {percent}.0%, projection 97.0% of the budget (warn at 80%)")
    objects.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, ORGS, name, {
        "metadata": {"resourceVersion": body["metadata"]["resourceVersion"]},
        "status": {"conditions": conditions,
                   "budget": {"month": "2026-12", "estimatedPercent": f"{percent}.0",
                              "notified": ["estimated:80"]}}})


async def test_a_budget_condition_written_during_an_engine_pass_survives_it(
    cluster: Cluster, api: client.ApiClient, namespace: str, crds: None
) -> None:
    objects = client.CustomObjectsApi(api)
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, ORGS, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogClientOrg",
        "metadata": {"name": "acme"}, "spec": {"displayName": "Acme"}})
    kube = KubeAPI(cluster.api_client(), max_threads=4)
    writes: list[dict[str, Any]] = []
    patch_status = kube.patch_status

    async def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        writes.append(kwargs)
        return await patch_status(*args, **kwargs)

    kube.patch_status = counted  # type: ignore[method-assign]
    held = HeldObserve()
    rec = Reconciler(CLIENT_ORG, held, kube)  # type: ignore[arg-type]

    # Twice: a first pass (no status yet), then a pass over an object that has one.
    for round_ in (1, 2):
        held.entered.clear()
        held.go.clear()
        task = asyncio.create_task(rec.reconcile(namespace, "acme"))
        await asyncio.wait_for(held.entered.wait(), 30)
        # (a write that changes nothing is no write: the API server keeps the version)
        await asyncio.to_thread(_refresher_write, objects, namespace, "acme", 80 + round_)
        held.go.set()
        await asyncio.wait_for(task, 60)
        status = objects.get_namespaced_custom_object(
            GROUP, VERSION, namespace, ORGS, "acme")["status"]
        warning = get_condition(status["conditions"], "BudgetWarning") or {}
        assert warning.get("reason") == "ThresholdReached", (round_, status["conditions"])
        assert status["budget"]["estimatedPercent"] == f"{80 + round_}.0"
        assert f"estimate {80 + round_}.0%" in warning["message"]
        ready = get_condition(status["conditions"], "Ready") or {}
        assert (ready.get("status"), ready.get("reason")) == ("True", "Available")
        if round_ == 1:
            # one write refused by the precondition (409), one rebased write: the cost of
            # the race; nobody racing costs exactly the one write it always did
            assert len(writes) == 2 and all(w.get("resource_version") for w in writes)
            # make the next pass write something: a new generation
            objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, ORGS, "acme",
                                                   {"spec": {"displayName": "Acme Corp"}})
    assert len(writes) == 4
