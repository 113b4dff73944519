"""DatadogClientOrg end to end: real kube-apiserver, the simulator over HTTP, the operator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from ddmsp.simulator.state import new_api_key, new_app_key
from tests.integration.conftest import Operator, put_secret, secret_data
from tests.support.operator import wait_for
from tests.support.secrecy import assert_absent

pytestmark = pytest.mark.kube
PLURAL = "datadogclientorgs"


def org(name: str, display: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "DatadogClientOrg", "metadata": {"name": name},
            "spec": {"displayName": display, **spec}}


def orgs_named(sim: RunningSimulator, name: str) -> list[str]:
    return sim.state.find_orgs_by_name(name)


def sim_org(sim: RunningSimulator, public_id: str) -> dict[str, Any]:
    snap = sim.snapshot()
    return next(o for o in snap["orgs"] if o["public_id"] == public_id)


def confirm_registration(op: Operator, name: str, deal_id: str | None = None,
                         timeout: float = 60) -> str:
    """What the partner does after the DPN portal: confirm naming the parent org."""
    def parent_id() -> str | None:
        status = op.get(PLURAL, name).get("status") or {}
        if status.get("phase") != "AwaitingRegistration":
            return None
        return str((status.get("parentOrg") or {}).get("publicId") or "") or None

    public_id = str(wait_for(parent_id, timeout=timeout, what=f"{name} AwaitingRegistration"))
    registration: dict[str, Any] = {"confirmed": True, "orgPublicId": public_id}
    if deal_id:
        registration["dealId"] = deal_id
    op.patch(PLURAL, name, {"spec": {"registration": registration}})
    return public_id


def assert_no_keys_leaked(op: Operator, keys: list[str], names: list[str]) -> None:
    """Keys may live in Secrets only: not in the log, events, or any object's status."""
    texts = [op.process.log()]
    for name in names:
        texts.append(json.dumps(op.get(PLURAL, name)))
        texts.extend(f"{e.reason} {e.message}" for e in op.events(name))
    blob = "\n".join(texts)
    for key in keys:
        assert_absent([key], blob, "the log, events or status")


def test_both_modes_reach_ready_and_match_the_simulator(operator: Operator) -> None:
    op, sim = operator, operator.sim
    op.start()
    op.apply(PLURAL, org("acme", "Acme Corp"))
    op.apply(PLURAL, org("globex", "Globex", provisioning="SpinOff"))

    op.wait_condition(PLURAL, "acme", "Ready")
    acme = op.get(PLURAL, "acme")["status"]
    assert acme["phase"] == "Ready"
    assert acme["observedGeneration"] == 1
    # kubectl wait works on the Ready condition
    op.cluster.kubectl("wait", "--for=condition=Ready", "ddorg/acme", "-n", op.namespace,
                       "--timeout=30s")

    waiting = op.wait_condition(PLURAL, "globex", "Ready", "False", "AwaitingRegistration")
    parent_id = op.get(PLURAL, "globex")["status"]["parentOrg"]["publicId"]
    assert parent_id in waiting["message"] and "registration" in waiting["message"]
    assert op.get(PLURAL, "globex")["status"]["phase"] == "AwaitingRegistration"
    assert any(e.reason == "AwaitingRegistration" for e in op.events("globex"))
    # a confirmation that does not name the org to register does not count
    op.patch(PLURAL, "globex", {"spec": {"registration": {"confirmed": True, "dealId": "D-42"}}})
    named = wait_for(lambda: (c := op.condition(PLURAL, "globex", "Ready")) and
                     "orgPublicId is not set" in c["message"] and c, what="unnamed confirmation")
    assert parent_id in named["message"] and named["reason"] == "AwaitingRegistration"
    confirm_registration(op, "globex", deal_id="D-42")
    op.wait_condition(PLURAL, "globex", "Ready")

    # the simulator's org tree matches status
    partner = sim.partner_public_id
    acme_id = acme["clientOrg"]["publicId"]
    assert sim_org(sim, acme_id)["parent"] == partner
    globex = op.get(PLURAL, "globex")["status"]
    assert globex["registration"]["dealId"] == "D-42"
    parent = sim_org(sim, globex["parentOrg"]["publicId"])
    assert parent["spun_off"] and parent["parent"] is None
    assert sim_org(sim, globex["clientOrg"]["publicId"])["parent"] == parent["public_id"]
    assert orgs_named(sim, "Acme Corp") == [acme_id]
    assert len(orgs_named(sim, "Globex")) == 2  # the spun-off parent and the client org

    # keys are in the Secrets, labelled with their owner, and nowhere else
    keys = []
    for secret, owner in (("acme-datadog-credentials", "acme"),
                          ("globex-datadog-credentials", "globex"),
                          ("globex-datadog-credentials-parent", "globex")):
        data = secret_data(op.api, op.namespace, secret)
        assert data is not None and data["api-key"] and data["app-key"]
        assert data["site"] == "datadoghq.com" and data["org-public-id"]
        labels = client.CoreV1Api(op.api).read_namespaced_secret(
            secret, op.namespace).metadata.labels
        assert labels["ddmsp.io/owner-name"] == owner
        keys += [data["api-key"], data["app-key"]]
    # cost and usage (through the partner admin org's view): tests/integration/test_cost_refresh.py
    # and they really are the orgs' keys: the client org answers with them
    acme_keys = secret_data(op.api, op.namespace, "acme-datadog-credentials")
    assert acme_keys is not None
    assert sim.state.org_for_keys(acme_keys["api-key"], acme_keys["app-key"]).public_id == acme_id
    assert_no_keys_leaked(op, [*keys, sim.partner_api_key, sim.partner_app_key],
                          ["acme", "globex"])


