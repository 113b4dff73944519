"""Adopted orgs handed over to the operator's own service account (issue 21, item 1;
controllers/adoptedkeys.py), end to end: real kube-apiserver, the simulator over HTTP, the
operator as a process.

The adopt Secret is never written and its key never revoked; the operator's own Secret, with
a service account's key, drives the org, rotates, goes to escrow on deletion and is resumed
from when the object is applied again; SIGKILLs leave one service account; ObserveOnly and
spec.credentials.useAdoptSecret create nothing.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest
from kubernetes import client

from ddmsp.controllers.keyescrow import escrow_name
from ddmsp.controllers.serviceaccount import service_account_email
from tests.integration.conftest import Operator, put_secret, secret_data
from tests.integration.test_clientorg import PLURAL, assert_no_keys_leaked, org
from tests.integration.test_service_account import (
    ROTATE_NOW,
    assert_handed_over,
    key_works,
    rotated_from,
    service_accounts,
)
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube
FINALIZER = "ddmsp.io/finalizer"
SA_CREATE = "POST /api/v2/service_accounts"


def adoptable(op: Operator, display: str, secret: str) -> tuple[str, dict[str, str]]:
    """An org made outside the operator (by hand, with the partner's keys) and a Secret of
    the user's with its bootstrap keys, as one adopts it."""
    sim = op.sim
    made, api_key, app_key = sim.state.create_child_org(
        sim.state.orgs[sim.partner_public_id], display)
    keys = {"api-key": api_key, "app-key": app_key}
    put_secret(op.api, op.namespace, secret, keys)
    return made.public_id, keys


def adopt(name: str, public_id: str, secret: str, display: str, **spec: Any) -> dict[str, Any]:
    return org(name, display,
               adopt={"publicId": public_id, "credentialsSecretRef": {"name": secret}}, **spec)


def raw_secret(op: Operator, name: str) -> client.V1Secret:
    return client.CoreV1Api(op.api).read_namespaced_secret(name, op.namespace)


def assert_adopt_secret_untouched(op: Operator, name: str, keys: dict[str, str],
                                  public_id: str) -> None:
    """Its data is as the user wrote it, no finalizer of ours stays, the key still works."""
    secret = raw_secret(op, name)
    assert secret_data(op.api, op.namespace, name) == keys
    assert FINALIZER not in (secret.metadata.finalizers or [])
    assert not (secret.metadata.labels or {}), "never labelled"
    assert key_works(op.sim, keys, public_id), "the adopt key is never revoked"


def sa_creates(op: Operator) -> int:
    """Service accounts made (answers 2xx)."""
    return sum(n for status, n in op.sim.state.calls().get(SA_CREATE, {}).items()
               if status < 300)


def test_adopted_org_is_driven_by_its_own_service_account(operator: Operator) -> None:
    op, sim = operator, operator.sim
    op.process.extra_env["DDMSP_ESCROW_NAMESPACE"] = op.namespace
    acme, acme_keys = adoptable(op, "Adopted Acme", "acme-keys")
    watched, watched_keys = adoptable(op, "Adopted Watched", "watched-keys")
    kept, kept_keys = adoptable(op, "Adopted Kept", "kept-keys")
    weak, weak_keys = adoptable(op, "Adopted Weak", "weak-keys")
    # keys that read the org and its users but may not make a service account
    sim.set_key_permissions(weak_keys["app-key"],
                            ["org_management", "user_access_read", "user_app_keys"])
    op.start()
    op.apply(PLURAL, adopt("acme", acme, "acme-keys", "Adopted Acme",
                           credentials={"rotation": {"gracePeriod": "0s"}}))
    op.apply(PLURAL, adopt("watched", watched, "watched-keys", "Adopted Watched",
                           managementPolicy="ObserveOnly"))
    op.apply(PLURAL, adopt("kept", kept, "kept-keys", "Adopted Kept",
                           credentials={"useAdoptSecret": True}))
    op.apply(PLURAL, adopt("weak", weak, "weak-keys", "Adopted Weak"))
    for name in ("acme", "watched", "kept", "weak"):
        op.wait_condition(PLURAL, name, "Ready", timeout=90)

    # handed over: one account owns the working key of the operator's own Secret
    record = assert_handed_over(op, "acme", bootstrap_revoked=False)
    assert record["credentialsSecret"] == "acme-datadog-credentials"
    assert record["adoptSecret"] == "acme-keys" and record["adopted"] is True
    assert service_accounts(sim, acme)[0].email == service_account_email(acme)
    assert_adopt_secret_untouched(op, "acme-keys", acme_keys, acme)
    ours = raw_secret(op, "acme-datadog-credentials")
    assert FINALIZER in (ours.metadata.finalizers or [])
    assert ours.metadata.labels["ddmsp.io/owner-name"] == "acme"
    events = {e.reason: e.message for e in op.events("acme")}
    assert "created service account" in events["KeyHandedOver"]
    told = events["AdoptSecretUnused"]
    assert "acme-keys" in told and record["serviceAccount"]["bootstrapKeyId"] in told
    assert "BootstrapKeyRevoked" not in events and "bootstrap" not in events["KeyHandedOver"]

    # ObserveOnly and the opt-out: nothing created, the adopt Secret drives the org
    assert sa_creates(op) == 1, "only acme's service account"
    for name, public_id, keys in (("watched", watched, watched_keys),
                                  ("kept", kept, kept_keys)):
        assert service_accounts(sim, public_id) == []
        status = op.get(PLURAL, name)["status"]["clientOrg"]
        assert status["credentialsSecret"] == f"{name}-keys"
        assert "serviceAccount" not in status
        assert secret_data(op.api, op.namespace, f"{name}-datadog-credentials") is None
        assert key_works(sim, keys, public_id)
    # keys that may not: Ready as before, said why, nothing made, no copy of them left
    skipped = op.get(PLURAL, "weak")["status"]["clientOrg"]
    assert skipped["credentialsSecret"] == "weak-keys"
    assert skipped["serviceAccount"]["skipped"] == "HandOverNotPermitted"
    assert service_accounts(sim, weak) == []
    left = secret_data(op.api, op.namespace, "weak-datadog-credentials") or {}
    assert not left.get("api-key") and not left.get("app-key")
    assert "HandOverNotPermitted" in [e.reason for e in op.events("weak")]

    # rotation works for an adopted org; the adopt key is still never touched
    first = secret_data(op.api, op.namespace, "acme-datadog-credentials") or {}
    op.patch(PLURAL, "acme", {"metadata": {"annotations": {ROTATE_NOW: "1"}}})
    second = rotated_from(op, "acme", first["app-key-id"])
    wait_for(lambda: not key_works(sim, first, acme), timeout=60,
             what="the replaced service-account key revoked")
    op.wait_condition(PLURAL, "acme", "Ready", timeout=60)
    assert_handed_over(op, "acme", bootstrap_revoked=False)
    assert_adopt_secret_untouched(op, "acme-keys", acme_keys, acme)

    # deleted: the service account's key goes to escrow, the adopt Secret is untouched
    op.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", op.namespace, PLURAL,
                                               "acme")
    wait_for(lambda: op.gone(PLURAL, "acme"), timeout=90, what="acme deleted")
    escrowed = secret_data(op.api, op.namespace, escrow_name(acme)) or {}
    assert escrowed.get("app-key") == second["app-key"], "the service account's key in escrow"
    assert FINALIZER not in (raw_secret(op, "acme-datadog-credentials").metadata.finalizers
                             or [])
    assert_adopt_secret_untouched(op, "acme-keys", acme_keys, acme)

    # another object adopting that org finds the operator's account: no second one
    op.apply(PLURAL, adopt("other", acme, "acme-keys", "Adopted Acme"))
    op.wait_condition(PLURAL, "other", "Ready", timeout=90)
    sa = wait_for(lambda: (op.get(PLURAL, "other")["status"]["clientOrg"]
                           .get("serviceAccount") or {}).get("skipped") and
                  op.get(PLURAL, "other")["status"]["clientOrg"]["serviceAccount"],
                  timeout=30, what="the hand-over skipped")
    assert sa["skipped"] == "ServiceAccountExists"
    assert service_accounts(sim, acme)[0].id in sa["note"]
    assert len(service_accounts(sim, acme)) == 1
    assert op.get(PLURAL, "other")["status"]["clientOrg"]["credentialsSecret"] == "acme-keys"
    op.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", op.namespace, PLURAL,
                                               "other")
    wait_for(lambda: op.gone(PLURAL, "other"), timeout=90, what="other deleted")
    escrowed = secret_data(op.api, op.namespace, escrow_name(acme)) or {}
    assert escrowed.get("app-key") == second["app-key"], "not replaced by the adopt keys"

    # applied again: resumed from the operator's Secret, same account, same key
    op.apply(PLURAL, adopt("acme", acme, "acme-keys", "Adopted Acme"))
    op.wait_condition(PLURAL, "acme", "Ready", timeout=90)
    again = assert_handed_over(op, "acme", bootstrap_revoked=False)
    assert again["serviceAccount"]["applicationKeyId"] == second["app-key-id"]
    assert sa_creates(op) == 1
    assert_adopt_secret_untouched(op, "acme-keys", acme_keys, acme)

    # moved (docs/operations.md): the operator's Secret copied, labelled as the new object's,
    # and adopted is the operator's own by its label: used and rotated in place, nothing made
    op.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", op.namespace, PLURAL,
                                               "acme")
    wait_for(lambda: op.gone(PLURAL, "acme"), timeout=90, what="acme deleted again")
    put_secret(op.api, op.namespace, "moved-keys",
               secret_data(op.api, op.namespace, "acme-datadog-credentials") or {})
    client.CoreV1Api(op.api).patch_namespaced_secret("moved-keys", op.namespace, {
        "metadata": {"labels": {"app.kubernetes.io/managed-by": "ddmsp",
                                "ddmsp.io/owner-kind": "DatadogClientOrg",
                                "ddmsp.io/owner-name": "moved"}}})
    op.apply(PLURAL, adopt("moved", acme, "moved-keys", "Adopted Acme",
                           credentials={"rotation": {"gracePeriod": "0s"}}))
    op.wait_condition(PLURAL, "moved", "Ready", timeout=90)
    moved = op.get(PLURAL, "moved")["status"]["clientOrg"]
    assert moved["credentialsSecret"] == moved["adoptSecret"] == "moved-keys"
    assert moved["serviceAccount"]["id"] == again["serviceAccount"]["id"]
    op.patch(PLURAL, "moved", {"metadata": {"annotations": {ROTATE_NOW: "2"}}})
    third = rotated_from(op, "moved", second["app-key-id"])
    assert_handed_over(op, "moved", bootstrap_revoked=False)
    assert sa_creates(op) == 1
    assert secret_data(op.api, op.namespace, "moved-datadog-credentials") is None
    assert_no_keys_leaked(op, [*acme_keys.values(), first["app-key"], second["app-key"],
                               third["app-key"]], ["moved", "watched", "kept"])


# A few steps of the hand-over (the created-org test kills at every one of them)
POINTS = [
    "after-create-service-account-call",  # the account exists, its ID only in the answer
    "after-service-account-key-secret-write",  # the key staged, not yet proven
    "after-service-account-key-swap",  # in use, status not yet written
]


@pytest.mark.parametrize("point", POINTS)
def test_adopted_org_sigkill_at_a_hand_over_step_leaves_one_account(operator: Operator,
                                                                    point: str) -> None:
    op = operator
    display = f"Adopt {point[:24]}"
    public_id, keys = adoptable(op, display, "victim-keys")
    op.start(crash_at=point)
    op.apply(PLURAL, adopt("victim", public_id, "victim-keys", display))
    assert op.process.wait_exit(timeout=90) == -signal.SIGKILL, op.process.log()[-2000:]
    assert key_works(op.sim, keys, public_id)
    op.start()  # a fresh operator, as after a node failure
    op.wait_condition(PLURAL, "victim", "Ready", timeout=120)
    record = assert_handed_over(op, "victim", bootstrap_revoked=False)
    assert record["credentialsSecret"] == "victim-datadog-credentials"
    assert_adopt_secret_untouched(op, "victim-keys", keys, public_id)
