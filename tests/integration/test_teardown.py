"""Teardown of a whole client: Datadog is left exactly as the deletion policies say, and the
org's keys survive every Kubernetes deletion (issue 18, items 1-3).

Each test deletes a client the way people do (``kubectl delete -f <dir>`` with the org's
manifest first, the org before or after its dependents, the whole namespace, during a 5xx
storm) and checks the simulator: the role deleted, the user disabled, the SAML mapping
removed and SAML switched off (this config switched it on); and the keys in escrow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from ddmsp.controllers.keyescrow import escrow_name
from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import Operator, put_secret, secret_data
from tests.support.kube import Cluster, unique_name
from tests.support.operator import wait_for
from tests.support.passes import metered, passes, requests_seen, wait_passes, wait_requests
from tests.support.samlmeta import metadata

pytestmark = pytest.mark.kube

GROUP, VERSION = "ddmsp.io", "v1alpha1"
ORGS, ROLES, USERS, SAML = ("datadogclientorgs", "datadogroles", "datadogusers",
                            "datadogsamlconfigs")
ROLE_NAME = "Client Ops"
EMAIL = "alice@client.example"
SECRET = "acme-datadog-credentials"
FINALIZER = "ddmsp.io/finalizer"
ORG_KIND, ROLE_KIND = "DatadogClientOrg", "DatadogRole"


@pytest.fixture
def escrow_ns(api: client.ApiClient) -> Iterator[str]:
    """The operator's own namespace for escrow Secrets: outlives the client's namespace."""
    name = unique_name("escrow")
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    with contextlib.suppress(client.ApiException):
        core.delete_namespace(name)


def start(operator: Operator, escrow_ns: str, drift: float | None = None) -> Operator:
    # The operator's own namespace holds the escrow and its leader-election Lease, as in a
    # chart install: deleting a client's namespace must not take the Lease with it.
    operator.process.extra_env["DDMSP_ESCROW_NAMESPACE"] = escrow_ns
    operator.process.extra_env["DDMSP_LEADER_ELECTION_NAMESPACE"] = escrow_ns
    if drift is not None:
        operator.process.extra_args += ["--drift-interval", str(drift)]
    return operator.start()


def manifests() -> list[dict[str, Any]]:
    """A client folder: the org first (as a file listing sorts it), then what uses it."""
    api_version = f"{GROUP}/{VERSION}"
    return [
        {"apiVersion": api_version, "kind": "DatadogClientOrg", "metadata": {"name": "acme"},
         "spec": {"displayName": "Acme Teardown"}},
        {"apiVersion": api_version, "kind": "DatadogRole", "metadata": {"name": "ops"},
         "spec": {"orgRef": {"name": "acme"}, "roleName": ROLE_NAME,
                  "permissions": ["monitors_write"]}},
        {"apiVersion": api_version, "kind": "DatadogSAMLConfig", "metadata": {"name": "sso"},
         "spec": {"orgRef": {"name": "acme"}, "idpMetadata": {"inline": metadata()},
                  "enabled": True,
                  "roleMappings": [{"attributeKey": "group", "attributeValue": "ops",
                                    "roleRef": {"name": "ops"}}]}},
        {"apiVersion": api_version, "kind": "DatadogUser", "metadata": {"name": "alice"},
         "spec": {"orgRef": {"name": "acme"}, "email": EMAIL,
                  "roles": [{"roleRef": "ops"}]}},
    ]


PLURALS = {"DatadogClientOrg": ORGS, "DatadogRole": ROLES, "DatadogSAMLConfig": SAML,
           "DatadogUser": USERS}


def apply_client(operator: Operator) -> dict[str, str]:
    """Apply the folder, wait until all is Ready; returns the org's ID and keys."""
    for body in manifests():
        operator.apply(PLURALS[body["kind"]], body)
    for body in manifests():
        plural, name = PLURALS[body["kind"]], body["metadata"]["name"]
        try:
            operator.wait_condition(plural, name, timeout=90)
        except AssertionError:
            raise AssertionError(f"{plural}/{name} not Ready: "
                                 f"{operator.get(plural, name).get('status')}") from None
    status = operator.get(ORGS, "acme")["status"]["clientOrg"]
    keys = secret_data(operator.api, operator.namespace, SECRET)
    assert keys is not None
    org = sim_org(operator.sim, status["publicId"])
    assert any(r["name"] == ROLE_NAME for r in org["roles"])
    assert org["settings"]["saml"]["enabled"] is True and len(org["authn_mappings"]) == 1
    assert sim_user(operator.sim, status["publicId"])["status"] != "Disabled"
    return {"publicId": status["publicId"], "api-key": keys["api-key"],
            "app-key": keys["app-key"]}