def test_deleting_orphans_the_org_and_keeps_the_secret(operator: Operator) -> None:
    op = operator.start()
    op.apply(PLURAL, org("initech", "Initech"))
    op.wait_condition(PLURAL, "initech")
    public_id = op.get(PLURAL, "initech")["status"]["clientOrg"]["publicId"]
    op.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", op.namespace, PLURAL,
                                               "initech")
    wait_for(lambda: not any(o["metadata"]["name"] == "initech" for o in
                             op.objects.list_namespaced_custom_object(
                                 "ddmsp.io", "v1alpha1", op.namespace, PLURAL)["items"]),
             what="the resource to be gone")
    assert secret_data(op.api, op.namespace, "initech-datadog-credentials") is not None
    assert orgs_named(op.sim, "Initech") == [public_id]

    # re-applying the same manifest re-attaches to the same org: never a second one
    op.apply(PLURAL, org("initech", "Initech"))
    op.wait_condition(PLURAL, "initech")
    assert op.get(PLURAL, "initech")["status"]["clientOrg"]["publicId"] == public_id
    assert orgs_named(op.sim, "Initech") == [public_id]


@pytest.mark.parametrize("listing", ["own", "children"])
def test_dropped_create_stalls_then_adoption_resumes(operator: Operator, listing: str) -> None:
    op, sim = operator, operator.sim
    sim.set_config(org_listing=listing)
    sim.add_fault(route="POST /api/v1/org", commit_then_drop=True, times=1)
    op.start()
    op.apply(PLURAL, org("hooli", "Hooli"))
    stalled = op.wait_condition(PLURAL, "hooli", "Stalled", "True", "CreationResultUnknown")
    created = orgs_named(sim, "Hooli")
    assert len(created) == 1  # the create did commit in Datadog
    if listing == "children":  # the candidate is named for the human
        assert created[0] in stalled["message"]
        assert any(e.reason == "CreationResultUnknown" and created[0] in e.message
                   for e in op.events("hooli"))
    else:  # the listing shows no children: say where to look instead
        assert "Multi-Org Usage page" in stalled["message"] and "'Hooli'" in stalled["message"]
    assert op.condition(PLURAL, "hooli", "Ready")["status"] == "False"
    # a restart does not create again
    op.process.stop()
    op.start()
    op.wait_condition(PLURAL, "hooli", "Stalled", "True", "CreationResultUnknown")
    assert orgs_named(sim, "Hooli") == created

    # the human makes new keys for the candidate org, adopts it, clears the marker
    api_key, app_key = new_api_key(), new_app_key()
    sim.state._register_keys(sim.state.get_org(created[0]), api_key, app_key)
    put_secret(op.api, op.namespace, "hooli-keys", {"api-key": api_key, "app-key": app_key})
    op.patch(PLURAL, "hooli", {
        "metadata": {"annotations": {"ddmsp.io/create-pending": None}},
        "spec": {"adopt": {"publicId": created[0],
                           "credentialsSecretRef": {"name": "hooli-keys"}}},
    })
    op.wait_condition(PLURAL, "hooli", "Ready")
    status = op.get(PLURAL, "hooli")["status"]
    assert status["clientOrg"]["publicId"] == created[0] and status["clientOrg"]["adopted"]
    assert op.condition(PLURAL, "hooli", "Stalled")["status"] == "False"
    assert orgs_named(sim, "Hooli") == created


