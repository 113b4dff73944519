"""The operator's identity in a client org (issue 21 items 1 and 3), end to end: real
kube-apiserver, the simulator over HTTP, the operator as a process.

A new org is handed over to a service account of its own (the bootstrap key, a person's,
revoked only after the new key is proven and stored); disabling that person changes nothing;
existing orgs migrate; SIGKILLs at every step leave one service account and a working key;
a refused key is named in KeysInvalid and counted in ddmsp_keys_invalid.
"""

from __future__ import annotations

import signal
import socket
import time
import urllib.request
from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from ddmsp.simulator.state import PERMISSIONS_BY_NAME, new_app_key
from tests.integration.conftest import Operator, put_secret, secret_data
from tests.integration.test_clientorg import PLURAL, assert_no_keys_leaked, org
from tests.support.operator import wait_for
from tests.support.secrecy import works

pytestmark = pytest.mark.kube
ROLES = "datadogroles"
KEYS = "datadogapikeys"
EMAIL_PREFIX = "ddmsp-operator+"


def service_accounts(sim: RunningSimulator, public_id: str) -> list[Any]:
    return [u for u in sim.state.users.get(public_id, {}).values() if u.service_account]


def app_key_records(sim: RunningSimulator, public_id: str) -> list[dict[str, Any]]:
    snap = sim.snapshot()
    found = next(o for o in snap["orgs"] if o["public_id"] == public_id)
    return list(found.get("app_key_records") or [])


def key_works(sim: RunningSimulator, keys: dict[str, str], public_id: str) -> bool:
    owner = sim.state.org_for_keys(keys["api-key"], keys["app-key"])
    return owner is not None and owner.public_id == public_id


def revoked(records: list[dict[str, Any]], key_id: str) -> bool:
    """Deleted (gone from the org) or marked revoked."""
    rec = next((r for r in records if r["id"] == key_id), None)
    return rec is None or bool(rec.get("revoked"))


def assert_handed_over(op: Operator, name: str, *, bootstrap_revoked: bool = True,
                       settle: float = 60) -> dict[str, Any]:
    """One service account (Datadog Admin Role) owns the Secret's working key; status names
    the IDs; the bootstrap key is revoked (or kept, as asked).

    Never two service accounts, at any moment. The rest settles within a pass: the Secret is
    written mid-pass and status at its end (Ready stays True throughout a rotation, so a wait
    for Ready does not wait for it), and a replaced key is revoked after its swap; so those
    are awaited for up to ``settle`` seconds, then asserted."""
    deadline = time.monotonic() + settle
    while True:
        record = op.get(PLURAL, name)["status"]["clientOrg"]
        assert len(service_accounts(op.sim, record["publicId"])) == 1, \
            "exactly one service account"
        try:
            return _handed_over(op, name, bootstrap_revoked)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _handed_over(op: Operator, name: str, bootstrap_revoked: bool) -> dict[str, Any]:
    sim = op.sim
    record = op.get(PLURAL, name)["status"]["clientOrg"]
    sa = record["serviceAccount"]
    keys = secret_data(op.api, op.namespace, record["credentialsSecret"])
    assert keys is not None
    public_id = record["publicId"]
    accounts = service_accounts(sim, public_id)
    assert [a.id for a in accounts] == [sa["id"]], "exactly one service account"
    assert accounts[0].email.startswith(EMAIL_PREFIX)
    assert keys["service-account-id"] == sa["id"]
    assert keys["app-key-id"] == sa["applicationKeyId"]
    assert not keys.get("app-key-next")
    works(key_works(sim, keys, public_id), "the key works")
    owned = sim.state.app_key_record(keys["app-key"])
    assert owned is not None and owned.owner_id == sa["id"]
    assert owned.id == sa["applicationKeyId"]
    sa_keys = [r for r in app_key_records(sim, public_id)
               if r["owner"] == sa["id"] and not r.get("revoked")]
    assert [r["id"] for r in sa_keys] == [sa["applicationKeyId"]], "one key of the account"
    assert sa["bootstrapKeyId"] and sa["bootstrapKeyId"] != sa["applicationKeyId"]
    records = app_key_records(sim, public_id)
    assert revoked(records, sa["bootstrapKeyId"]) == bootstrap_revoked
    assert bool(sa.get("bootstrapKeyRevoked")) == bootstrap_revoked
    return record