def sim_org(sim: RunningSimulator, public_id: str) -> dict[str, Any]:
    return next(o for o in sim.state.snapshot()["orgs"] if o["public_id"] == public_id)


def sim_user(sim: RunningSimulator, public_id: str) -> dict[str, Any]:
    return next(u for u in sim_org(sim, public_id)["users"] if u["email"] == EMAIL)


def exists(operator: Operator, plural: str, name: str) -> bool:
    try:
        operator.get(plural, name)
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def delete(operator: Operator, plural: str, name: str) -> None:
    operator.objects.delete_namespaced_custom_object(GROUP, VERSION, operator.namespace,
                                                     plural, name)


def all_gone(operator: Operator) -> bool:
    return not any(exists(operator, PLURALS[b["kind"]], b["metadata"]["name"])
                   for b in manifests())


def assert_datadog_torn_down(sim: RunningSimulator, public_id: str) -> None:
    """What the Delete policies promise: nothing of this client's access is left."""
    org = sim_org(sim, public_id)
    assert not any(r["name"] == ROLE_NAME for r in org["roles"]), "the role is deleted"
    assert sim_user(sim, public_id)["status"] == "Disabled", "the user is disabled"
    assert org["authn_mappings"] == [], "the SAML mapping is removed"
    assert org["settings"]["saml"]["enabled"] is False, "SAML (switched on by us) is off"
    assert [o["public_id"] for o in sim.state.snapshot()["orgs"]
            if o["name"] == "Acme Teardown"] == [public_id], "the org stays (orgs cannot go)"


def escrowed(api: client.ApiClient, escrow_ns: str, public_id: str) -> dict[str, str] | None:
    return secret_data(api, escrow_ns, escrow_name(public_id))


def assert_keys_recoverable(operator: Operator, escrow_ns: str, org: dict[str, str]) -> None:
    kept = escrowed(operator.api, escrow_ns, org["publicId"])
    assert kept is not None, "the keys are in escrow"
    assert (kept["api-key"], kept["app-key"]) == (org["api-key"], org["app-key"])
    assert kept["org-public-id"] == org["publicId"]
    assert operator.sim.state.org_for_keys(kept["api-key"], kept["app-key"]).public_id == \
        org["publicId"], "and they are the org's working keys"
    secret = client.CoreV1Api(operator.api).read_namespaced_secret(escrow_name(org["publicId"]),
                                                                   escrow_ns)
    assert secret.metadata.labels["ddmsp.io/org-public-id"] == org["publicId"]
    assert secret.metadata.annotations["ddmsp.io/source"] == f"{operator.namespace}/acme"
    assert not secret.metadata.owner_references and not secret.metadata.finalizers


def escrow_events(api: client.ApiClient, escrow_ns: str) -> list[str]:
    return [e.message for e in client.CoreV1Api(api).list_namespaced_event(escrow_ns).items
            if e.reason == "KeysEscrowed"]


