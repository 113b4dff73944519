"""DatadogUser against a real kube-apiserver, the simulator and the operator process."""

from __future__ import annotations

from typing import Any

import pytest

from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import Operator
from tests.support.operator import wait_for
from tests.support.passes import metered, wait_reconciles

pytestmark = pytest.mark.kube

ORGS, ROLES, USERS = "datadogclientorgs", "datadogroles", "datadogusers"
KIND = "DatadogUser"
READ_ONLY = "Datadog Read Only Role"
DAY = 86400.0


def client_org(operator: Operator, name: str = "acme", **spec: Any) -> None:
    operator.apply(ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": name},
                          "spec": {"displayName": f"Acme {name}"[:32], **spec}})


def user(obj_name: str, email: str, roles: list[dict[str, str]] | None = None,
         org: str = "acme", **spec: Any) -> dict[str, Any]:
    return {"kind": "DatadogUser", "metadata": {"name": obj_name},
            "spec": {"orgRef": {"name": org}, "email": email, "roles": roles or [], **spec}}


def org_id(operator: Operator, name: str = "acme") -> str:
    return str(operator.get(ORGS, name)["status"]["clientOrg"]["publicId"])


def sim_user(sim: RunningSimulator, public_id: str, email: str) -> dict[str, Any] | None:
    org = next(o for o in sim.state.snapshot()["orgs"] if o["public_id"] == public_id)
    return next((u for u in org["users"] if u["email"] == email.lower()), None)


def fast(operator: Operator, drift: float = 1.5) -> Operator:
    operator.process.extra_args += ["--drift-interval", str(drift)]
    return operator.start()


def delete(operator: Operator, plural: str, name: str) -> None:
    operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", operator.namespace,
                                                     plural, name)


def test_create_invite_exact_roles_and_a_role_that_appears_later(
        operator: Operator, sim: RunningSimulator) -> None:
    fast(operator)
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    # A SAML just-in-time user nobody names: never touched.
    jit_id = sim.state.saml_jit_user(pid, "jit@client.example", READ_ONLY)
    operator.apply(USERS, user("jane", "Jane.Doe@Client.example",
                               [{"roleName": READ_ONLY}, {"roleRef": "ops"}], name="Jane Doe"))
    cond = operator.wait_condition(USERS, "jane", status="False", reason="RoleNotReady",
                                   timeout=30)
    assert "ops" in cond["message"] and "does not exist yet" in cond["message"]
    assert sim_user(sim, pid, "jane.doe@client.example") is None  # nothing before the roles
    operator.apply(ROLES, {"kind": "DatadogRole", "metadata": {"name": "ops"},
                           "spec": {"orgRef": {"name": "acme"}, "permissions": ["monitors_write"]}})
    operator.wait_condition(USERS, "jane", timeout=40)

    status = operator.get(USERS, "jane")["status"]
    assert status["email"] == "jane.doe@client.example" and status["datadogStatus"] == "Pending"
    assert status["roles"] == sorted([READ_ONLY, "ops"]) and status["orgPublicId"] == pid
    assert status["invitation"]["count"] == 1 and status["invitation"]["expiresAt"]
    dd = sim_user(sim, pid, "jane.doe@client.example")
    assert dd is not None and dd["status"] == "Pending" and dd["name"] == "Jane Doe"
    assert sorted(dd["roles"]) == sorted([READ_ONLY, "ops"])
    assert [i["invite_type"] for i in dd["invitations"]] == ["basic_invite"]
    reasons = [e.reason for e in operator.events("jane")]
    assert "Created" in reasons and "Invited" in reasons

    # Someone grants a role by hand: removed; a role taken away: given back.
    admin = next(r for r in sim.state.orgs[pid].roles.values() if r.name == "Datadog Admin Role")
    sim.state.add_to_role(sim.state.orgs[pid], admin.id, status["userId"])
    wait_for(lambda: sorted(sim_user(sim, pid, "jane.doe@client.example")["roles"])  # type: ignore[index]
             == sorted([READ_ONLY, "ops"]), timeout=20, what="extra role removed")
    drift = wait_for(lambda: operator.get(USERS, "jane")["status"].get("drift"), timeout=45)
    assert "Datadog Admin Role" in " ".join(drift["differences"])
    # Dropping a role from the spec removes it in Datadog.
    operator.patch(USERS, "jane", {"spec": {"roles": [{"roleRef": "ops"}]}})
    wait_for(lambda: sim_user(sim, pid, "jane.doe@client.example")["roles"] == ["ops"],  # type: ignore[index]
             timeout=20, what="role removed from spec")
    # The just-in-time user was never read or changed.
    jit = sim_user(sim, pid, "jit@client.example")
    assert jit is not None and jit["status"] == "Active" and jit["roles"] == [READ_ONLY]
    assert jit_id not in str(operator.process.log())