def test_a_new_org_ends_ready_owned_by_a_service_account(operator: Operator) -> None:
    op = operator
    op.start()
    op.apply(PLURAL, org("acme", "Acme SA"))
    op.apply(PLURAL, org("spin", "Spin SA", provisioning="SpinOff"))
    op.wait_condition(PLURAL, "acme", "Ready", timeout=90)
    record = assert_handed_over(op, "acme")
    # the hand-over's steps are told in one event, in order
    told = [e.message for e in op.events("acme") if e.reason == "KeyHandedOver"]
    assert len(told) == 1, told
    steps = [told[0].find(step) for step in (
        "created service account", "the operator now uses application key",
        "revoked the bootstrap application key")]
    assert -1 not in steps and steps == sorted(steps), told[0]
    sa = record["serviceAccount"]
    assert sa["handedOverAt"] <= sa["bootstrapKeyRevokedAt"]
    keys_invalid = op.condition(PLURAL, "acme", "KeysInvalid")
    assert keys_invalid is not None and keys_invalid["status"] == "False"
    # SpinOff: the client org is handed over; the parent keeps its bootstrap key
    from tests.integration.test_clientorg import confirm_registration
    confirm_registration(op, "spin", timeout=90)
    op.wait_condition(PLURAL, "spin", "Ready", timeout=90)
    assert_handed_over(op, "spin")
    assert "serviceAccount" not in op.get(PLURAL, "spin")["status"]["parentOrg"]
    # no key value outside its Secret
    keys = secret_data(op.api, op.namespace, record["credentialsSecret"]) or {}
    spin = secret_data(op.api, op.namespace, "spin-datadog-credentials") or {}
    assert_no_keys_leaked(op, [keys["api-key"], keys["app-key"], spin["app-key"]],
                          ["acme", "spin"])


def test_disabling_the_bootstrap_owner_changes_nothing(operator: Operator) -> None:
    op, sim = operator, operator.sim
    op.process.extra_args = ["--drift-interval", "3"]
    op.start()
    op.apply(PLURAL, org("acme", "Acme Leaver"))
    op.wait_condition(PLURAL, "acme", "Ready", timeout=90)
    record = assert_handed_over(op, "acme")
    public_id = record["publicId"]
    people = [u for u in sim.state.users.get(public_id, {}).values()
              if not u.service_account and not u.disabled]
    assert people, "the org's first user (the bootstrap key's owner)"
    for person in people:  # the person leaves the MSP
        sim.state.disable_user(sim.state.orgs[public_id], person.id)
    op.apply(ROLES, {"kind": "DatadogRole", "metadata": {"name": "sre"},
                     "spec": {"orgRef": {"name": "acme"}, "permissions": ["logs_read_data"]}})
    op.wait_condition(ROLES, "sre", "Ready", timeout=90)
    op.patch(PLURAL, "acme", {"spec": {"displayName": "Acme Renamed"}})
    wait_for(lambda: sim.state.orgs[public_id].name == "Acme Renamed", timeout=60,
             what="rename with the service account's key")
    op.wait_condition(PLURAL, "acme", "Ready", timeout=60)
    assert op.condition(PLURAL, "acme", "KeysInvalid")["status"] == "False"


def test_existing_orgs_migrate_on_their_next_pass(operator: Operator) -> None:
    op, sim = operator, operator.sim
    # an org made before the feature: its Secret holds only the bootstrap keys
    partner = sim.state.orgs[sim.partner_public_id]
    legacy, api_key, app_key = sim.state.create_child_org(partner, "Legacy Org")
    put_secret(op.api, op.namespace, "legacy-datadog-credentials", {
        "api-key": api_key, "app-key": app_key, "site": "datadoghq.com",
        "org-public-id": legacy.public_id, "org-name": "Legacy Org"})
    labels = {"app.kubernetes.io/managed-by": "ddmsp", "ddmsp.io/owner-kind":
              "DatadogClientOrg", "ddmsp.io/owner-name": "legacy"}
    client.CoreV1Api(op.api).patch_namespaced_secret(
        "legacy-datadog-credentials", op.namespace, {"metadata": {"labels": labels}})
    op.start()
    op.apply(PLURAL, org("legacy", "Legacy Org"))
    op.apply(PLURAL, org("kept", "Kept Org", credentials={"keepBootstrapKey": True}))
    op.wait_condition(PLURAL, "legacy", "Ready", timeout=90)
    record = assert_handed_over(op, "legacy")
    assert record["publicId"] == legacy.public_id
    works(not key_works(sim, {"api-key": api_key, "app-key": app_key}, legacy.public_id),
          "the key is refused")

    # keepBootstrapKey: the service account's key is used, the bootstrap key still works
    op.wait_condition(PLURAL, "kept", "Ready", timeout=90)
    assert_handed_over(op, "kept", bootstrap_revoked=False)
    # turning the opt-out off revokes it on the next pass
    op.patch(PLURAL, "kept", {"spec": {"credentials": {"keepBootstrapKey": False}}})
    wait_for(lambda: (op.get(PLURAL, "kept")["status"]["clientOrg"]["serviceAccount"]
                      .get("bootstrapKeyRevoked")), timeout=60, what="bootstrap key revoked")
    op.wait_condition(PLURAL, "kept", "Ready", timeout=60)
    assert_handed_over(op, "kept")