def test_kubectl_delete_of_the_folder_org_first_tears_down_and_escrows(
        operator: Operator, cluster: Cluster, escrow_ns: str, tmp_path: Path) -> None:
    start(operator, escrow_ns)
    org = apply_client(operator)
    folder = tmp_path / "acme"
    folder.mkdir()
    for i, body in enumerate(manifests()):
        (folder / f"{i:02d}-{body['metadata']['name']}.yaml").write_text(yaml.safe_dump(body))
    # What `kubectl delete -f <dir>` and an Argo CD prune do: every object at once, the
    # org's own file first.
    cluster.kubectl("delete", "-f", str(folder), "-n", operator.namespace, "--wait=false")
    wait_for(lambda: all_gone(operator), timeout=120, what="the client's objects gone; log:\n"
             f"{operator.process.log()[-3000:]}")
    assert_datadog_torn_down(operator.sim, org["publicId"])
    assert_keys_recoverable(operator, escrow_ns, org)
    # The namespace's Secret stays (it is never garbage-collected) and is released.
    left = client.CoreV1Api(operator.api).read_namespaced_secret(SECRET, operator.namespace)
    assert FINALIZER not in (left.metadata.finalizers or [])
    assert any(org["publicId"] in m for m in escrow_events(operator.api, escrow_ns))


def poke(operator: Operator, plural: str, name: str, value: str) -> None:
    """An annotation change: the operator runs a pass of the object at once."""
    operator.patch(plural, name, {"metadata": {"annotations": {"test.ddmsp.io/poke": value}}})


def test_the_org_deleted_first_waits_for_its_dependents_and_says_so(
        operator: Operator, escrow_ns: str) -> None:
    port = metered(operator)
    start(operator, escrow_ns)
    org = apply_client(operator)
    delete(operator, ORGS, "acme")
    cond = operator.wait_condition(ORGS, "acme", status="False", reason="WaitingForDependents",
                                   timeout=30)
    for dependent in ("DatadogRole ops", "DatadogUser alice", "DatadogSAMLConfig sso"):
        assert dependent in cond["message"]
    # The credentials Secret is held while the org lives: deleting it now loses nothing.
    # Two deletion passes of the org go by (the second began after the Secret's deletion;
    # each asked for at once): neither let the Secret or the org go.
    client.CoreV1Api(operator.api).delete_namespaced_secret(SECRET, operator.namespace)
    since = passes(port, ORG_KIND)
    poke(operator, ORGS, "acme", "1")
    wait_passes(port, 1, ORG_KIND, since)
    poke(operator, ORGS, "acme", "2")
    wait_passes(port, 2, ORG_KIND, since)
    assert exists(operator, ORGS, "acme")
    held = client.CoreV1Api(operator.api).read_namespaced_secret(SECRET, operator.namespace)
    assert held.metadata.deletion_timestamp is not None and FINALIZER in held.metadata.finalizers
    # The dependents, deleted after the org, still reach it and apply their policies.
    for plural, name in ((USERS, "alice"), (SAML, "sso"), (ROLES, "ops")):
        delete(operator, plural, name)
    wait_for(lambda: all_gone(operator), timeout=120, what="all gone; log:\n"
             f"{operator.process.log()[-3000:]}")
    assert_datadog_torn_down(operator.sim, org["publicId"])
    assert_keys_recoverable(operator, escrow_ns, org)
    assert secret_data(operator.api, operator.namespace, SECRET) is None  # released, gone


def test_dependents_deleted_before_the_org_then_the_org_reattaches_from_escrow(
        operator: Operator, escrow_ns: str) -> None:
    start(operator, escrow_ns)
    org = apply_client(operator)
    for plural, name in ((ROLES, "ops"), (USERS, "alice"), (SAML, "sso")):
        delete(operator, plural, name)
    wait_for(lambda: not any(exists(operator, p, n) for p, n in
                             ((ROLES, "ops"), (USERS, "alice"), (SAML, "sso"))), timeout=90)
    assert_datadog_torn_down(operator.sim, org["publicId"])
    delete(operator, ORGS, "acme")
    wait_for(lambda: not exists(operator, ORGS, "acme"), timeout=60)
    assert_keys_recoverable(operator, escrow_ns, org)
    # The Secret goes too (say, a prune); applying the org again in the same namespace
    # restores the keys from escrow: the same org, never a second one.
    client.CoreV1Api(operator.api).delete_namespaced_secret(SECRET, operator.namespace)
    wait_for(lambda: secret_data(operator.api, operator.namespace, SECRET) is None, timeout=30)
    operator.apply(ORGS, manifests()[0])
    operator.wait_condition(ORGS, "acme", timeout=60)
    assert operator.get(ORGS, "acme")["status"]["clientOrg"]["publicId"] == org["publicId"]
    assert secret_data(operator.api, operator.namespace, SECRET)["api-key"] == org["api-key"]
    assert [o["public_id"] for o in operator.sim.state.snapshot()["orgs"]
            if o["name"] == "Acme Teardown"] == [org["publicId"]]
    assert any(e.reason == "KeysRestored" for e in operator.events("acme"))


