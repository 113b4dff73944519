"""docs/operations.md's fixes for DatadogRole and DatadogUser reasons, applied literally.

Why: each row of the Stalled table (and the RoleNotFound wait) tells a human what to change;
these tests make that change and expect Ready. The cases are independent objects of one org
under one operator process (starting one costs seconds on a loaded machine).
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

pytestmark = pytest.mark.kube


def stalled(op: Operator, plural: str, name: str, reason: str) -> dict[str, Any]:
    return op.wait_condition(plural, name, "Stalled", "True", reason, timeout=90)


def kubectl_patch(op: Operator, kind: str, name: str, patch: Any,
                  kind_of_patch: str = "merge") -> None:
    op.cluster.kubectl("-n", op.namespace, "patch", kind, name, f"--type={kind_of_patch}",
                       "-p", json.dumps(patch))


def test_role_and_user_adoption_fixes_reach_ready(operator: Operator) -> None:
    """RoleExists, ManagedRole, AmbiguousRole, AdoptTargetNotFound, AdoptionMismatch (role
    and user), RoleInAnotherOrg and the RoleNotFound wait."""
    op, sim = operator, operator.sim
    op.start()
    apply_org(op, "acme")
    apply_org(op, "beta")
    op.wait_condition(ORGS, "acme", timeout=90)
    op.wait_condition(ORGS, "beta", timeout=90)
    org = sim.state.orgs[org_id(op, "acme")]
    admin = next(r for r in org.roles.values() if r.name == ADMIN)
    admins = sim.state.create_role(org, "Admins", None)
    first = sim.state.create_role(org, "Twins", None)
    with sim.state.lock:  # two roles of one name (the v2 spec: names are not unique)
        second = dataclasses.replace(first, id="twin-2", name="TWINS")
        org.roles[second.id] = second
    other = sim.state.create_role(org, "Other", None)
    another = sim.state.create_role(org, "Another", None)
    someone = sim.state.create_user(org, "someone@client.example", "Someone", None, None)
    me = sim.state.create_user(org, "me@client.example", "Me", None, None)

    op.apply(ROLES, role("taken", roleName="Admins"))
    op.apply(ROLES, role("by-id", adopt={"roleId": admin.id}))
    op.apply(ROLES, role("twins", adopt={"roleName": "twins"}))
    op.apply(ROLES, role("ghost", adopt={"roleId": "no-such-role"}))
    op.apply(ROLES, role("ghost2", roleName="Ghost Two", adopt={"roleName": "Ghost Two"}))
    op.apply(ROLES, role("mine", roleName="Mine"))
    op.apply(ROLES, {**role("beta-ops", roleName="Beta Ops"),
                     "spec": {"orgRef": {"name": "beta"}, "permissions": ["monitors_write"],
                              "roleName": "Beta Ops"}})
    op.apply(ROLES, role("ops", roleName="Ops"))
    op.apply(USERS, user("me", "me@client.example", adopt={"userId": someone.id}))
    op.apply(USERS, user("cross", "cross@client.example", roles=[{"roleRef": "beta-ops"}]))
    op.apply(USERS, user("later", "later@client.example",
                         roles=[{"roleName": "Later Role"}]))

    # RoleExists: "Set spec.adopt.roleId to manage it"
    cond = stalled(op, ROLES, "taken", "RoleExists")
    assert admins.id in cond["message"]
    kubectl_patch(op, "ddrole", "taken", {"spec": {"adopt": {"roleId": admins.id}}})
    # ManagedRole: "clone the managed role in Datadog and adopt the clone with
    # spec.adopt.roleId"
    stalled(op, ROLES, "by-id", "ManagedRole")
    clone = sim.state.create_role(org, "Admin Clone", list(admin.permission_ids))
    kubectl_patch(op, "ddrole", "by-id", {"spec": {"adopt": {"roleId": clone.id}}})
    # AmbiguousRole: "Name one with spec.adopt.roleId"
    cond = stalled(op, ROLES, "twins", "AmbiguousRole")
    assert first.id in cond["message"] and second.id in cond["message"]
    kubectl_patch(op, "ddrole", "twins",
                  {"spec": {"adopt": {"roleName": None, "roleId": first.id}}})
    # AdoptTargetNotFound: "Fix the ID, or remove spec.adopt to create the role"
    stalled(op, ROLES, "ghost", "AdoptTargetNotFound")
    kubectl_patch(op, "ddrole", "ghost", {"spec": {"adopt": {"roleId": other.id}}})
    stalled(op, ROLES, "ghost2", "AdoptTargetNotFound")
    kubectl_patch(op, "ddrole", "ghost2", [{"op": "remove", "path": "/spec/adopt"}], "json")
    # AdoptionMismatch, a role: it manages "Mine" and spec.adopt.roleId names another.
    op.wait_condition(ROLES, "mine", timeout=90)
    kubectl_patch(op, "ddrole", "mine", {"spec": {"adopt": {"roleId": another.id}}})
    cond = stalled(op, ROLES, "mine", "AdoptionMismatch")
    # "Fix or remove spec.adopt.roleId"
    kubectl_patch(op, "ddrole", "mine", [{"op": "remove", "path": "/spec/adopt"}], "json")
    # AdoptionMismatch, a user: spec.adopt.userId is a user with another email.
    cond = stalled(op, USERS, "me", "AdoptionMismatch")
    assert someone.id in cond["message"]
    kubectl_patch(op, "dduser", "me", {"spec": {"adopt": {"userId": me.id}}})
    # RoleInAnotherOrg: "Point both at the same org"
    stalled(op, USERS, "cross", "RoleInAnotherOrg")
    kubectl_patch(op, "dduser", "cross", {"spec": {"roles": [{"roleRef": "ops"}]}})
    # RoleNotFound waits for "the referenced role to exist in Datadog"
    op.wait_condition(USERS, "later", "Ready", "False", "RoleNotFound", timeout=90)
    op.apply(ROLES, role("later-role", roleName="Later Role"))

    for name in ("taken", "by-id", "twins", "ghost", "ghost2", "mine"):
        op.wait_condition(ROLES, name, timeout=90)
    for name in ("me", "cross", "later"):
        op.wait_condition(USERS, name, timeout=120)
    status = {n: op.get(ROLES, n)["status"] for n in ("taken", "by-id", "twins", "ghost")}
    assert [status[n]["roleId"] for n in ("taken", "by-id", "twins", "ghost")] == \
        [admins.id, clone.id, first.id, other.id]
    assert op.get(USERS, "me")["status"]["userId"] == me.id
    assert op.get(ROLES, "ghost2")["status"]["roleName"] == "Ghost Two"


def test_injected_409_without_such_a_user_is_email_taken_then_retried(
        operator: Operator) -> None:
    """EmailTaken: "Rename that user in Datadog or use another email". The simulator has no
    handle apart from the email, so Datadog's 409 is injected once (a fault); once the other
    user is renamed (the fault spent), the retry the docs ask for after a fix outside the
    object creates the user."""
    op, sim = operator, operator.sim
    op.start()
    apply_org(op, "acme")
    op.wait_condition(ORGS, "acme", timeout=90)
    sim.add_fault(route="POST /api/v2/users", status=409, times=1)
    op.apply(USERS, user("handle", "handle@client.example"))
    stalled(op, USERS, "handle", "EmailTaken")
    op.cluster.kubectl("-n", op.namespace, "annotate", "dduser", "handle",
                       f"ddmsp.io/retry={time.time_ns()}", "--overwrite")
    op.wait_condition(USERS, "handle", timeout=90)