# Every step of the hand-over (controllers/serviceaccount.py).
POINTS = [
    "before-create-service-account",
    "after-create-service-account-call",
    "after-service-account-secret-write",
    "before-create-service-account-key",
    "after-create-service-account-key-call",
    "after-service-account-key-secret-write",
    "after-service-account-key-proven",
    "after-service-account-key-swap",
    "before-revoke-bootstrap-key",
]


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_every_step_of_the_hand_over(operator: Operator, point: str) -> None:
    op = operator
    op.start(crash_at=point)
    op.apply(PLURAL, org("victim", f"SA {point[:26]}"))
    assert op.process.wait_exit(timeout=90) == -signal.SIGKILL, op.process.log()[-2000:]
    op.start()  # a fresh operator, as after a node failure
    op.wait_condition(PLURAL, "victim", "Ready", timeout=120)
    assert_handed_over(op, "victim")
    op.process.stop()  # and a further restart changes nothing
    op.start()
    op.wait_condition(PLURAL, "victim", "Ready", timeout=60)
    assert_handed_over(op, "victim")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_key_raises_keys_invalid_and_the_metric(operator: Operator) -> None:
    op = operator
    port = _free_port()
    op.process.extra_args = ["--metrics-port", str(port), "--drift-interval", "3"]
    op.start()
    op.apply(PLURAL, org("acme", "Acme Refused"))
    op.wait_condition(PLURAL, "acme", "Ready", timeout=90)
    record = op.get(PLURAL, "acme")["status"]["clientOrg"]
    secret = record["credentialsSecret"]
    good = secret_data(op.api, op.namespace, secret) or {}
    key_id = record["serviceAccount"]["applicationKeyId"]

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return str(resp.read().decode())

    series = (f'ddmsp_keys_invalid{{key="application",kind="DatadogClientOrg",name="acme",'
              f'namespace="{op.namespace}"}}')
    bad = new_app_key()  # Datadog answers a revoked key and an unknown one alike (403)
    client.CoreV1Api(op.api).patch_namespaced_secret(
        secret, op.namespace, {"stringData": {"app-key": bad}})
    found = op.wait_condition(PLURAL, "acme", "KeysInvalid", "True", "ApplicationKeyRefused",
                              timeout=90)
    assert f"Secret {op.namespace}/{secret}" in found["message"]
    assert key_id in found["message"] and "recover" in found["message"]
    assert op.condition(PLURAL, "acme", "Ready")["status"] == "False"
    wait_for(lambda: f"{series} 1.0" in scrape(), timeout=30, what="ddmsp_keys_invalid 1")
    assert "ddmsp_key_validation_failures_total{" in scrape()
    # a refused API key is told apart (GET /api/v1/validate checks it alone)
    client.CoreV1Api(op.api).patch_namespaced_secret(
        secret, op.namespace, {"stringData": {"app-key": good["app-key"],
                                              "api-key": "0" * 32}})
    op.wait_condition(PLURAL, "acme", "KeysInvalid", "True", "APIKeyRefused", timeout=90)
    # restored: valid again, metric back to 0
    client.CoreV1Api(op.api).patch_namespaced_secret(
        secret, op.namespace, {"stringData": {"api-key": good["api-key"]}})
    op.wait_condition(PLURAL, "acme", "KeysInvalid", "False", timeout=90)
    op.wait_condition(PLURAL, "acme", "Ready", timeout=60)
    wait_for(lambda: f"{series} 0.0" in scrape(), timeout=30, what="ddmsp_keys_invalid 0")
    assert_no_keys_leaked(op, [bad, good["app-key"], good["api-key"]], ["acme"])


# ---------------------------------------------------------------- the operator's key rotates
ROTATE_NOW = "ddmsp.io/rotate-now"


def credentials(op: Operator, name: str) -> dict[str, str]:
    record = op.get(PLURAL, name)["status"]["clientOrg"]
    found = secret_data(op.api, op.namespace, record["credentialsSecret"])
    assert found is not None
    return found