def test_an_existing_email_is_adopted_by_spec_adopt_never_duplicated(
        operator: Operator, sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    org = sim.state.orgs[pid]
    existing = sim.state.create_user(org, "ops-bot@msp.example", "Old name", None, None)
    sim.state.disable_user(org, existing.id)  # Datadog keeps disabled users and their emails
    operator.apply(USERS, user("bot", "ops-bot@msp.example", [{"roleName": READ_ONLY}],
                               name="Ops Bot", adopt={"email": "Ops-Bot@msp.example"}))
    operator.wait_condition(USERS, "bot", timeout=30)
    status = operator.get(USERS, "bot")["status"]
    assert status["userId"] == existing.id and status["adopted"] is True
    assert "POST /api/v2/users" not in sim.state.calls()  # adopted, never created
    users = [u for u in sim.state.org_users(org).values() if u.email == "ops-bot@msp.example"]
    assert len(users) == 1
    dd = sim_user(sim, pid, "ops-bot@msp.example")
    assert dd is not None and dd["status"] == "Pending" and dd["name"] == "Ops Bot"
    assert dd["roles"] == [READ_ONLY] and len(dd["invitations"]) == 1
    assert any(e.reason == "Adopted" for e in operator.events("bot"))


def test_delete_disables_and_orphan_leaves_the_user(operator: Operator,
                                                    sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator)
    operator.apply(USERS, user("leaver", "leaver@client.example", [{"roleName": READ_ONLY}]))
    operator.apply(USERS, user("stayer", "stayer@client.example", deletionPolicy="Orphan",
                               invite=False))
    operator.wait_condition(USERS, "leaver", timeout=40)
    operator.wait_condition(USERS, "stayer", timeout=30)
    pid = org_id(operator)
    assert sim_user(sim, pid, "stayer@client.example")["invitations"] == []  # type: ignore[index]
    delete(operator, USERS, "leaver")
    delete(operator, USERS, "stayer")
    wait_for(lambda: operator.gone(USERS, "leaver") and operator.gone(USERS, "stayer"),
             timeout=20)
    assert sim_user(sim, pid, "leaver@client.example")["status"] == "Disabled"  # type: ignore[index]
    assert sim_user(sim, pid, "stayer@client.example")["status"] == "Pending"  # type: ignore[index]
    # A new object for the disabled email, adopting it, re-enables it (not a second user).
    operator.apply(USERS, user("back", "leaver@client.example",
                               adopt={"email": "leaver@client.example"}))
    operator.wait_condition(USERS, "back", timeout=30)
    assert sim_user(sim, pid, "leaver@client.example")["status"] == "Pending"  # type: ignore[index]


def test_disabled_and_observe_only(operator: Operator, sim: RunningSimulator) -> None:
    port = metered(operator)
    fast(operator)
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    org = sim.state.orgs[pid]
    sim.state.create_user(org, "watched@client.example", None, None, None)
    operator.apply(USERS, user("watched", "watched@client.example", [{"roleName": READ_ONLY}],
                               managementPolicy="ObserveOnly"))
    cond = operator.wait_condition(USERS, "watched", status="False", reason="DriftDetected",
                                   timeout=30)
    assert f"roles missing: {READ_ONLY}" in cond["message"]
    # a couple of drift passes: nothing changes, nobody is invited
    wait_reconciles(port, n=2, kind=KIND)
    dd = sim_user(sim, pid, "watched@client.example")
    assert dd is not None and dd["roles"] == [] and dd["invitations"] == []
    assert "POST /api/v2/roles/{role_id}/users" not in sim.state.calls()
    operator.apply(USERS, user("off", "off@client.example", disabled=True))
    operator.wait_condition(USERS, "off", timeout=30)
    dd = sim_user(sim, pid, "off@client.example")
    assert dd is not None and dd["status"] == "Disabled" and dd["invitations"] == []


def test_pending_user_is_reinvited_once_per_expiry(operator: Operator,
                                                   sim: RunningSimulator) -> None:
    port = metered(operator)
    fast(operator, drift=1.0)
    client_org(operator)
    operator.apply(USERS, user("slow", "slow@client.example"))
    operator.wait_condition(USERS, "slow", timeout=40)
    pid = org_id(operator)

    def invitations() -> int:
        return len(sim_user(sim, pid, "slow@client.example")["invitations"])  # type: ignore[index]

    assert invitations() == 1
    wait_reconciles(port, n=2, kind=KIND)  # two drift passes, not expired yet: no 2nd email
    assert invitations() == 1
    sim.advance_clock(2 * DAY + 60)
    wait_for(lambda: invitations() == 2, timeout=20, what="re-invitation after expiry")
    wait_reconciles(port, n=3, kind=KIND)  # several drift passes: still one per expiry
    assert invitations() == 2
    kinds = [i["invite_type"] for i in sim_user(sim, pid, "slow@client.example")["invitations"]]  # type: ignore[index]
    assert kinds == ["basic_invite", "basic_reminder"]
    assert len([e for e in operator.events("slow") if e.reason == "Reinvited"]) == 1
    assert operator.get(USERS, "slow")["status"]["invitation"]["count"] == 2
    # Accepted: an Active user is never invited again, whatever the clock says.
    sim.state.activate_user(pid, "slow@client.example")
    sim.advance_clock(3 * DAY)
    wait_for(lambda: operator.get(USERS, "slow")["status"].get("datadogStatus") == "Active",
             timeout=20)
    wait_reconciles(port, n=2, kind=KIND)  # drift passes of an Active user: no invitation
    assert invitations() == 2


def test_missing_permission_names_it(operator: Operator, sim: RunningSimulator) -> None:
    pytest.importorskip("ddmsp.datadog.permissions")  # the engine's MissingPermission
    operator.start()
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    sim.set_org_permissions(pid, ["user_access_read"])
    operator.apply(USERS, user("nope", "nope@client.example"))
    cond = operator.wait_condition(USERS, "nope", status="False", reason="MissingPermission",
                                   timeout=30)
    assert "user_access_invite" in cond["message"]
    assert sim_user(sim, pid, "nope@client.example") is None
    sim.set_org_permissions(pid, None)
    operator.wait_condition(USERS, "nope", timeout=60)


def test_user_in_a_spinoff_client_org(operator: Operator, sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator, "globex", provisioning="SpinOff")
    operator.apply(USERS, user("eng", "eng@msp.example", [{"roleName": READ_ONLY}],
                               org="globex"))
    operator.wait_condition(ORGS, "globex", status="False", reason="AwaitingRegistration",
                            timeout=40)
    parent = operator.get(ORGS, "globex")["status"]["parentOrg"]["publicId"]
    registration: dict[str, Any] = {"confirmed": True}
    if _needs_public_id():
        registration["orgPublicId"] = parent
    operator.patch(ORGS, "globex", {"spec": {"registration": registration}})
    operator.wait_condition(ORGS, "globex", timeout=60)
    operator.wait_condition(USERS, "eng", timeout=60)
    client_id = org_id(operator, "globex")
    assert operator.get(USERS, "eng")["status"]["orgPublicId"] == client_id
    assert sim_user(sim, client_id, "eng@msp.example") is not None
    assert sim_user(sim, parent, "eng@msp.example") is None  # the client's org, not A


def _needs_public_id() -> bool:
    """Whether this checkout's DatadogClientOrg confirms a registration by public ID."""
    from ddmsp.resources.clientorg import Registration
    return "org_public_id" in Registration.model_fields
