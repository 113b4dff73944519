"""The operator keeps its promises under real operating conditions (issue 9): nothing
wedges, waiting is free, Stalled objects can be re-driven, nothing foreign is touched,
no key is lost to an unwritable Secret or a shutdown, a second process waits its turn."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.integration.conftest import Operator, put_secret, secret_data
from tests.integration.test_clientorg import PLURAL, confirm_registration, org, orgs_named
from tests.support.operator import OperatorProcess, wait_for
from tests.support.passes import (
    WITNESS_KIND,
    add_waiting_witness,
    metered,
    reconciles,
    wait_reconciles,
)

pytestmark = pytest.mark.kube
ROLES = "datadogroles"
KIND = "DatadogClientOrg"


def resource_version(op: Operator, plural: str, name: str) -> str:
    return str(op.get(plural, name)["metadata"]["resourceVersion"])


def test_transient_errors_in_a_drift_check_never_wedge_an_object(operator: Operator) -> None:
    op, sim = operator, operator.sim
    op.process.extra_args += ["--drift-interval", "2", "--backoff-cap", "3"]
    op.start()
    op.apply(PLURAL, org("steady", "Steady"))
    op.wait_condition(PLURAL, "steady", "Ready")
    sim.add_fault(route="GET /api/v1/org/*", status=503)  # every read fails, for now
    unavailable = op.wait_condition(PLURAL, "steady", "Ready", "False", "DatadogUnavailable",
                                    timeout=60)
    assert "503" in unavailable["message"] or "Unavailable" in unavailable["message"]
    sim.clear_faults()
    # no spec change, no restart: the object is retried by itself and comes back
    op.wait_condition(PLURAL, "steady", "Ready", timeout=30)


def test_waiting_costs_no_writes_and_the_org_wakes_its_dependents(operator: Operator) -> None:
    op = operator
    # polls would be rare: only the org's readiness can explain a prompt wake-up
    op.process.extra_args += ["--wait-poll", "60", "--backoff-cap", "600"]
    op.start()
    op.apply(PLURAL, org("later", "Later Inc", provisioning="SpinOff"))
    op.apply(ROLES, {"kind": "DatadogRole", "metadata": {"name": "viewers"},
                     "spec": {"orgRef": {"name": "later"}, "permissions": ["logs_read_data"]}})
    op.wait_condition(ROLES, "viewers", "Ready", "False", "OrgNotReady")
    op.wait_condition(PLURAL, "later", "Ready", "False", "AwaitingRegistration")
    # Fixed sleeps on purpose: no pass of either is due (polls every 60 s, the registration
    # waits for a spec change), so there is no pass to wait for; what could write here is
    # an unscheduled one (a wake-up, a message refresh), and only time can show its absence.
    time.sleep(2)  # the wake-ups of the org's last status write are over
    before = (resource_version(op, ROLES, "viewers"), resource_version(op, PLURAL, "later"))
    time.sleep(8)
    after = (resource_version(op, ROLES, "viewers"), resource_version(op, PLURAL, "later"))
    assert before == after, "a waiting object was written to while nothing changed"

    confirm_registration(op, "later")
    op.wait_condition(PLURAL, "later", "Ready", timeout=60)
    ready_at = time.monotonic()
    op.wait_condition(ROLES, "viewers", "Ready", timeout=30)
    assert time.monotonic() - ready_at < 20, "the role was not woken by its org"


def test_a_foreign_secret_stops_the_create_and_a_stalled_object_can_be_redriven(
    operator: Operator,
) -> None:
    op, sim = operator, operator.sim
    put_secret(op.api, op.namespace, "shared-keys", {"note": "someone else's"})
    port = metered(op)
    op.start()
    op.apply(PLURAL, org("careful", "Careful", credentialsSecretName="shared-keys"))
    stalled = op.wait_condition(PLURAL, "careful", "Stalled", "True", "SecretNotOwned")
    assert "kubectl label secret shared-keys" in stalled["message"]
    assert orgs_named(sim, "Careful") == []
    assert secret_data(op.api, op.namespace, "shared-keys") == {"note": "someone else's"}

    # a human decides the Secret is this client's: label it, then ask for one more attempt
    core = client.CoreV1Api(op.api)
    core.patch_namespaced_secret("shared-keys", op.namespace, {"metadata": {"labels": {
        "ddmsp.io/owner-kind": "DatadogClientOrg", "ddmsp.io/owner-name": "careful",
        "app.kubernetes.io/managed-by": "ddmsp"}}})
    add_waiting_witness(op)  # three polls of a waiting object go by: no retry of this one
    wait_reconciles(port, n=3, kind=WITNESS_KIND, outcome="waiting", since=0)
    assert op.condition(PLURAL, "careful", "Stalled")["status"] == "True"  # waits for a human
    op.patch(PLURAL, "careful", {"metadata": {"annotations": {"ddmsp.io/retry": "1"}}})
    op.wait_condition(PLURAL, "careful", "Ready")
    assert len(orgs_named(sim, "Careful")) == 1
    keys = secret_data(op.api, op.namespace, "shared-keys")
    assert keys is not None and keys["api-key"] and keys["note"] == "someone else's"


def test_two_objects_claiming_one_secret_get_a_conflict_not_a_tug_of_war(
    operator: Operator,
) -> None:
    op, sim = operator, operator.sim
    port = metered(op)
    op.start()
    op.apply(PLURAL, org("first", "First", credentialsSecretName="keys"))
    op.wait_condition(PLURAL, "first", "Ready")
    waits = reconciles(port, KIND, "waiting")
    op.apply(PLURAL, org("second", "Second", credentialsSecretName="keys"))
    conflict = op.wait_condition(PLURAL, "second", "Ready", "False", "Conflict")
    assert "DatadogClientOrg" in conflict["message"] and "first" in conflict["message"]
    # the pass that found the conflict is over (its next one is 30 s away)
    wait_reconciles(port, n=1, kind=KIND, outcome="waiting", since=waits)
    assert orgs_named(sim, "Second") == []
    assert len(orgs_named(sim, "First")) == 1
    assert op.condition(PLURAL, "first", "Ready")["status"] == "True"


def test_an_unwritable_secret_stops_the_create_before_any_org(operator: Operator) -> None:
    op, sim = operator, operator.sim
    core = client.CoreV1Api(op.api)
    core.create_namespaced_secret(op.namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="frozen-datadog-credentials", labels={
            "ddmsp.io/owner-kind": "DatadogClientOrg", "ddmsp.io/owner-name": "frozen",
            "app.kubernetes.io/managed-by": "ddmsp"}),
        immutable=True))
    port = metered(op)
    op.start()
    op.apply(PLURAL, org("frozen", "Frozen"))
    waiting = op.wait_condition(PLURAL, "frozen", "Ready", "False", "SecretNotWritable")
    assert "frozen-datadog-credentials" in waiting["message"]
    # the pass that found it unwritable is over (its next one is 30 s away)
    wait_reconciles(port, n=1, kind=KIND, outcome="waiting", since=0)
    assert orgs_named(sim, "Frozen") == []
    core.delete_namespaced_secret("frozen-datadog-credentials", op.namespace)
    op.patch(PLURAL, "frozen", {"metadata": {"annotations": {"ddmsp.io/retry": "now"}}})
    op.wait_condition(PLURAL, "frozen", "Ready")
    assert len(orgs_named(sim, "Frozen")) == 1


def test_a_shutdown_waits_for_a_create_in_flight(operator: Operator) -> None:
    op, sim = operator, operator.sim
    sim.add_fault(route="POST /api/v1/org", latency_ms=4000)
    op.start()
    op.apply(PLURAL, org("slow", "Slow"))
    wait_for(lambda: "ddmsp.io/create-pending" in (
        op.get(PLURAL, "slow")["metadata"].get("annotations") or {}), what="create started")
    assert op.process.proc is not None
    op.process.proc.send_signal(signal.SIGTERM)
    assert op.process.wait_exit(timeout=40) is not None
    keys = secret_data(op.api, op.namespace, "slow-datadog-credentials")
    assert keys is not None and keys.get("api-key"), op.process.log()[-2000:]
    assert len(orgs_named(sim, "Slow")) == 1
    op.start()
    op.wait_condition(PLURAL, "slow", "Ready")
    assert len(orgs_named(sim, "Slow")) == 1


def test_a_second_operator_waits_for_the_lease_then_takes_over(operator: Operator,
                                                               tmp_path: Path) -> None:
    op, sim = operator, operator.sim
    op.process.extra_args += ["--lease-duration", "3"]
    op.start()
    wait_for(lambda: "acquired Lease" in op.process.log(), what="the first process leads")
    second = OperatorProcess(op.cluster.kubeconfig, sim.base_url, [op.namespace],
                             tmp_path / "second.log", extra_env=op.process.extra_env,
                             extra_args=["--lease-duration", "3"]).start()
    try:
        wait_for(lambda: "waiting for Lease" in second.log(), what="the second process waits")
        for i in range(3):
            op.apply(PLURAL, org(f"c{i}", f"Client {i}"))
        for i in range(3):
            op.wait_condition(PLURAL, f"c{i}", "Ready")
            assert len(orgs_named(sim, f"Client {i}")) == 1
        assert "created child org" not in second.log()
        op.process.kill()  # no release: the Lease must expire
        op.apply(PLURAL, org("after", "After"))
        op.wait_condition(PLURAL, "after", "Ready", timeout=60)
        assert "acquired Lease" in second.log()
        assert len(orgs_named(sim, "After")) == 1
        for i in range(3):
            assert len(orgs_named(sim, f"Client {i}")) == 1
    finally:
        second.stop()


def test_adopt_cannot_be_added_after_the_org_was_created(operator: Operator) -> None:
    op = operator
    op.start()
    op.apply(PLURAL, org("made", "Made"))
    op.wait_condition(PLURAL, "made", "Ready")
    made = op.get(PLURAL, "made")["status"]["clientOrg"]["publicId"]
    put_secret(op.api, op.namespace, "other-keys", {"api-key": "a" * 32, "app-key": "b" * 40})
    op.patch(PLURAL, "made", {"spec": {"adopt": {"publicId": "other0000000000",
                                                 "credentialsSecretRef": {"name": "other-keys"}}}})
    stalled = op.wait_condition(PLURAL, "made", "Stalled", "True", "AdoptAfterCreate")
    assert made in stalled["message"]
    assert op.get(PLURAL, "made")["status"]["clientOrg"]["publicId"] == made


def test_paused_objects_do_not_claim_to_have_handled_a_new_generation(
    operator: Operator,
) -> None:
    op = operator
    port = metered(op)
    op.start()
    op.apply(PLURAL, org("gen", "Gen One"))
    op.wait_condition(PLURAL, "gen", "Ready")
    op.patch(PLURAL, "gen", {"metadata": {"annotations": {"ddmsp.io/paused": "true"}}})
    op.wait_condition(PLURAL, "gen", "Synced", "False", "ReconcilePaused")
    passes = reconciles(port, KIND)
    op.patch(PLURAL, "gen", {"spec": {"displayName": "Gen Two"}})
    wait_reconciles(port, n=1, kind=KIND, since=passes)  # the pass over generation 2 is over
    body = op.get(PLURAL, "gen")
    assert body["metadata"]["generation"] == 2
    assert body["status"]["observedGeneration"] == 1  # the rename was not applied
    op.patch(PLURAL, "gen", {"metadata": {"annotations": {"ddmsp.io/paused": None}}})
    wait_for(lambda: op.get(PLURAL, "gen")["status"].get("observedGeneration") == 2,
             what="observedGeneration 2 once applied")
    op.wait_condition(PLURAL, "gen", "Ready")


def test_observe_only_drift_is_reported_once_per_distinct_drift(operator: Operator) -> None:
    op, sim = operator, operator.sim
    op.process.extra_args += ["--drift-interval", "1"]
    port = metered(op)
    op.start()
    op.apply(PLURAL, org("owner", "Owned Name"))
    op.wait_condition(PLURAL, "owner", "Ready")
    keys = secret_data(op.api, op.namespace, "owner-datadog-credentials")
    assert keys is not None
    put_secret(op.api, op.namespace, "watch-keys",
               {"api-key": keys["api-key"], "app-key": keys["app-key"]})
    org_id = op.get(PLURAL, "owner")["status"]["clientOrg"]["publicId"]
    op.apply(PLURAL, org("watcher", "Other Name", managementPolicy="ObserveOnly",
                         adopt={"publicId": org_id,
                                "credentialsSecretRef": {"name": "watch-keys"}}))
    op.wait_condition(PLURAL, "watcher", "Ready", "False", "DriftDetected")
    # several drift passes of the watcher (the owner's are "ready")
    wait_reconciles(port, n=4, kind=KIND, outcome=("drifted", "waiting"))
    drift_events = [e for e in op.events("watcher") if e.reason == "DriftDetected"]
    assert len(drift_events) == 1, [e.message for e in drift_events]
    assert orgs_named(sim, "Other Name") == []


def _listing_modes() -> list[Any]:
    return [pytest.param("own", id="listing-own"), pytest.param("children", id="listing-children")]


@pytest.mark.parametrize("listing", _listing_modes())
def test_spin_off_is_never_skipped_whatever_the_listing_shows(operator: Operator,
                                                              listing: str) -> None:
    op, sim = operator, operator.sim
    sim.set_config(org_listing=listing)
    op.start()
    op.apply(PLURAL, org("dpn", "Dpn Client", provisioning="SpinOff"))
    confirm_registration(op, "dpn")
    op.wait_condition(PLURAL, "dpn", "Ready")
    status = op.get(PLURAL, "dpn")["status"]
    parent = next(o for o in sim.snapshot()["orgs"]
                  if o["public_id"] == status["parentOrg"]["publicId"])
    assert parent["spun_off"] and parent["parent"] is None
    assert status["parentOrg"]["spunOff"] and status["parentOrg"]["spunOffAt"]
    assert sim.call_count("POST /api/v1/org/{public_id}/downgrade", 200) == 1


def test_missing_key_permissions_name_the_permission_and_the_secret(operator: Operator) -> None:
    op, sim = operator, operator.sim
    sim.set_org_permissions(sim.partner_public_id, ["usage_read"])
    op.start()
    op.apply(PLURAL, org("denied", "Denied"))
    waiting = op.wait_condition(PLURAL, "denied", "Ready", "False", "MissingPermission")
    assert "`org_management`" in waiting["message"]
    assert f"Secret {op.namespace}/partner" in waiting["message"]
    assert orgs_named(sim, "Denied") == []
    sim.set_org_permissions(sim.partner_public_id, None)
    op.patch(PLURAL, "denied", {"metadata": {"annotations": {"ddmsp.io/retry": "1"}}})
    op.wait_condition(PLURAL, "denied", "Ready")
    assert len(orgs_named(sim, "Denied")) == 1