def rotated_from(op: Operator, name: str, key_id: str, timeout: float = 90) -> dict[str, str]:
    """The credentials once the Secret's app key is no longer ``key_id``."""
    found: dict[str, str] = wait_for(
        lambda: (k := credentials(op, name)).get("app-key-id") not in (None, "", key_id) and k,
        timeout=timeout, what=f"the operator's key {key_id} replaced")
    return found


def test_the_operators_key_rotates_on_demand_and_when_due(operator: Operator) -> None:
    op, sim = operator, operator.sim
    op.start()
    op.apply(PLURAL, org("acme", "Acme Rotates",
                         credentials={"rotation": {"every": "24h", "gracePeriod": "15s"}}))
    op.wait_condition(PLURAL, "acme", "Ready", timeout=90)
    record = assert_handed_over(op, "acme")
    public_id, sa = record["publicId"], record["serviceAccount"]
    assert sa["nextRotation"] > sa["handedOverAt"]  # ~24h on
    first = credentials(op, "acme")
    assert first["app-key-created-at"]

    # On demand: a new key of the account in the Secret; the replaced one works until
    # the grace period ends, then Datadog refuses it.
    op.patch(PLURAL, "acme", {"metadata": {"annotations": {ROTATE_NOW: "2026-12-06T12:00:00Z"}}})
    second = rotated_from(op, "acme", first["app-key-id"])
    works(key_works(sim, second, public_id), "the key works")
    works(key_works(sim, first, public_id), "the replaced key works during the grace period")
    owned = sim.state.app_key_record(second["app-key"])
    assert owned is not None and owned.owner_id == sa["id"]
    assert second["app-key-previous-id"] == first["app-key-id"]
    wait_for(lambda: not key_works(sim, first, public_id), timeout=60,
             what="the replaced key revoked after the grace period")
    after = wait_for(lambda: (s := op.get(PLURAL, "acme")["status"]["clientOrg"]
                              ["serviceAccount"]).get("previousApplicationKeyId") is None and s,
                     timeout=30, what="status forgets the revoked key")
    assert after["applicationKeyId"] == second["app-key-id"]
    assert after["rotateNowHandled"] == "2026-12-06T12:00:00Z" and after["lastRotation"]
    op.wait_condition(PLURAL, "acme", "Ready", timeout=60)
    assert_handed_over(op, "acme")  # still one account, one live key of it
    reasons = [e.reason for e in op.events("acme")]
    assert "KeyRotated" in reasons and "KeyRevoked" in reasons

    # When due: a key older than `every` (its creation time backdated in the Secret, the
    # durable record) is replaced by the pass a spec change starts; grace 0s: the replaced
    # key is refused as soon as its successor is stored.
    client.CoreV1Api(op.api).patch_namespaced_secret(
        record["credentialsSecret"], op.namespace,
        {"stringData": {"app-key-created-at": "2026-01-01T00:00:00Z"}})
    op.patch(PLURAL, "acme", {"spec": {"credentials": {"rotation": {"gracePeriod": "0s"}}}})
    third = rotated_from(op, "acme", second["app-key-id"])
    works(key_works(sim, third, public_id), "the key works")
    wait_for(lambda: not key_works(sim, second, public_id), timeout=30,
             what="the replaced key revoked at once")
    op.wait_condition(PLURAL, "acme", "Ready", timeout=60)
    assert_handed_over(op, "acme")
    assert_no_keys_leaked(op, [first["app-key"], second["app-key"], third["app-key"]],
                          ["acme"])


ROTATION_POINTS = [
    "after-create-service-account-key-call",  # the answer lost: found, revoked, made again
    "after-service-account-key-proven",  # stored under app-key-next, not yet in use
    "before-revoke-previous-service-account-key",  # in use; the replaced key still valid
]


