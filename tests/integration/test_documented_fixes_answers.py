"""docs/operations.md's fixes for Stalled reasons that come from Datadog's answers, applied
literally: OutcomeUnknown, Conflict (a 409), InvalidRequest (a 400), OrgConfigUnavailable,
SpinOffUnconfirmed and AdminRoleMissing.

Why: these rows ask a human to look at Datadog, change the spec or record a fact; each case
here does that and expects Ready. Where the simulator has no honest way to make Datadog
answer so, the answer is injected once (a fault) and the test says so.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest

from tests.integration.conftest import Operator
from tests.integration.test_adoption import ADMIN, ORGS, ROLES, USERS, org_id, role, user
from tests.integration.test_adoption import client_org as apply_org
from tests.integration.test_clientorg import PLURAL, confirm_registration, org
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube


def stalled(op: Operator, plural: str, name: str, reason: str) -> dict[str, Any]:
    return op.wait_condition(plural, name, "Stalled", "True", reason, timeout=90)


def kubectl(op: Operator, *args: str) -> None:
    op.cluster.kubectl("-n", op.namespace, *args)


def touch(op: Operator, kind: str, name: str) -> None:
    """"touch the object (any spec change or annotation)": an annotation."""
    kubectl(op, "annotate", kind, name, f"example.com/touched={time.time_ns()}", "--overwrite")


def retry(op: Operator, kind: str, name: str) -> None:
    kubectl(op, "annotate", kind, name, f"ddmsp.io/retry={time.time_ns()}", "--overwrite")


def test_answers_fixed_as_documented_with_injected_faults(operator: Operator) -> None:
    """OutcomeUnknown (an invitation's answer dropped), Conflict and InvalidRequest (a 409 and
    a 400 injected once), OrgConfigUnavailable (a config the org does not list)."""
    op, sim = operator, operator.sim
    op.start()
    apply_org(op, "acme")
    op.apply(ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": "tz"},
                    "spec": {"displayName": "Tz", "settings": {
                        "monitorTimezone": "Europe/Paris", "privateWidgetShare": True}}})
    op.wait_condition(ORGS, "acme", timeout=90)
    pid = org_id(op, "acme")
    # An org that does not offer monitor_timezone (GET /api/v2/org_configs lacks it): the
    # one "tz" asks for is taken away before its first look.
    def tz_org() -> str | None:
        record = (op.get(ORGS, "tz").get("status") or {}).get("clientOrg") or {}
        return record.get("publicId")

    tz_pid = wait_for(tz_org, timeout=90, what="tz's org recorded")
    with sim.state.lock:
        sim.state.orgs[tz_pid].org_configs.pop("monitor_timezone", None)
    retry(op, "ddorg", "tz")
    stalled(op, ORGS, "tz", "OrgConfigUnavailable")
    # "Remove that field from spec.settings."
    kubectl(op, "patch", "ddorg", "tz", "--type=json", "-p", json.dumps(
        [{"op": "remove", "path": "/spec/settings/monitorTimezone"}]))

    # OutcomeUnknown: the invitation is sent, its answer lost.
    sim.add_fault(route="POST /api/v2/user_invitations", commit_then_drop=True, times=1)
    op.apply(USERS, user("invited", "invited@client.example"))
    cond = stalled(op, USERS, "invited", "OutcomeUnknown")
    assert "user_invitations" in cond["message"]
    # "Check in Datadog whether the change happened, then touch the object"
    touch(op, "dduser", "invited")

    # Conflict: Datadog answers 409 to a rename (injected once). "Read the message; rename,
    # or adopt the existing object": renamed again.
    op.apply(ROLES, role("clash", roleName="Clash"))
    op.wait_condition(ROLES, "clash", timeout=90)
    sim.add_fault(route="PATCH /api/v2/roles/{role_id}", status=409, times=1)
    kubectl(op, "patch", "ddrole", "clash", "--type=merge", "-p",
            json.dumps({"spec": {"roleName": "Clash Taken"}}))
    stalled(op, ROLES, "clash", "Conflict")
    kubectl(op, "patch", "ddrole", "clash", "--type=merge", "-p",
            json.dumps({"spec": {"roleName": "Clash Renamed"}}))
    op.wait_condition(ROLES, "clash", timeout=90)  # the next fault is its route's too

    # InvalidRequest: Datadog answers 400 to a permission change. "Fix the field named in
    # the message": the permissions.
    op.apply(ROLES, role("refused", roleName="Refused"))
    op.wait_condition(ROLES, "refused", timeout=90)
    sim.add_fault(route="PATCH /api/v2/roles/{role_id}", status=400, times=1)
    kubectl(op, "patch", "ddrole", "refused", "--type=merge", "-p",
            json.dumps({"spec": {"permissions": ["monitors_write", "dashboards_write"]}}))
    stalled(op, ROLES, "refused", "InvalidRequest")
    kubectl(op, "patch", "ddrole", "refused", "--type=merge", "-p",
            json.dumps({"spec": {"permissions": ["dashboards_write"]}}))

    op.wait_condition(ORGS, "tz", timeout=90)
    op.wait_condition(USERS, "invited", timeout=90)
    op.wait_condition(ROLES, "refused", timeout=90)
    org_ = sim.state.orgs[pid]
    assert {r.name for r in org_.roles.values()} >= {"Clash Renamed", "Refused"}
    assert op.get(USERS, "invited")["status"]["invitation"]["count"] >= 1
    assert op.get(ORGS, "tz")["status"]["phase"] == "Ready"


def test_spin_off_refused_then_recorded_by_hand_reaches_ready(operator: Operator) -> None:
    """SpinOffUnconfirmed: "Check the org in Datadog; once it is spun off, record it:
    kubectl annotate ddorg NAME ddmsp.io/spun-off=PUBLIC_ID". Datadog's refusal is injected
    once; the partner then spins the org off in Datadog itself."""
    op, sim = operator, operator.sim
    sim.add_fault(route="POST /api/v1/org/{public_id}/downgrade", status=400, times=1)
    op.start()
    op.apply(PLURAL, org("globex", "Globex", provisioning="SpinOff"))
    cond = stalled(op, PLURAL, "globex", "SpinOffUnconfirmed")
    parent = op.get(PLURAL, "globex")["status"]["parentOrg"]["publicId"]
    assert f"ddmsp.io/spun-off={parent}" in cond["message"]
    sim.state.downgrade(sim.state.orgs[sim.partner_public_id], parent)
    kubectl(op, "annotate", "ddorg", "globex", f"ddmsp.io/spun-off={parent}")
    op.wait_condition(PLURAL, "globex", "Ready", "False", "AwaitingRegistration", timeout=90)
    confirm_registration(op, "globex", timeout=90)
    op.wait_condition(PLURAL, "globex", timeout=90)


def test_admin_role_restored_then_the_service_account_is_made(operator: Operator) -> None:
    """AdminRoleMissing: "Restore the role in the org; the next pass creates the service
    account". The operator is stopped right before it creates the account (a crash point);
    meanwhile the org's Admin role goes missing by name (renamed in the simulator's state: a
    deleted role would also take the bootstrap key's permissions, which come from it)."""
    op, sim = operator, operator.sim
    op.process.extra_args += ["--lease-duration", "3"]  # the crashed leader's Lease
    op.start(crash_at="before-create-service-account")
    op.apply(PLURAL, org("acme", "Acme"))
    assert op.process.wait_exit(timeout=90) is not None
    pid = op.get(PLURAL, "acme")["status"]["clientOrg"]["publicId"]
    org_ = sim.state.orgs[pid]
    admin = next(r for r in org_.roles.values() if r.name == ADMIN)
    with sim.state.lock:
        org_.roles[admin.id] = dataclasses.replace(admin, name="Former Admin Role")
    op.start()
    stalled(op, PLURAL, "acme", "AdminRoleMissing")
    with sim.state.lock:  # restored
        org_.roles[admin.id] = admin
    retry(op, "ddorg", "acme")
    op.wait_condition(PLURAL, "acme", timeout=90)
    assert op.get(PLURAL, "acme")["status"]["clientOrg"]["serviceAccount"]["id"]