def test_a_5xx_storm_during_deletion_waits_and_deletes_afterwards(
        operator: Operator, cluster: Cluster, escrow_ns: str) -> None:
    port = metered(operator)
    start(operator, escrow_ns, drift=1.0)
    org = apply_client(operator)
    role_read = f"GET /api/v2/roles/{operator.get(ROLES, 'ops')['status']['roleId']}"
    storm = operator.sim.add_fault(route="*", status=503)
    # The org's own drift check fails: it is not Ready for a while, which used to orphan
    # whatever was deleted meanwhile.
    operator.wait_condition(ORGS, "acme", status="False", timeout=30)
    for plural, name in ((USERS, "alice"), (SAML, "sso"), (ROLES, "ops"), (ORGS, "acme")):
        delete(operator, plural, name)
    # Deletion passes of the role meet the storm (its reads of the role answered 503); of
    # two passes counted from now, the second began after the first ended, so after the
    # deletion was asked for: none orphaned anything.
    seen = requests_seen(operator.sim, role_read)
    wait_passes(port, 2, ROLE_KIND, passes(port, ROLE_KIND))
    wait_requests(operator.sim, role_read, n=2, since=seen)
    assert exists(operator, ROLES, "ops") and exists(operator, ORGS, "acme")
    ready = operator.condition(ROLES, "ops", "Ready")
    assert ready is not None and ready["status"] == "False"
    assert "Orphaned" not in {e.reason for e in operator.events("ops")}
    operator.sim.state.remove_fault(storm)
    wait_for(lambda: all_gone(operator), timeout=180, what="all gone after the storm; log:\n"
             f"{operator.process.log()[-3000:]}")
    assert_datadog_torn_down(operator.sim, org["publicId"])
    assert_keys_recoverable(operator, escrow_ns, org)


def test_namespace_deletion_tears_down_and_keys_come_back_with_an_admin_step(
        operator: Operator, escrow_ns: str) -> None:
    start(operator, escrow_ns)
    org = apply_client(operator)
    core = client.CoreV1Api(operator.api)
    core.delete_namespace(operator.namespace)

    def namespace_gone() -> bool:
        try:
            core.read_namespace(operator.namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(namespace_gone, timeout=180, what="the namespace gone; log:\n"
             f"{operator.process.log()[-3000:]}")
    assert_datadog_torn_down(operator.sim, org["publicId"])
    assert_keys_recoverable(operator, escrow_ns, org)
    # The client comes back in a namespace of the same name (a new one): no second org is
    # created; the escrow is named with the step that re-attaches it.
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=operator.namespace)))
    put_secret(operator.api, operator.namespace, "partner",  # the partner keys, as before
               {"api-key": operator.sim.partner_api_key,
                "app-key": operator.sim.partner_app_key})
    operator.apply(ORGS, manifests()[0])
    cond = operator.wait_condition(ORGS, "acme", status="False", reason="KeysInEscrow",
                                   timeout=60)
    name = escrow_name(org["publicId"])
    assert name in cond["message"] and "ddmsp.io/restore=true" in cond["message"]
    assert [o["public_id"] for o in operator.sim.state.snapshot()["orgs"]
            if o["name"] == "Acme Teardown"] == [org["publicId"]]
    # The one documented step: a cluster admin approves the restore on the escrow Secret.
    core.patch_namespaced_secret(name, escrow_ns,
                                 {"metadata": {"annotations": {"ddmsp.io/restore": "true"}}})
    operator.wait_condition(ORGS, "acme", timeout=90)
    assert operator.get(ORGS, "acme")["status"]["clientOrg"]["publicId"] == org["publicId"]
    restored = secret_data(operator.api, operator.namespace, SECRET)
    assert restored is not None and restored["app-key"] == org["app-key"]


