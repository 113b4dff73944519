"""Adoption is explicit for every kind, Datadog's managed roles are never ours, and the causes
of a refused adoption are named truthfully (issues 18 and 19), on a real kube-apiserver with
the simulator and the operator process."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import Operator, put_secret, secret_data
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube

ORGS, ROLES, USERS = "datadogclientorgs", "datadogroles", "datadogusers"
ADMIN, STANDARD, READ_ONLY = "Datadog Admin Role", "Datadog Standard Role", "Datadog Read Only Role"


def client_org(operator: Operator, name: str, **spec: Any) -> None:
    operator.apply(ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": name},
                          "spec": {"displayName": f"Org {name}"[:32], **spec}})


def org_id(operator: Operator, name: str) -> str:
    return str(operator.get(ORGS, name)["status"]["clientOrg"]["publicId"])


def ready_org(operator: Operator, name: str = "acme") -> str:
    client_org(operator, name)
    operator.wait_condition(ORGS, name, timeout=60)
    return org_id(operator, name)


def role(name: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "DatadogRole", "metadata": {"name": name},
            "spec": {"orgRef": {"name": "acme"}, "permissions": ["monitors_write"], **spec}}


def user(name: str, email: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "DatadogUser", "metadata": {"name": name},
            "spec": {"orgRef": {"name": "acme"}, "email": email,
                     "roles": [{"roleName": READ_ONLY}], **spec}}


def managed_roles(sim: RunningSimulator, public_id: str) -> dict[str, Any]:
    org = next(o for o in sim.state.snapshot()["orgs"] if o["public_id"] == public_id)
    return {r["name"]: r for r in org["roles"] if r["managed"]}


def sim_user(sim: RunningSimulator, public_id: str, email: str) -> dict[str, Any]:
    org = next(o for o in sim.state.snapshot()["orgs"] if o["public_id"] == public_id)
    return next(u for u in org["users"] if u["email"] == email.lower())


def delete(operator: Operator, plural: str, name: str) -> None:
    operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", operator.namespace,
                                                     plural, name)


def refused(operator: Operator, plural: str, body: dict[str, Any]) -> str:
    with pytest.raises(client.ApiException) as err:
        operator.apply(plural, body)
    assert err.value.status == 422
    return str(err.value.body)


def role_writes(sim: RunningSimulator) -> dict[str, dict[int, int]]:
    return {k: v for k, v in sim.state.calls().items()
            if k.split()[0] in ("PATCH", "DELETE", "POST") and k.split()[1].startswith(
                "/api/v2/roles/")}


def test_managed_roles_are_untouched_whatever_the_spec_says(operator: Operator,
                                                             sim: RunningSimulator) -> None:
    operator.start()
    pid = ready_org(operator)
    before = managed_roles(sim, pid)
    assert set(before) == {ADMIN, STANDARD, READ_ONLY}
    admin_id = next(r.id for r in sim.state.orgs[pid].roles.values() if r.name == ADMIN)

    # Admission refuses every spelling of a managed role's name, as name or adoption.
    for spec in ({"roleName": ADMIN}, {"roleName": " datadog standard ROLE "},
                 {"roleName": "mine", "adopt": {"roleName": "Datadog Read Only Role"}}):
        message = refused(operator, ROLES, role("managed", **spec))
        assert "managed roles" in message and "clone" in message

    # Adoption by ID, which admission cannot judge: stalled, nothing sent to the role.
    operator.apply(ROLES, role("by-id", adopt={"roleId": admin_id}))
    cond = operator.wait_condition(ROLES, "by-id", "Stalled", reason="ManagedRole", timeout=30)
    assert admin_id in cond["message"] and "never changes, adopts or deletes" in cond["message"]
    status = operator.get(ROLES, "by-id")["status"]
    assert status["phase"] == "Stalled" and "roleId" not in status
    assert operator.condition(ROLES, "by-id", "Ready")["status"] == "False"  # type: ignore[index]

    # A status that records a managed role (an adoption made before this rule): the role is
    # refused, the status forgets it, and deleting the object deletes nothing.
    legacy = role("legacy", adopt={"roleName": "Legacy Ops"})
    legacy["metadata"]["annotations"] = {"ddmsp.io/paused": "true"}
    operator.apply(ROLES, legacy)
    operator.wait_condition(ROLES, "legacy", "Synced", "False", "ReconcilePaused", timeout=30)
    operator.objects.patch_namespaced_custom_object_status(
        "ddmsp.io", "v1alpha1", operator.namespace, ROLES, "legacy",
        {"status": {"roleId": admin_id, "adopted": True}})
    operator.patch(ROLES, "legacy", {"metadata": {"annotations": {"ddmsp.io/paused": None}}})
    cond = operator.wait_condition(ROLES, "legacy", "Stalled", reason="ManagedRole", timeout=30)
    assert "status recorded" in cond["message"]
    wait_for(lambda: "roleId" not in operator.get(ROLES, "legacy")["status"], timeout=20,
             what="the managed role forgotten")

    delete(operator, ROLES, "by-id")
    delete(operator, ROLES, "legacy")
    wait_for(lambda: operator.gone(ROLES, "by-id") and operator.gone(ROLES, "legacy"),
             timeout=45, what="both roles deleted")
    assert managed_roles(sim, pid) == before  # same IDs, names and permissions
    assert role_writes(sim) == {}, "no PATCH, DELETE or permission change on any role"


def test_existing_user_is_refused_until_adopted(operator: Operator,
                                                sim: RunningSimulator) -> None:
    operator.start()
    pid = ready_org(operator)
    org = sim.state.orgs[pid]
    admin_email = org.user_email.lower()  # the org's own administrator, seeded by Datadog
    admin = sim_user(sim, pid, admin_email)
    assert admin["status"] == "Active" and admin["roles"] == [ADMIN]

    # Without spec.adopt: stalled naming the user and the fix, nothing changed in Datadog.
    operator.apply(USERS, user("boss", admin_email))
    cond = operator.wait_condition(USERS, "boss", "Stalled", reason="UserExists", timeout=30)
    assert admin["id"] in cond["message"] and f"spec.adopt.userId: {admin['id']}" in \
        cond["message"] and ADMIN in cond["message"]
    status = operator.get(USERS, "boss")["status"]
    assert "userId" not in status and status["phase"] == "Stalled"
    assert "POST /api/v2/users" not in sim.state.calls()  # looked up, never sent
    # Deleting it disables nobody: status never proved the user this object's.
    delete(operator, USERS, "boss")
    wait_for(lambda: operator.gone(USERS, "boss"), timeout=45, what="boss deleted")
    assert sim_user(sim, pid, admin_email) == admin
    assert "DELETE /api/v2/users/{user_id}" not in sim.state.calls()

    # Admission: spec.adopt.email must be the user's own email.
    message = refused(operator, USERS, user("other", "a@client.example",
                                            adopt={"email": "b@client.example"}))
    assert "spec.adopt.email must be spec.email" in message

    # Adopted by ID (as the message says): managed from then on, roles exact.
    existing = sim.state.create_user(org, "ops@client.example", "Ops", None, None)
    sim.state.add_to_role(org, next(r.id for r in org.roles.values() if r.name == STANDARD),
                          existing.id)
    operator.apply(USERS, user("ops", "ops@client.example"))
    cond = operator.wait_condition(USERS, "ops", "Stalled", reason="UserExists", timeout=30)
    assert existing.id in cond["message"] and STANDARD in cond["message"]
    assert sim_user(sim, pid, "ops@client.example")["roles"] == [STANDARD]
    operator.patch(USERS, "ops", {"spec": {"adopt": {"userId": existing.id}}})
    operator.wait_condition(USERS, "ops", timeout=30)
    status = operator.get(USERS, "ops")["status"]
    assert status["userId"] == existing.id and status["adopted"] is True
    assert status["phase"] == "Ready"
    assert sim_user(sim, pid, "ops@client.example")["roles"] == [READ_ONLY]
    assert any(e.reason == "Adopted" for e in operator.events("ops"))
    # An adopted user is this object's: deletionPolicy Delete disables it.
    delete(operator, USERS, "ops")
    wait_for(lambda: operator.gone(USERS, "ops"), timeout=45, what="ops deleted")
    assert sim_user(sim, pid, "ops@client.example")["status"] == "Disabled"
    assert sim_user(sim, pid, admin_email)["status"] == "Active"


def test_two_objects_for_one_user_conflict_in_words(operator: Operator,
                                                     sim: RunningSimulator) -> None:
    operator.start()
    ready_org(operator)
    operator.apply(USERS, user("first", "twin@client.example"))
    operator.wait_condition(USERS, "first", timeout=30)
    time.sleep(1.1)  # creationTimestamp has 1 s resolution: make "first" the older one
    operator.apply(USERS, user("second", "Twin@client.example"))
    cond = operator.wait_condition(USERS, "second", status="False", reason="Conflict",
                                   timeout=30)
    ns = operator.namespace
    assert (f"DatadogUser {ns}/first already manages the user twin@client.example in the org "
            f"of DatadogClientOrg {ns}/acme") in cond["message"]
    assert "user/orgRef:" not in cond["message"]


def adopt_org(operator: Operator, name: str, public_id: str, secret: str) -> None:
    client_org(operator, name, adopt={"publicId": public_id,
                                      "credentialsSecretRef": {"name": secret}})


def not_ready(operator: Operator, name: str) -> dict[str, Any]:
    status = operator.get(ORGS, name)["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and status.get("phase") != "Ready", status
    return status


def org_in_datadog(sim: RunningSimulator, name: str) -> tuple[str, dict[str, str]]:
    """A child org made in Datadog (the simulator) by hand, which no DatadogClientOrg
    manages: what an adoption takes over. Its ID and its keys as a credentials Secret
    holds them."""
    org, api_key, app_key = sim.state.create_child_org(sim.state.orgs[sim.partner_public_id],
                                                       name)
    return org.public_id, {"api-key": api_key, "app-key": app_key,
                           "org-public-id": org.public_id}


def test_adopt_errors_name_their_cause_and_phase_is_never_ready(operator: Operator,
                                                                 sim: RunningSimulator) -> None:
    operator.start()
    # Orgs no DatadogClientOrg manages: one another object made would be its (a Conflict).
    (acme, acme_keys), (beta, beta_keys) = (org_in_datadog(sim, "Org acme"),
                                            org_in_datadog(sim, "Org beta"))
    ns = operator.namespace
    keys = {k: acme_keys[k] for k in ("api-key", "app-key")}

    # A wrong public ID (here: one digit off) with the right keys: AdoptedOrgNotFound, naming
    # the org the keys do belong to, and Datadog's answer.
    typo = acme[:-1] + ("0" if acme[-1] != "0" else "1")
    put_secret(operator.api, ns, "acme-keys", keys)
    adopt_org(operator, "typo", typo, "acme-keys")
    cond = operator.wait_condition(ORGS, "typo", "Stalled", reason="AdoptedOrgNotFound")
    assert typo in cond["message"] and f"they are the keys of org {acme}" in cond["message"]
    assert "Not allowed to access this organization" in cond["message"]
    assert "MissingPermission" not in str(not_ready(operator, "typo"))

    # Another org's keys in the adopt Secret, which says so (`org-public-id`): SecretConflict.
    put_secret(operator.api, ns, "acme-copy", acme_keys)
    adopt_org(operator, "swapped", beta, "acme-copy")
    cond = operator.wait_condition(ORGS, "swapped", "Stalled", reason="SecretConflict")
    assert f"holds the keys of org {acme}" in cond["message"] and beta in cond["message"]
    not_ready(operator, "swapped")

    # Another org's keys under a Secret that claims the wanted org: SecretConflict too.
    put_secret(operator.api, ns, "liar", {**{k: beta_keys[k] for k in ("api-key", "app-key")},
                                          "org-public-id": acme})
    adopt_org(operator, "liar", acme, "liar")
    cond = operator.wait_condition(ORGS, "liar", "Stalled", reason="SecretConflict")
    assert f"they are the keys of org {beta}" in cond["message"]
    not_ready(operator, "liar")
    secrets = [keys[k] for keys in (acme_keys, beta_keys) for k in ("api-key", "app-key")]
    assert not any(k in str(operator.get(ORGS, n)) for n in ("typo", "swapped", "liar")
                   for k in secrets)

    # The documented fix for wrong keys: put the right ones, then ask for a new attempt.
    put_secret(operator.api, ns, "liar", {**keys, "org-public-id": acme})
    operator.patch(ORGS, "liar", {"metadata": {"annotations": {"ddmsp.io/retry": "1"}}})
    operator.wait_condition(ORGS, "liar", timeout=60)
    assert operator.get(ORGS, "liar")["status"]["phase"] == "Ready"


def test_a_ready_org_that_loses_access_is_not_phase_ready(operator: Operator,
                                                          sim: RunningSimulator) -> None:
    operator.process.extra_args += ["--drift-interval", "1.5"]
    operator.start()
    pid = ready_org(operator)
    assert operator.get(ORGS, "acme")["status"]["phase"] == "Ready"
    sim.set_org_permissions(pid, ["usage_read"])  # the org's keys lose org_management
    # Datadog answers 403 alike for a missing permission and a refused application key;
    # with the API key still valid the operator names the key (KeysInvalid, issue 21)
    lost = operator.wait_condition(ORGS, "acme", status="False", timeout=60)
    assert lost["reason"] in ("MissingPermission", "KeysInvalid"), lost
    assert operator.get(ORGS, "acme")["status"]["phase"] != "Ready"
    sim.set_org_permissions(pid, None)
    operator.wait_condition(ORGS, "acme", timeout=120)
    assert operator.get(ORGS, "acme")["status"]["phase"] == "Ready"


def test_a_user_create_whose_answer_was_lost_is_recognised_not_refused(
        operator: Operator, sim: RunningSimulator) -> None:
    operator.start()
    pid = ready_org(operator)
    sim.add_fault(route="POST /api/v2/users", commit_then_drop=True, times=1)
    operator.apply(USERS, user("lost", "lost@client.example"))
    operator.wait_condition(USERS, "lost", timeout=60)
    status = operator.get(USERS, "lost")["status"]
    dd = sim_user(sim, pid, "lost@client.example")
    assert status["userId"] == dd["id"] and "adopted" not in status
    assert "createStartedAt" not in status
    # The answer dropped, then (the client's retry or the next pass) Datadog's 409.
    assert sim.state.calls()["POST /api/v2/users"] == {0: 1, 409: 1}
    assert dd["roles"] == [READ_ONLY]
    assert any(e.reason == "Created" and "answer was lost" in e.message
               for e in operator.events("lost"))


def org_writes(sim: RunningSimulator) -> dict[str, dict[int, int]]:
    """Every write to Datadog so far (the route templates of PUT, POST, PATCH, DELETE)."""
    return {k: v for k, v in sim.state.calls().items()
            if k.split()[0] in ("PUT", "POST", "PATCH", "DELETE")}


def acme_with_a_copy_of_its_keys(operator: Operator) -> tuple[str, str]:
    """A created org "acme", Ready, and its keys copied to Secret "acme-copy" for another
    object to adopt it with: (its public ID, the namespace)."""
    operator.start()
    pid = ready_org(operator, "acme")
    ns = operator.namespace
    keys = secret_data(operator.api, ns, "acme-datadog-credentials")
    assert keys is not None
    put_secret(operator.api, ns, "acme-copy", keys)
    return pid, ns


def test_a_second_client_org_over_a_created_org_waits_named_until_the_first_goes(
        operator: Operator, sim: RunningSimulator) -> None:
    """Issue 18: one DatadogClientOrg creates an org, another adopts it by its public ID.
    Both would rename it and set its settings in turn; the younger one changes nothing,
    names the older one and the way out, and takes over once the older one is deleted."""
    pid, ns = acme_with_a_copy_of_its_keys(operator)
    time.sleep(1.1)  # creationTimestamp has 1 s resolution: make "acme" the older one
    writes = org_writes(sim)

    adopt_org(operator, "beta", pid, "acme-copy")  # wants the org named "Org beta"
    cond = operator.wait_condition(ORGS, "beta", status="False", reason="Conflict", timeout=60)
    assert f"DatadogClientOrg {ns}/acme already manages Datadog org {pid}" in cond["message"]
    assert "delete the older one" in cond["message"], cond["message"]
    assert not_ready(operator, "beta").get("clientOrg") is None
    assert sim.state.orgs[pid].name == "Org acme"
    assert org_writes(sim) == writes, "the younger object wrote nothing to Datadog"
    assert operator.condition(ORGS, "acme", "Ready")["status"] == "True"  # type: ignore[index]

    # The older one goes (an org is never deleted: Orphan); the younger one takes over.
    delete(operator, ORGS, "acme")
    wait_for(lambda: operator.gone(ORGS, "acme"), timeout=60, what="acme deleted")
    operator.wait_condition(ORGS, "beta", timeout=60)
    status = operator.get(ORGS, "beta")["status"]
    assert status["clientOrg"]["publicId"] == pid and status["clientOrg"]["adopted"] is True
    assert status["phase"] == "Ready"
    assert sim.state.orgs[pid].name == "Org beta"


def test_a_client_org_reapplied_after_another_took_its_org_over_changes_nothing(
        operator: Operator, sim: RunningSimulator) -> None:
    """The other direction: the first object is deleted, a second one adopts its org, then
    the first is applied again. It re-attaches that org from its Secret (no second org), and
    in that same pass, before any write, learns that an older object manages it now."""
    pid, ns = acme_with_a_copy_of_its_keys(operator)
    delete(operator, ORGS, "acme")
    wait_for(lambda: operator.gone(ORGS, "acme"), timeout=60, what="acme deleted")
    adopt_org(operator, "beta", pid, "acme-copy")
    operator.wait_condition(ORGS, "beta", timeout=60)
    assert sim.state.orgs[pid].name == "Org beta"
    time.sleep(1.1)  # creationTimestamp has 1 s resolution: the new "acme" is the younger
    writes = org_writes(sim)

    client_org(operator, "acme")  # its Secret still holds the keys of org pid
    cond = operator.wait_condition(ORGS, "acme", status="False", reason="Conflict", timeout=60)
    assert f"DatadogClientOrg {ns}/beta already manages Datadog org {pid}" in cond["message"]
    status = not_ready(operator, "acme")
    assert status["clientOrg"]["publicId"] == pid  # re-attached: never a second org
    assert sim.state.orgs[pid].name == "Org beta"  # not renamed back
    assert org_writes(sim) == writes, "the re-applied object wrote nothing to Datadog"
    assert operator.condition(ORGS, "beta", "Ready")["status"] == "True"  # type: ignore[index]


def test_a_client_org_adopting_a_spinoff_parent_org_waits_named(
        operator: Operator, sim: RunningSimulator) -> None:
    """Issue 18, the SpinOff side of the org claims: the parent org a SpinOff client made
    (recorded in status.parentOrg while it waits for the DPN registration) is claimed too.
    A second object adopting that parent org changes nothing in it and names the owner."""
    operator.start()
    client_org(operator, "spin", provisioning="SpinOff")
    wait_for(lambda: (operator.get(ORGS, "spin").get("status") or {})
             .get("parentOrg", {}).get("publicId"), timeout=60, what="spin's parent org")
    parent = str(operator.get(ORGS, "spin")["status"]["parentOrg"]["publicId"])
    ns = operator.namespace
    keys = secret_data(operator.api, ns, "spin-datadog-credentials-parent")
    assert keys is not None
    put_secret(operator.api, ns, "parent-copy", keys)
    name_before = sim.state.orgs[parent].name
    time.sleep(1.1)  # creationTimestamp has 1 s resolution: make "spin" the older one
    writes = org_writes(sim)

    adopt_org(operator, "beta", parent, "parent-copy")  # wants it named "Org beta"
    cond = operator.wait_condition(ORGS, "beta", status="False", reason="Conflict", timeout=60)
    assert f"DatadogClientOrg {ns}/spin already manages Datadog org {parent}" \
        in cond["message"], cond["message"]
    assert not_ready(operator, "beta").get("clientOrg") is None
    assert sim.state.orgs[parent].name == name_before
    # no rename or settings write since (the SpinOff client's own spin-off and
    # registration steps may go on meanwhile: only the org update route is compared)
    update = "PUT /api/v1/org/{public_id}"
    assert org_writes(sim).get(update) == writes.get(update), "beta wrote nothing"