def test_missing_then_wrong_partner_credentials_recover_by_themselves(
        operator: Operator) -> None:
    op, sim = operator, operator.sim
    op.apply(PLURAL, org("umbrella", "Umbrella",
                         partnerCredentialsSecretRef={"name": "umbrella-partner"}))
    op.start()
    missing = op.wait_condition(PLURAL, "umbrella", "Ready", "False", "CredentialsMissing")
    assert "umbrella-partner" in missing["message"]
    put_secret(op.api, op.namespace, "umbrella-partner",
               {"api-key": "0" * 32, "app-key": "1" * 40})
    # Datadog answers 403 for an invalid key and for a missing permission alike: the
    # condition names the Secret and both causes
    refused = op.wait_condition(PLURAL, "umbrella", "Ready", "False", "MissingPermission",
                                timeout=90)
    assert "umbrella-partner" in refused["message"] and "no longer valid" in refused["message"]
    assert orgs_named(sim, "Umbrella") == []
    put_secret(op.api, op.namespace, "umbrella-partner",
               {"api-key": sim.partner_api_key, "app-key": sim.partner_app_key})
    op.wait_condition(PLURAL, "umbrella", "Ready", timeout=90)
    assert len(orgs_named(sim, "Umbrella")) == 1


def test_pause_stops_writes_and_observe_only_changes_nothing(operator: Operator) -> None:
    op, sim = operator, operator.sim
    op.start()
    op.apply(PLURAL, {**org("paused", "Paused Inc"),
                      "metadata": {"name": "paused",
                                   "annotations": {"ddmsp.io/paused": "true"}}})
    synced = op.wait_condition(PLURAL, "paused", "Synced", "False", "ReconcilePaused")
    assert "paused" in synced["message"]
    assert orgs_named(sim, "Paused Inc") == []
    op.patch(PLURAL, "paused", {"metadata": {"annotations": {"ddmsp.io/paused": None}}})
    op.wait_condition(PLURAL, "paused", "Ready")
    assert len(orgs_named(sim, "Paused Inc")) == 1

    # ObserveOnly on an adopted org: a name drift is reported, not corrected
    org_id = orgs_named(sim, "Paused Inc")[0]
    keys = secret_data(op.api, op.namespace, "paused-datadog-credentials")
    assert keys is not None
    put_secret(op.api, op.namespace, "observed-keys",
               {"api-key": keys["api-key"], "app-key": keys["app-key"]})
    op.apply(PLURAL, org("observed", "Paused Inc", managementPolicy="ObserveOnly",
                         adopt={"publicId": org_id,
                                "credentialsSecretRef": {"name": "observed-keys"}}))
    op.wait_condition(PLURAL, "observed", "Ready")
    op.patch(PLURAL, "observed", {"spec": {"displayName": "Renamed"}})
    drift = op.wait_condition(PLURAL, "observed", "Ready", "False", "DriftDetected")
    assert "Renamed" in drift["message"]
    assert sim_org(sim, org_id)["name"] == "Paused Inc"  # nothing changed in Datadog

    # Full management corrects the same drift: rename the owned org
    op.patch(PLURAL, "paused", {"spec": {"displayName": "Paused Two"}})
    wait_for(lambda: sim_org(sim, org_id)["name"] == "Paused Two", what="rename in Datadog")
    op.wait_condition(PLURAL, "paused", "Ready")


def test_metrics_endpoint_reports_reconciles_and_readiness(operator: Operator) -> None:
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    op = operator
    op.process.extra_args = ["--metrics-port", str(port)]
    op.start()
    op.apply(PLURAL, org("metered", "Metered"))
    op.wait_condition(PLURAL, "metered")

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return str(resp.read().decode())

    text = wait_for(lambda: "ddmsp_object_ready" in scrape() and scrape(), what="metrics")
    assert (f'ddmsp_object_ready{{kind="DatadogClientOrg",name="metered",'
            f'namespace="{op.namespace}"}} 1.0') in text
    assert 'ddmsp_reconciles_total{kind="DatadogClientOrg",outcome="ready"}' in text
    assert "ddmsp_reconcile_duration_seconds_bucket" in text