def test_a_deleted_role_wakes_its_users_and_saml_configs_at_once(
        operator: Operator, escrow_ns: str) -> None:
    """Issue 18 item 6 (in part): a role deleted leaves users and SAML mappings naming it
    Ready for up to the drift interval (600 s here) unless its deletion wakes them."""
    start(operator, escrow_ns)
    apply_client(operator)
    delete(operator, ROLES, "ops")
    wait_for(lambda: not exists(operator, ROLES, "ops"), timeout=60)
    for plural, name in ((USERS, "alice"), (SAML, "sso")):
        operator.wait_condition(plural, name, status="False", reason="RoleNotReady", timeout=20)


def test_namespace_deletion_keeps_both_keys_of_a_spinoff_client(
        operator: Operator, escrow_ns: str) -> None:
    """A SpinOff client has two orgs (the parent A, spun off, and the client's C), both alive
    in Datadog: a namespace deletion must leave both key pairs recoverable."""
    from tests.integration.test_clientorg import confirm_registration

    start(operator, escrow_ns)
    operator.apply(ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": "globex"},
                          "spec": {"displayName": "Globex", "provisioning": "SpinOff"}})
    confirm_registration(operator, "globex")
    operator.wait_condition(ORGS, "globex", timeout=90)
    status = operator.get(ORGS, "globex")["status"]
    keys = {role: secret_data(operator.api, operator.namespace,
                              status[record]["credentialsSecret"])
            for role, record in (("parent", "parentOrg"), ("client", "clientOrg"))}
    core = client.CoreV1Api(operator.api)
    core.delete_namespace(operator.namespace)

    def namespace_gone() -> bool:
        try:
            core.read_namespace(operator.namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(namespace_gone, timeout=180, what="the namespace gone")
    for role, record in (("parent", "parentOrg"), ("client", "clientOrg")):
        kept = escrowed(operator.api, escrow_ns, status[record]["publicId"])
        assert kept is not None, f"the {role} org's keys are in escrow"
        assert keys[role] is not None and kept["app-key"] == keys[role]["app-key"]


def test_an_escrow_in_the_clients_own_namespace_is_a_warning_naming_the_fix(
        operator: Operator) -> None:
    """Run as `ddmsp run --namespace X` without an escrow namespace (the demo did): the
    escrow lands in X itself, which a namespace deletion takes with it. The operator says
    so where the user looks, and names the setting that fixes it."""
    operator.start()  # no DDMSP_ESCROW_NAMESPACE: the escrow defaults into the client's
    operator.apply(ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": "acme"},
                          "spec": {"displayName": "Acme Same Namespace"}})
    operator.wait_condition(ORGS, "acme", timeout=90)
    public_id = operator.get(ORGS, "acme")["status"]["clientOrg"]["publicId"]
    delete(operator, ORGS, "acme")
    wait_for(lambda: operator.gone(ORGS, "acme"), timeout=60, what="the org object gone")
    assert escrowed(operator.api, operator.namespace, public_id) is not None
    escrowed_events = [e for e in operator.events("acme") if e.reason == "KeysEscrowed"]
    assert [e.type for e in escrowed_events] == ["Warning"], escrowed_events
    message = escrowed_events[0].message or ""
    assert f"deleting namespace {operator.namespace} deletes these keys too" in message
    assert "--escrow-namespace" in message and "DDMSP_ESCROW_NAMESPACE" in message
