"""Who may spend the partner's keys (issue 9): DatadogPartner policy, end to end.

Real kube-apiserver, the simulator over HTTP, the operator as a process. A client in a
namespace outside every policy gets ``PartnerNotAllowed`` and the simulator holds no org of
that name; allowed namespaces and the legacy in-namespace Secret keep working.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import GROUP, VERSION, put_secret
from tests.support.kube import Cluster, unique_name
from tests.support.operator import OperatorProcess, wait_for
from tests.support.secrecy import assert_absent

pytestmark = pytest.mark.kube
ORGS, PARTNERS = "datadogclientorgs", "datadogpartners"


@pytest.fixture
def other_namespace(api: client.ApiClient) -> Iterator[str]:
    name = unique_name("t")
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={"ddmsp.io/tenant": "yes"})))
    yield name
    with contextlib.suppress(client.ApiException):
        core.delete_namespace(name)


@pytest.fixture
def partner_objects(api: client.ApiClient) -> Iterator[list[str]]:
    """Names of DatadogPartners a test creates (cluster-scoped: deleted afterwards)."""
    made: list[str] = []
    yield made
    objects = client.CustomObjectsApi(api)
    for name in made:
        with contextlib.suppress(client.ApiException):
            objects.delete_cluster_custom_object(GROUP, VERSION, PARTNERS, name)


class Env:
    def __init__(self, api: client.ApiClient, sim: RunningSimulator, home: str,
                 tenant: str, made: list[str]) -> None:
        self.api, self.sim, self.home, self.tenant, self.made = api, sim, home, tenant, made
        self.objects = client.CustomObjectsApi(api)

    def partner(self, spec: dict[str, Any]) -> str:
        name = unique_name("p")
        self.made.append(name)
        self.objects.create_cluster_custom_object(GROUP, VERSION, PARTNERS, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogPartner",
            "metadata": {"name": name},
            "spec": {"credentialsSecretRef": {"namespace": self.home, "name": "partner"},
                     **spec}})
        return name

    def get_partner(self, name: str) -> dict[str, Any]:
        return self.objects.get_cluster_custom_object(GROUP, VERSION, PARTNERS, name)

    def client_org(self, namespace: str, name: str, display: str, **spec: Any) -> None:
        self.objects.create_namespaced_custom_object(GROUP, VERSION, namespace, ORGS, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogClientOrg",
            "metadata": {"name": name}, "spec": {"displayName": display, **spec}})

    def ready(self, namespace: str, name: str) -> dict[str, Any] | None:
        body = self.objects.get_namespaced_custom_object(GROUP, VERSION, namespace, ORGS, name)
        conds = (body.get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "Ready"), None)

    def wait_ready(self, namespace: str, name: str, status: str, reason: str | None = None,
                   log: OperatorProcess | None = None) -> dict[str, Any]:
        def met() -> dict[str, Any] | None:
            c = self.ready(namespace, name)
            ok = c and c["status"] == status and (reason is None or c["reason"] == reason)
            return c if ok else None
        tail = log.log()[-1500:] if log else ""
        return wait_for(met, timeout=60, what=f"{namespace}/{name} Ready={status} {reason} "
                        f"{tail}")


@pytest.fixture
def env(cluster: Cluster, api: client.ApiClient, namespace: str, other_namespace: str,
        crds: None, sim: RunningSimulator, partner_secret: str,
        partner_objects: list[str]) -> Env:
    return Env(api, sim, namespace, other_namespace, partner_objects)


def start_operator(cluster: Cluster, sim: RunningSimulator, namespaces: list[str],
                   tmp_path: Path, *extra: str, default_secret: str | None = None,
                   ) -> OperatorProcess:
    env = {"DDMSP_PARTNER_SECRET": default_secret} if default_secret else {}
    return OperatorProcess(cluster.kubeconfig, sim.base_url, namespaces,
                           tmp_path / "operator.log", extra_env=env,
                           extra_args=list(extra)).start()


def test_a_namespace_outside_every_policy_gets_no_org(
    env: Env, cluster: Cluster, tmp_path: Path
) -> None:
    """Default operator keys live in `home`; the tenant namespace is not allowed to use them,
    nor the default DatadogPartner (which allows only `home`)."""
    partner = env.partner({"default": True, "allowedNamespaces": [env.home]})
    op = start_operator(cluster, env.sim, [env.home, env.tenant], tmp_path,
                        default_secret=f"{env.home}/partner")
    try:
        env.client_org(env.tenant, "sneaky", "Sneaky Corp")
        cond = env.wait_ready(env.tenant, "sneaky", "False", "PartnerNotAllowed", op)
        assert partner in cond["message"] and env.tenant in cond["message"]
        assert "allowedNamespaces" in cond["message"]  # names the fix
        env.client_org(env.tenant, "sneaky2", "Sneaky Two", partnerRef={"name": partner})
        env.wait_ready(env.tenant, "sneaky2", "False", "PartnerNotAllowed", op)
        # the home namespace is allowed by the same default partner
        env.client_org(env.home, "fine", "Fine Corp")
        env.wait_ready(env.home, "fine", "True", log=op)
        assert env.sim.state.find_orgs_by_name("Sneaky Corp") == []
        assert env.sim.state.find_orgs_by_name("Sneaky Two") == []
        assert len(env.sim.state.find_orgs_by_name("Fine Corp")) == 1
        status = env.objects.get_namespaced_custom_object(GROUP, VERSION, env.home, ORGS,
                                                          "fine")["status"]
        assert status["partner"] == f"DatadogPartner/{partner}"
        assert_absent([env.sim.partner_api_key], op.log(), "the operator's log")
    finally:
        op.stop()


def test_partner_allows_by_label_and_reports_its_keys(
    env: Env, cluster: Cluster, tmp_path: Path
) -> None:
    partner = env.partner({"namespaceSelector": {"matchLabels": {"ddmsp.io/tenant": "yes"}}})
    op = start_operator(cluster, env.sim, [env.home, env.tenant], tmp_path)
    try:
        env.client_org(env.tenant, "tenant", "Tenant Corp", partnerRef={"name": partner})
        env.wait_ready(env.tenant, "tenant", "True", log=op)
        assert len(env.sim.state.find_orgs_by_name("Tenant Corp")) == 1
        status = wait_for(lambda: (env.get_partner(partner).get("status") or {}).get("keysValid")
                          is not None and env.get_partner(partner)["status"],
                          what="partner status")
        assert status["keysValid"] is True
        assert status["missingPermissions"] == []
        assert status["orgPublicId"] == env.sim.partner_public_id
        # the operator's default keys are not configured: a client without partnerRef and
        # no default partner has no partner at all
        env.client_org(env.tenant, "nopartner", "No Partner")
        env.wait_ready(env.tenant, "nopartner", "False", "CredentialsMissing", op)
        assert env.sim.state.find_orgs_by_name("No Partner") == []
    finally:
        op.stop()


def test_legacy_secret_in_own_namespace_still_works(
    env: Env, cluster: Cluster, tmp_path: Path, api: client.ApiClient
) -> None:
    put_secret(api, env.tenant, "my-partner", {"api-key": env.sim.partner_api_key,
                                               "app-key": env.sim.partner_app_key})
    # the operator's default keys are restricted to `home`; the tenant brings its own
    op = start_operator(cluster, env.sim, [env.home, env.tenant], tmp_path,
                        default_secret=f"{env.home}/partner")
    try:
        env.client_org(env.tenant, "legacy", "Legacy Corp",
                       partnerCredentialsSecretRef={"name": "my-partner"})
        env.wait_ready(env.tenant, "legacy", "True", log=op)
        status = env.objects.get_namespaced_custom_object(GROUP, VERSION, env.tenant, ORGS,
                                                          "legacy")["status"]
        assert status["partner"] == "Secret/my-partner"
    finally:
        op.stop()


def test_operator_default_keys_for_namespaces_it_is_told(
    env: Env, cluster: Cluster, tmp_path: Path
) -> None:
    op = start_operator(cluster, env.sim, [env.home, env.tenant], tmp_path,
                        "--default-partner-namespace", env.tenant,
                        default_secret=f"{env.home}/partner")
    try:
        env.client_org(env.tenant, "told", "Told Corp")
        env.wait_ready(env.tenant, "told", "True", log=op)
        # told explicitly: now `home` itself is not in the list
        env.client_org(env.home, "home", "Home Corp")
        env.wait_ready(env.home, "home", "False", "PartnerNotAllowed", op)
        assert env.sim.state.find_orgs_by_name("Home Corp") == []
    finally:
        op.stop()


def test_a_partner_check_datadog_refuses_is_retried_and_the_partner_deletes_cleanly(
    env: Env, cluster: Cluster, tmp_path: Path
) -> None:
    """Datadog answers 503 to ``/api/v1/validate``: the partner waits (DatadogUnavailable)
    and the engine checks it again with its backoff, with no change to the object, until
    its Ready follows Datadog. (The check used to wait for its hourly timer.) It owns
    nothing in Datadog, so it holds no finalizer and a deletion is immediate."""
    env.sim.add_fault(route="GET /api/v1/validate", status=503)
    partner = env.partner({"allowedNamespaces": [env.home]})
    op = start_operator(cluster, env.sim, [env.home], tmp_path)

    def ready(status: str, reason: str) -> dict[str, Any] | None:
        conds = (env.get_partner(partner).get("status") or {}).get("conditions") or []
        found = next((c for c in conds if c["type"] == "Ready"), None)
        return found if found and (found["status"], found["reason"]) == (status, reason) \
            else None

    try:
        waiting = wait_for(lambda: ready("False", "DatadogUnavailable"), timeout=90,
                           what=lambda: f"partner waits on Datadog; log: {op.log()[-1500:]}")
        assert "/api/v1/validate" in waiting["message"]
        env.sim.clear_faults()
        wait_for(lambda: ready("True", "KeysValid"), timeout=90,
                 what=lambda: f"partner Ready again; log: {op.log()[-1500:]}")
        status = env.get_partner(partner)["status"]
        assert status["keysValid"] is True and status["phase"] == "Ready"
        assert status["orgPublicId"] == env.sim.partner_public_id
        assert "ddmsp.io/finalizer" not in (env.get_partner(partner)["metadata"].get(
            "finalizers") or [])
        env.objects.delete_cluster_custom_object(GROUP, VERSION, PARTNERS, partner)

        def gone() -> bool:
            try:
                env.get_partner(partner)
            except client.ApiException as exc:
                return exc.status == 404
            return False

        wait_for(gone, timeout=30, what="the partner deleted")
        # one an earlier version finalized (kopf's old and current names) goes away too
        partner = unique_name("p")
        env.made.append(partner)
        env.objects.create_cluster_custom_object(GROUP, VERSION, PARTNERS, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogPartner",
            "metadata": {"name": partner, "finalizers": ["ddmsp.io/finalizer",
                                                          "kopf.ddmsp.io/finalizer"]},
            "spec": {"credentialsSecretRef": {"namespace": env.home, "name": "partner"}}})
        wait_for(lambda: ready("True", "KeysValid"), timeout=90, what="the old partner Ready")
        env.objects.delete_cluster_custom_object(GROUP, VERSION, PARTNERS, partner)
        wait_for(gone, timeout=60, what=lambda: f"the old partner deleted: "
                 f"{env.get_partner(partner)['metadata']}")
        assert_absent([env.sim.partner_api_key], op.log(), "the operator's log")
    finally:
        op.stop()