@pytest.mark.parametrize("point", ROTATION_POINTS)
def test_sigkill_during_a_rotation_leaves_one_working_key(operator: Operator,
                                                           point: str) -> None:
    op, sim = operator, operator.sim
    # The crash comes before the pass writes status, so the restarted operator sees a
    # Ready object and re-checks it within the restart spread (up to 60 s by default,
    # by uid): shortened here so the waits below measure the recovery, not the spread.
    op.process.extra_env["DDMSP_RESTART_SPREAD"] = "5"
    op.start()
    op.apply(PLURAL, org("victim", f"Rot {point[:26]}",
                         credentials={"rotation": {"gracePeriod": "0s"}}))
    op.wait_condition(PLURAL, "victim", "Ready", timeout=90)
    before = credentials(op, "victim")
    public_id = op.get(PLURAL, "victim")["status"]["clientOrg"]["publicId"]
    op.process.stop()
    op.start(crash_at=point)
    op.patch(PLURAL, "victim", {"metadata": {"annotations": {ROTATE_NOW: "1"}}})
    assert op.process.wait_exit(timeout=90) == -signal.SIGKILL, op.process.log()[-2000:]
    works(key_works(sim, credentials(op, "victim"), public_id), "a working key throughout")
    op.start()
    after = rotated_from(op, "victim", before["app-key-id"])
    wait_for(lambda: not key_works(sim, before, public_id), timeout=60,
             what="the replaced key revoked")
    op.wait_condition(PLURAL, "victim", "Ready", timeout=60)
    works(key_works(sim, after, public_id), "the key works")
    assert_handed_over(op, "victim")  # one account, exactly one live key of it


def test_a_revoked_org_key_is_named_by_the_objects_acting_in_the_org(
        operator: Operator) -> None:
    """Issue 21 item 3 for the kinds acting in an org: its operator key revoked out of band
    (a Datadog admin revokes it). A DatadogRole and a DatadogAPIKey whose next pass meets
    the 403 name the refused key in KeysInvalid (Secret, key ID, owner; never the value)
    instead of a missing permission; a new key of the service account put in the Secret
    (docs/credentials.md, Recovery) ends both waits."""
    op, sim = operator, operator.sim
    op.start()
    op.apply(PLURAL, org("acme", "Acme Revoked"))
    op.wait_condition(PLURAL, "acme", "Ready", timeout=90)
    record = assert_handed_over(op, "acme")
    public_id, secret, sa = (record["publicId"], record["credentialsSecret"],
                             record["serviceAccount"])
    op.apply(ROLES, {"kind": "DatadogRole", "metadata": {"name": "sre"},
                     "spec": {"orgRef": {"name": "acme"}, "permissions": ["logs_read_data"]}})
    op.apply(KEYS, {"kind": "DatadogAPIKey", "metadata": {"name": "agents"},
                    "spec": {"orgRef": {"name": "acme"}, "secretRef": {"name": "agents-key"}}})
    op.wait_condition(ROLES, "sre", timeout=90)
    op.wait_condition(KEYS, "agents", timeout=90)

    sim.state.delete_app_key(sim.state.orgs[public_id], sa["applicationKeyId"])
    # a change of each starts its next pass (the org's own drift check is 10 min away, so
    # the org stays Ready and its dependents reach Datadog with the revoked key)
    op.patch(ROLES, "sre", {"spec": {"permissions": ["logs_read_data", "monitors_write"]}})
    op.patch(KEYS, "agents", {"metadata": {"annotations": {ROTATE_NOW: "2026-12-06T12:00:00Z"}}})
    for plural, name in ((ROLES, "sre"), (KEYS, "agents")):
        ready = op.wait_condition(plural, name, "Ready", "False", "KeysInvalid", timeout=90)
        named = op.condition(plural, name, "KeysInvalid")
        assert named is not None and named["status"] == "True"
        assert named["reason"] == "ApplicationKeyRefused"
        for text in (ready["message"], named["message"]):
            assert f"Secret {op.namespace}/{secret}" in text, text
            assert sa["applicationKeyId"] in text and f"service account {sa['id']}" in text
            assert "lack the" not in text, "a refused key, not a missing permission"
    assert op.condition(PLURAL, "acme", "Ready")["status"] == "True"

    # Recovery: a new key of the service account, its value and ID in the Secret.
    made, value = sim.state.create_app_key(sim.state.orgs[public_id], sa["id"], "recovered",
                                           None)
    client.CoreV1Api(op.api).patch_namespaced_secret(
        secret, op.namespace, {"stringData": {"app-key": value, "app-key-id": made.id}})
    for plural, name in ((ROLES, "sre"), (KEYS, "agents")):
        op.wait_condition(plural, name, timeout=90)
        op.wait_condition(plural, name, "KeysInvalid", "False", "KeysAccepted", timeout=30)
    role_id = op.get(ROLES, "sre")["status"]["roleId"]
    granted = set(sim.state.orgs[public_id].roles[role_id].permission_ids)
    assert PERMISSIONS_BY_NAME["monitors_write"]["id"] in granted, \
        "the role's change applied with the new key"
    texts = "\n".join(f"{e.reason} {e.message}" for n in ("sre", "agents")
                      for e in op.events(n))
    leaked = value in texts or value in op.process.log()
    assert not leaked, "the new key's value outside its Secret"
