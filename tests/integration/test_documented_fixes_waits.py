"""docs/operations.md's waits end as documented: the cause goes away (or a human does what
the table says) and the object reaches Ready by itself.

Why: a wait that never ends, or ends only after a restart, is a Stalled object in disguise.
Each case produces the wait (mostly with one injected answer of the simulator), checks the
reason, then lets it end. The cases share one operator process and one org.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator.state import new_api_key, new_app_key
from tests.integration.conftest import Operator, put_secret, secret_data
from tests.integration.test_adoption import ORGS, ROLES, USERS, delete, role, user
from tests.integration.test_adoption import client_org as apply_org
from tests.integration.test_clientorg import (
    PLURAL,
    assert_no_keys_leaked,
    confirm_registration,
    org,
    orgs_named,
)
from tests.integration.test_saml import SAML, put_config_map, saml
from tests.integration.test_service_account import (
    app_key_records,
    assert_handed_over,
    key_works,
    revoked,
    service_accounts,
)
from tests.support.operator import wait_for
from tests.support.samlmeta import metadata

pytestmark = pytest.mark.kube

ROLE_LIST = "GET /api/v2/roles"  # read by every DatadogUser pass (its roles by name)


def waits_then_ready(op: Operator, plural: str, name: str, reason: str,
                     end: Callable[[], None] | None = None) -> dict[str, Any]:
    """Ready=False with the reason, then (after ``end``, if any) Ready=True."""
    cond = op.wait_condition(plural, name, "Ready", "False", reason, timeout=90)
    if end is not None:
        end()
    op.wait_condition(plural, name, timeout=120)
    return cond


def test_waits_end_by_themselves_or_with_the_documented_step(operator: Operator) -> None:
    """DatadogError, NotFound, CredentialsInvalid, RateLimited, CreationResultUnknown (a
    user's), MetadataMissing, Conflict (an older claim) and DeletionPaused."""
    op, sim = operator, operator.sim
    op.start()
    apply_org(op, "acme")
    op.wait_condition(ORGS, "acme", timeout=90)

    # Datadog's answers to the role listing a user's pass reads, each injected a few times:
    # the wait is retried with backoff and ends when Datadog answers normally again.
    for name, fault, reason in (
        ("odd", {"status": 418, "times": 2}, "DatadogError"),
        ("missing", {"status": 404, "times": 2}, "NotFound"),
        ("refused", {"status": 401, "times": 1}, "CredentialsInvalid"),
        ("limited", {"rate_limit_storm": {"count": 6, "reset": 2}}, "RateLimited"),
    ):
        sim.add_fault(route=ROLE_LIST, **fault)
        op.apply(USERS, user(name, f"{name}@client.example"))
        waits_then_ready(op, USERS, name, reason)
        sim.clear_faults()

    # CreationResultUnknown (a user's create whose answer was lost): "a user create's
    # [result is looked up] by its email (Datadog's 409 then names this object's own user)".
    # The repeated create and the look-up happen within the same pass here, so the wait is
    # told by the event, not seen as a condition.
    sim.add_fault(route="POST /api/v2/users", commit_then_drop=True, times=1)
    op.apply(USERS, user("dropped", "dropped@client.example"))
    op.wait_condition(USERS, "dropped", timeout=90)
    assert any("found after a create whose answer was lost" in (e.message or "")
               for e in op.events("dropped"))
    pid = op.get(ORGS, "acme")["status"]["clientOrg"]["publicId"]
    assert [u.email for u in sim.state.org_users(sim.state.orgs[pid]).values()
            ].count("dropped@client.example") == 1

    # MetadataMissing: "the IdP metadata ConfigMap/Secret (or its key) to exist".
    op.apply(SAML, saml("sso", {"configMapKeyRef": {"name": "idp", "key": "xml"}}))
    waits_then_ready(op, SAML, "sso", "MetadataMissing",
                     lambda: put_config_map(op.api, op.namespace, "idp",
                                            {"xml": metadata()}))

    # Conflict: "another, older object that claims the same thing ... to go away".
    op.apply(ROLES, role("first", roleName="Shared"))
    op.wait_condition(ROLES, "first", timeout=90)
    # creationTimestamp has 1 s resolution: "second" is made in a later second, so it is the
    # younger claim
    born = datetime.fromisoformat(
        op.get(ROLES, "first")["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    wait_for(lambda: datetime.now(UTC).replace(microsecond=0) > born, timeout=10,
             what="a second after the first claim")
    op.apply(ROLES, role("second", roleName="Shared", deletionPolicy="Delete"))
    waits_then_ready(op, ROLES, "second", "Conflict", lambda: delete(op, ROLES, "first"))

    # DeletionPaused: "remove ddmsp.io/paused, or set spec.deletionPolicy: Orphan".
    op.apply(ROLES, role("held", roleName="Held", deletionPolicy="Delete"))
    op.wait_condition(ROLES, "held", timeout=90)
    op.cluster.kubectl("-n", op.namespace, "annotate", "ddrole", "held", "ddmsp.io/paused=true")
    delete(op, ROLES, "held")
    op.wait_condition(ROLES, "held", "Ready", "False", "DeletionPaused", timeout=90)
    op.cluster.kubectl("-n", op.namespace, "annotate", "ddrole", "held", "ddmsp.io/paused-")
    wait_for(lambda: op.gone(ROLES, "held"), timeout=90, what="held deleted")
    assert "Held" not in {r.name for r in sim.state.orgs[pid].roles.values()}


def test_lost_answers_wait_for_the_next_look_at_datadog(operator: Operator) -> None:
    """CreationResultPending (an org create's answer lost, waiting out
    DDMSP_CREATE_SETTLE_SECONDS for Datadog's list to show it) and AnswerLost (a spin-off's
    answer lost: "the next pass ... finds the result or repeats the step")."""
    op, sim = operator, operator.sim
    sim.set_config(org_listing="children")  # a listing that can show the lost create
    sim.add_fault(route="POST /api/v1/org", commit_then_drop=True, times=1)
    # long enough a settle time for the wait to be seen on a loaded machine
    op.process.extra_env["DDMSP_CREATE_SETTLE_SECONDS"] = "8"
    op.start()
    op.apply(PLURAL, org("lost-answer", "Lost Answer"))
    op.wait_condition(PLURAL, "lost-answer", "Ready", "False", "CreationResultPending",
                      timeout=90)
    # It showed up, but its keys were only in the lost answer: Stalled CreationResultUnknown
    # naming the candidate. "If one is this client's org, put its keys in the credentials
    # Secret (api-key, app-key, org-public-id) and the operator uses it": new keys made in
    # that org by hand.
    cond = op.wait_condition(PLURAL, "lost-answer", "Stalled", "True",
                             "CreationResultUnknown", timeout=90)
    [made] = orgs_named(sim, "Lost Answer")
    assert made in cond["message"]
    api_key, app_key = new_api_key(), new_app_key()
    sim.state._register_keys(sim.state.get_org(made), api_key, app_key)
    client.CoreV1Api(op.api).patch_namespaced_secret(
        "lost-answer-datadog-credentials", op.namespace, {"stringData": {
            "api-key": api_key, "app-key": app_key, "org-public-id": made}})
    # The docs said no more: nothing woke the Stalled object (issue 19); they now add the
    # retry annotation, as the message does.
    assert "ddmsp.io/retry" in cond["message"]
    op.cluster.kubectl("-n", op.namespace, "annotate", "ddorg", "lost-answer",
                       f"ddmsp.io/retry={time.time_ns()}", "--overwrite")
    op.wait_condition(PLURAL, "lost-answer", timeout=90)
    assert op.get(PLURAL, "lost-answer")["status"]["clientOrg"]["publicId"] == made
    assert orgs_named(sim, "Lost Answer") == [made]

    sim.add_fault(route="POST /api/v1/org/{public_id}/downgrade", commit_then_drop=True,
                  times=1)
    op.apply(PLURAL, org("initech", "Initech", provisioning="SpinOff"))
    op.wait_condition(PLURAL, "initech", "Ready", "False", "AnswerLost", timeout=90)
    op.wait_condition(PLURAL, "initech", "Ready", "False", "AwaitingRegistration", timeout=90)
    parent = op.get(PLURAL, "initech")["status"]["parentOrg"]
    assert parent["spunOff"] is True
    confirm_registration(op, "initech", timeout=90)
    op.wait_condition(PLURAL, "initech", timeout=90)


def test_waits_on_an_adopted_org_end_with_the_documented_spec_change(
        operator: Operator) -> None:
    """ServiceAccountMissing: an adopted org that keeps its adopt Secret
    (spec.credentials.useAdoptSecret) records no service account of the operator's;
    "... or a serviceAccountId in the spec" ends the wait. PartnerUnknown: an adopted org
    records no partner either; the docs' way out is naming the sink another way."""
    op, sim = operator, operator.sim
    op.start()
    made, api_key, app_key = sim.state.create_child_org(
        sim.state.orgs[sim.partner_public_id], "Adopted Keys")
    put_secret(op.api, op.namespace, "adopted-keys", {"api-key": api_key, "app-key": app_key})
    op.apply(ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": "acme"},
                    "spec": {"displayName": "Adopted Keys", "adopt": {
                        "publicId": made.public_id,
                        "credentialsSecretRef": {"name": "adopted-keys"}},
                        "credentials": {"useAdoptSecret": True}}})
    op.wait_condition(ORGS, "acme", timeout=90)
    op.apply("datadogapikeys", {"kind": "DatadogAPIKey", "metadata": {"name": "sender"},
                                "spec": {"orgRef": {"name": "acme"},
                                         "secretRef": {"name": "sender-key"},
                                         "applicationKey": {"scopes": ["dashboards_read"]}}})
    op.wait_condition("datadogapikeys", "sender", "Ready", "False", "ServiceAccountMissing",
                      timeout=90)
    account = sim.state.create_service_account(made, "senders@acme.example", "Senders", None,
                                               None)
    op.cluster.kubectl("-n", op.namespace, "patch", "ddkey", "sender", "--type=merge", "-p",
                       json.dumps({"spec": {"applicationKey": {"serviceAccountId":
                                                               account.id}}}))
    op.wait_condition("datadogapikeys", "sender", timeout=90)
    held = secret_data(op.api, op.namespace, "sender-key")
    assert held is not None and held.get("app-key")

    # PartnerUnknown: an adopted source records no partner, so (as the docs now say) the
    # wait does not end; their way out: name the sink by its UUID instead.
    op.apply("datadogorgconnections", {
        "kind": "DatadogOrgConnection", "metadata": {"name": "to-partner"},
        "spec": {"sourceOrgRef": {"name": "acme"}, "sinkPartner": True,
                 "connectionTypes": ["metrics"]}})
    op.wait_condition("datadogorgconnections", "to-partner", "Ready", "False",
                      "PartnerUnknown", timeout=90)
    assert not op.get(ORGS, "acme")["status"].get("partner")
    partner_uuid = sim.state.orgs[sim.partner_public_id].v2_id
    op.cluster.kubectl("-n", op.namespace, "patch", "ddconn", "to-partner", "--type=merge",
                       "-p", json.dumps({"spec": {"sinkPartner": None,
                                                  "sinkOrgUUID": partner_uuid}}))
    op.wait_condition("datadogorgconnections", "to-partner", timeout=90)


def test_a_new_service_account_key_refused_at_first_waits_then_hands_over(
        operator: Operator) -> None:
    """ServiceAccountKeyNotWorking: "the new application key of the operator's service
    account to be accepted (proven with a read of the org before it replaces the bootstrap
    key; the bootstrap key stays in use meanwhile)". Datadog refuses the service account's
    new key for its first authentication (a key fault: a new key not yet valid everywhere,
    simulator/faults.py); the wait ends by itself when the key is accepted."""
    op, sim = operator, operator.sim
    op.start()
    sim.add_fault(refuse_new_app_key={"uses": 1, "owner": "service_account"})
    op.apply(PLURAL, org("slow-key", "Slow Key"))
    cond = op.wait_condition(PLURAL, "slow-key", "Ready", "False",
                             "ServiceAccountKeyNotWorking", timeout=90)

    # Meanwhile: the bootstrap key is the one in use, and not revoked; the new key waits
    # under app-key-next; one service account. (Key values stay out of assertions: a
    # failing one would print them.)
    status = op.get(PLURAL, "slow-key")["status"]
    record = status["clientOrg"]
    public_id, secret = record["publicId"], record["credentialsSecret"]
    keys = secret_data(op.api, op.namespace, secret)
    assert keys is not None
    present = {k for k, v in keys.items() if v}
    assert {"app-key", "app-key-next", "app-key-next-id"} <= present
    assert "app-key-id" not in present
    new_id = keys["app-key-next-id"]
    assert new_id in cond["message"] and "stays in use" in cond["message"]
    assert status["phase"] not in ("Ready", "Stalled")
    assert op.condition(PLURAL, "slow-key", "Reconciling")["reason"] == \
        "ServiceAccountKeyNotWorking"
    assert op.condition(PLURAL, "slow-key", "Stalled")["status"] == "False"
    [account] = service_accounts(sim, public_id)
    in_use = sim.state.app_key_record(keys["app-key"])
    assert in_use is not None and in_use.owner_id != account.id, "the bootstrap key in use"
    bootstrap_works = key_works(sim, keys, public_id)
    assert bootstrap_works, "the bootstrap key still works"
    assert not revoked(app_key_records(sim, public_id), in_use.id)
    assert not [e for e in op.events("slow-key") if "revoked the bootstrap" in e.message]
    assert sim.call_count("GET /api/v1/org/{public_id}", 403) >= 1  # the refused proof

    # The wait ends by itself: the key is accepted on the next check, then handed over
    # and the bootstrap key revoked; still one service account.
    op.wait_condition(PLURAL, "slow-key", timeout=90)
    handed = assert_handed_over(op, "slow-key")
    assert handed["serviceAccount"]["applicationKeyId"] == new_id
    assert handed["serviceAccount"]["bootstrapKeyId"] == in_use.id
    assert sim.state.refusals_left(new_id) == 0
    bootstrap_works = key_works(sim, keys, public_id)
    assert not bootstrap_works, "the bootstrap key revoked"
    assert_no_keys_leaked(op, [keys["app-key"], keys["app-key-next"]], ["slow-key"])
