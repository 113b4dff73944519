"""DatadogRole against a real kube-apiserver, the simulator and the operator process."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import Operator, put_secret
from tests.support.operator import wait_for
from tests.support.passes import metered, wait_reconciles, wait_requests
from tests.support.secrecy import assert_absent

pytestmark = pytest.mark.kube

ORGS, ROLES = "datadogclientorgs", "datadogroles"
# Datadog's default permissions (RBAC docs; the recorded role create): kept unless OptOut.
DEFAULTS = ("apm_read", "appsec_vm_read", "cd_visibility_read", "ci_visibility_read",
            "dashboards_read", "incident_read", "monitors_read", "notebooks_read", "rum_apps_read",
            "slos_read")


def client_org(operator: Operator, name: str = "acme") -> dict[str, Any]:
    return operator.apply(ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": name},
                                 "spec": {"displayName": f"Acme {name}"[:32]}})


def role(name: str, permissions: list[str], **spec: Any) -> dict[str, Any]:
    return {"kind": "DatadogRole", "metadata": {"name": name},
            "spec": {"orgRef": {"name": "acme"}, "permissions": permissions, **spec}}


def org_id(operator: Operator, name: str = "acme") -> str:
    return str(operator.get(ORGS, name)["status"]["clientOrg"]["publicId"])


def sim_role(sim: RunningSimulator, public_id: str, name: str) -> dict[str, Any] | None:
    org = next(o for o in sim.state.snapshot()["orgs"] if o["public_id"] == public_id)
    return next((r for r in org["roles"] if r["name"] == name), None)


def fast(operator: Operator, drift: float = 1.5) -> Operator:
    operator.process.extra_args += ["--drift-interval", str(drift)]
    return operator.start()


def test_role_ready_exact_permissions_and_adoption(operator: Operator,
                                                   sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    # A role that already exists in Datadog is adopted when spec.adopt names it.
    existing = sim.state.create_role(sim.state.orgs[pid], "Existing Ops", None)
    operator.apply(ROLES, role("ops", ["monitors_write", "dashboards_write"],
                               roleName="Existing Ops", defaultPermissions="OptOut",
                               adopt={"roleName": "existing ops"}))
    operator.apply(ROLES, role("viewers", ["monitors_downtime"]))
    operator.wait_condition(ROLES, "ops", timeout=30)
    operator.wait_condition(ROLES, "viewers", timeout=30)

    ops = operator.get(ROLES, "ops")["status"]
    assert ops["adopted"] is True and ops["org"] == "acme" and ops["orgPublicId"] == pid
    assert ops["roleId"] == existing.id
    assert ops["permissions"] == ["dashboards_write", "monitors_write"]  # OptOut: exact
    assert ops["permissionCount"] == 2 and ops["observedGeneration"] == 1
    names = [r["name"] for r in next(o for o in sim.state.snapshot()["orgs"]
                                     if o["public_id"] == pid)["roles"]]
    assert names.count("Existing Ops") == 1
    # defaultPermissions Keep (the default): the spec's permissions plus Datadog's defaults.
    viewers = sim_role(sim, pid, "viewers")
    assert viewers is not None and viewers["permissions"] == sorted(
        ["monitors_downtime", *DEFAULTS])
    # One GET per role read, never one call per permission.
    calls = sim.state.calls()
    assert "GET /api/v2/roles/{role_id}/permissions" not in calls
    # Spec change: the set is updated in one PATCH.
    operator.patch(ROLES, "viewers", {"spec": {"permissions": ["monitors_downtime",
                                                                 "synthetics_read"]}})
    wait_for(lambda: sim_role(sim, pid, "viewers")["permissions"] == sorted(  # type: ignore[index]
        ["monitors_downtime", "synthetics_read", *DEFAULTS]), timeout=20,
        what="permissions updated")
    wait_for(lambda: operator.get(ROLES, "viewers")["status"].get("observedGeneration") == 2,
             timeout=20)


def test_unknown_permissions_explain_the_fix(operator: Operator) -> None:
    operator.start()
    client_org(operator)
    operator.apply(ROLES, role("typo", ["dashboard_write", "monitors_write"]))
    cond = operator.wait_condition(ROLES, "typo", status="False", reason="UnknownPermissions",
                                   timeout=30)
    assert "'dashboard_write' (did you mean dashboards_write" in cond["message"]
    assert operator.condition(ROLES, "typo", "Stalled")["status"] == "True"  # type: ignore[index]
    events = [e for e in operator.events("typo") if e.reason == "UnknownPermissions"]
    assert len(events) == 1
    # Datadog's restricted (default) permissions are ordinary names to list.
    operator.apply(ROLES, role("restricted", ["dashboards_read", "monitors_write"],
                               defaultPermissions="OptOut"))
    # The spec fix unblocks.
    operator.patch(ROLES, "typo", {"spec": {"permissions": ["dashboards_write"]}})
    operator.wait_condition(ROLES, "typo", timeout=20)
    operator.wait_condition(ROLES, "restricted", timeout=20)
    assert operator.get(ROLES, "restricted")["status"]["permissions"] == [
        "dashboards_read", "monitors_write"]


WRITES = ("POST /api/v2/roles", "PATCH /api/v2/roles/{role_id}",
          "DELETE /api/v2/roles/{role_id}", "POST /api/v2/roles/{role_id}/permissions",
          "DELETE /api/v2/roles/{role_id}/permissions")


def role_writes(sim: RunningSimulator) -> int:
    calls = sim.state.calls()
    return sum(sum(calls.get(route, {}).values()) for route in WRITES)


def test_roles_with_and_without_defaults_converge_with_zero_writes(
        operator: Operator, sim: RunningSimulator) -> None:
    fast(operator, drift=1.0)
    client_org(operator)
    operator.apply(ROLES, role("keep", ["monitors_write", "dashboards_read"]))
    operator.apply(ROLES, role("optout", ["monitors_write", "dashboards_read"],
                               defaultPermissions="OptOut"))
    operator.apply(ROLES, role("none", [], defaultPermissions="OptOut"))
    for name in ("keep", "optout", "none"):
        operator.wait_condition(ROLES, name, timeout=30)
    pid = org_id(operator)
    assert sim_role(sim, pid, "keep")["permissions"] == sorted(  # type: ignore[index]
        {"monitors_write", *DEFAULTS})
    assert sim_role(sim, pid, "optout")["permissions"] == [  # type: ignore[index]
        "dashboards_read", "monitors_write"]
    assert sim_role(sim, pid, "none")["permissions"] == []  # type: ignore[index]
    writes = role_writes(sim)
    reads = sim.state.calls().get("GET /api/v2/roles/{role_id}", {}).get(200, 0)
    # two drift passes of each of the three roles, seen in the simulator
    wait_requests(sim, *(f"GET /api/v2/roles/{operator.get(ROLES, name)['status']['roleId']}"
                         for name in ("keep", "optout", "none")), n=2)
    after = sim.state.calls().get("GET /api/v2/roles/{role_id}", {}).get(200, 0)
    assert after - reads >= 6, "the drift passes ran"
    assert role_writes(sim) == writes, "steady state costs no write"
    for name in ("keep", "optout", "none"):
        assert operator.condition(ROLES, name, "Ready")["status"] == "True"  # type: ignore[index]


def test_an_existing_role_is_never_taken_over_or_deleted(operator: Operator,
                                                         sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    admins = sim.state.create_role(sim.state.orgs[pid], "Admins", None)
    before = sim_role(sim, pid, "Admins")
    # A typo and a taken name (compared without case): stalled, then deleted.
    operator.apply(ROLES, role("typo", ["monitor_write"], roleName="admins"))
    operator.wait_condition(ROLES, "typo", status="False", reason="UnknownPermissions",
                            timeout=30)
    # A second object claiming the same role name (compared as Datadog does) conflicts.
    # creationTimestamp has 1 s resolution: "taken" is made in a later second, so "typo"
    # is the older claim
    born = datetime.fromisoformat(
        operator.get(ROLES, "typo")["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    wait_for(lambda: datetime.now(UTC).replace(microsecond=0) > born, timeout=10,
             what="a second after the first claim")
    operator.apply(ROLES, role("taken", ["monitors_write"], roleName="Admins"))
    conflict = operator.wait_condition(ROLES, "taken", status="False", reason="Conflict",
                                       timeout=30)
    assert "typo" in conflict["message"]
    operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1",
                                                     operator.namespace, ROLES, "typo")
    # The claim is free: a valid spec naming the existing role without spec.adopt gets
    # RoleExists with the fix.
    cond = operator.wait_condition(ROLES, "taken", status="False", reason="RoleExists",
                                   timeout=30)
    assert admins.id in cond["message"] and "spec.adopt.roleId" in cond["message"]
    assert operator.condition(ROLES, "taken", "Stalled")["status"] == "True"  # type: ignore[index]
    assert "roleId" not in operator.get(ROLES, "taken")["status"]
    operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1",
                                                     operator.namespace, ROLES, "taken")
    wait_for(lambda: _gone(operator, "typo") and _gone(operator, "taken"), timeout=45)
    assert sim_role(sim, pid, "Admins") == before
    assert sim.state.calls().get("DELETE /api/v2/roles/{role_id}", {}) == {}
    assert sim.state.calls().get("PATCH /api/v2/roles/{role_id}", {}) == {}
    # Adopted explicitly, it is managed and (deletionPolicy Delete) deleted with the object.
    operator.apply(ROLES, role("adopted", ["monitors_write"], adopt={"roleId": admins.id}))
    operator.wait_condition(ROLES, "adopted", timeout=30)
    adopted = operator.get(ROLES, "adopted")["status"]
    assert adopted["adopted"] is True and adopted["roleId"] == admins.id
    assert adopted["roleName"] == "Admins"  # adopted by ID without roleName: name kept
    operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1",
                                                     operator.namespace, ROLES, "adopted")
    wait_for(lambda: _gone(operator, "adopted"), timeout=45)
    assert sim_role(sim, pid, "Admins") is None


def test_a_created_role_is_ready_from_the_create_answer_not_a_read_back(
        operator: Operator, sim: RunningSimulator) -> None:
    """Datadog answers a role create with the role and its permissions (the recorded
    exchange create_role_with_a_permission): the pass's observe right after the create
    reads that answer, not the role again. The next pass (a drift check) reads it."""
    operator.start()
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    operator.apply(ROLES, role("answered", ["monitors_write"]))
    operator.wait_condition(ROLES, "answered", timeout=30)
    by_id = sim.state.calls().get("GET /api/v2/roles/{role_id}", {})
    assert by_id == {}, by_id
    status = operator.get(ROLES, "answered")["status"]
    held = sim_role(sim, org_id(operator), "answered")
    assert held is not None and held["id"] == status["roleId"]
    assert sorted(status["permissions"]) == held["permissions"] == sorted(
        {"monitors_write", *DEFAULTS})


def test_role_before_its_org_waits_quietly_then_converges(operator: Operator) -> None:
    port = metered(operator)
    operator.start()
    operator.apply(ROLES, role("early", ["monitors_write"]))
    cond = operator.wait_condition(ROLES, "early", status="False", reason="OrgNotReady",
                                   timeout=20)
    assert "acme" in cond["message"]
    # several polls: still one condition, no events
    wait_reconciles(port, n=2, kind="DatadogRole", outcome="waiting")
    assert operator.events("early") == []
    client_org(operator)
    operator.wait_condition(ROLES, "early", timeout=30)
    assert operator.get(ROLES, "early")["status"]["roleId"]


def test_drift_is_reported_and_corrected(operator: Operator, sim: RunningSimulator) -> None:
    fast(operator)
    client_org(operator)
    operator.apply(ROLES, role("ops", ["monitors_write"], defaultPermissions="OptOut"))
    operator.wait_condition(ROLES, "ops", timeout=30)
    pid = org_id(operator)
    sim.state.grant_permission(pid, "ops", "billing_read")
    sim.state.revoke_permission(pid, "ops", "monitors_write")

    def corrected() -> bool:
        r = sim_role(sim, pid, "ops")
        return r is not None and r["permissions"] == ["monitors_write"]

    wait_for(corrected, timeout=45, what="drift corrected")
    drift = wait_for(lambda: operator.get(ROLES, "ops")["status"].get("drift"), timeout=45)
    text = " ".join(drift["differences"])
    assert "monitors_write" in text and "billing_read" in text and drift["corrected"]
    assert any(e.reason == "DriftCorrected" for e in operator.events("ops"))
    operator.wait_condition(ROLES, "ops", timeout=45)
    # Deleted behind our back: re-created under the same name.
    sim.state.delete_role_by_name(pid, "ops")
    wait_for(lambda: sim_role(sim, pid, "ops"), timeout=45, what="role re-created")


def test_observe_only_reports_drift_and_changes_nothing(operator: Operator,
                                                        sim: RunningSimulator) -> None:
    port = metered(operator)
    fast(operator)
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    sim.state.create_role(sim.state.orgs[pid], "watched", None)
    operator.apply(ROLES, role("watched", ["monitors_write"], managementPolicy="ObserveOnly"))
    cond = operator.wait_condition(ROLES, "watched", status="False", reason="DriftDetected",
                                   timeout=30)
    assert "permissions missing: monitors_write" in cond["message"]
    before = sim_role(sim, pid, "watched")
    # a couple of drift passes, each reporting the drift again
    wait_reconciles(port, n=2, kind="DatadogRole")
    assert sim_role(sim, pid, "watched") == before
    assert "PATCH /api/v2/roles/{role_id}" not in sim.state.calls()
    # ObserveOnly never deletes either.
    operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", operator.namespace,
                                                     ROLES, "watched")
    wait_for(lambda: _gone(operator, "watched"), timeout=45)
    assert sim_role(sim, pid, "watched") is not None


def _gone(operator: Operator, name: str) -> bool:
    try:
        operator.get(ROLES, name)
    except client.ApiException as exc:
        return exc.status == 404
    return False


def test_deletion_policy(operator: Operator, sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator)
    operator.apply(ROLES, role("doomed", ["monitors_write"]))
    operator.apply(ROLES, role("kept", ["monitors_write"], deletionPolicy="Orphan"))
    operator.wait_condition(ROLES, "doomed", timeout=30)
    operator.wait_condition(ROLES, "kept", timeout=30)
    pid = org_id(operator)
    for name in ("doomed", "kept"):
        operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1",
                                                         operator.namespace, ROLES, name)
    wait_for(lambda: _gone(operator, "doomed") and _gone(operator, "kept"), timeout=45)
    assert sim_role(sim, pid, "doomed") is None
    assert sim_role(sim, pid, "kept") is not None


def test_credentials_secret_ref_for_an_unmanaged_org(operator: Operator, api: client.ApiClient,
                                                     sim: RunningSimulator) -> None:
    partner = sim.state.orgs[sim.state.partner_public_id]
    org, api_key, app_key = sim.state.create_child_org(partner, "Unmanaged")
    put_secret(api, operator.namespace, "unmanaged-keys",
               {"api-key": api_key, "app-key": app_key})
    operator.start()
    operator.apply(ROLES, {"kind": "DatadogRole", "metadata": {"name": "ext"},
                           "spec": {"credentialsSecretRef": {"name": "unmanaged-keys"},
                                    "permissions": ["monitors_write"]}})
    operator.wait_condition(ROLES, "ext", timeout=30)
    assert operator.get(ROLES, "ext")["status"]["org"] == "unmanaged-keys"
    assert sim_role(sim, org.public_id, "ext") is not None
    log = operator.process.log()
    assert_absent([api_key, app_key], log, "the operator's log")


def test_a_stranger_role_in_place_of_ours_is_not_claimed(operator: Operator,
                                                         sim: RunningSimulator) -> None:
    fast(operator, drift=1.0)
    client_org(operator)
    operator.apply(ROLES, role("ops", ["monitors_write"]))
    operator.wait_condition(ROLES, "ops", timeout=30)
    status = operator.get(ROLES, "ops")["status"]
    assert status["roleId"] and "createStartedAt" not in status  # removed on the server too
    pid = org_id(operator)
    # Ours is deleted in Datadog and someone else makes a role of that name.
    sim.state.delete_role_by_name(pid, "ops")
    stranger = sim.state.create_role(sim.state.orgs[pid], "OPS", None)
    cond = operator.wait_condition(ROLES, "ops", status="False", reason="RoleExists",
                                   timeout=20)
    assert stranger.id in cond["message"]
    assert "roleId" not in operator.get(ROLES, "ops")["status"]
    operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", operator.namespace,
                                                     ROLES, "ops")
    wait_for(lambda: _gone(operator, "ops"), timeout=45)
    assert sim_role(sim, pid, "OPS") is not None


def test_adoption_that_cannot_be_exact_stalls_with_the_fix(operator: Operator,
                                                           sim: RunningSimulator) -> None:
    import dataclasses

    operator.start()
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    operator.apply(ROLES, role("ghost", ["monitors_write"], adopt={"roleId": "no-such-role"}))
    cond = operator.wait_condition(ROLES, "ghost", status="False",
                                   reason="AdoptTargetNotFound", timeout=30)
    assert "no-such-role" in cond["message"] and "remove spec.adopt" in cond["message"]
    # The v2 spec: a role name "is neither unique nor a stable identifier". Two roles of one
    # name (put straight into the simulator's state): adoption by name must not guess.
    org = sim.state.orgs[pid]
    first = sim.state.create_role(org, "Twins", None)
    with sim.state.lock:
        second = dataclasses.replace(first, id="twin-2", name="TWINS")
        org.roles[second.id] = second
    operator.apply(ROLES, role("twins", ["monitors_write"], adopt={"roleName": "twins"}))
    cond = operator.wait_condition(ROLES, "twins", status="False", reason="AmbiguousRole",
                                   timeout=30)
    assert first.id in cond["message"] and "twin-2" in cond["message"]
    assert "spec.adopt.roleId" in cond["message"]
    assert "PATCH /api/v2/roles/{role_id}" not in sim.state.calls()


def ready_org_lacking(operator: Operator, sim: RunningSimulator, permission: str
                      ) -> tuple[str, str, set[str]]:
    """A Ready client org "acme" whose keys have every permission but ``permission``:
    (public ID, its keys' Secret name, every permission name)."""
    from ddmsp.simulator.roles import PERMISSIONS

    every = {p["name"] for p in PERMISSIONS} | {"user_access_read"}
    operator.start()
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    secret = operator.get(ORGS, "acme")["status"]["clientOrg"]["credentialsSecret"]
    sim.set_org_permissions(pid, sorted(every - {permission}))
    return pid, secret, every


def test_missing_key_permissions_name_the_permission_and_the_secret(
        operator: Operator, sim: RunningSimulator) -> None:
    pid, secret, _ = ready_org_lacking(operator, sim, "user_access_manage")
    operator.apply(ROLES, role("ops", ["monitors_write"]))
    cond = operator.wait_condition(ROLES, "ops", status="False", reason="MissingPermission",
                                   timeout=30)
    assert "user_access_manage" in cond["message"]
    assert f"Secret {operator.namespace}/{secret}" in cond["message"]
    assert sim_role(sim, pid, "ops") is None
    sim.set_org_permissions(pid, None)  # granted: the operator retries by itself
    operator.wait_condition(ROLES, "ops", timeout=90)
    assert sim_role(sim, pid, "ops") is not None


def test_two_roles_for_one_name_conflict_without_a_tug_of_war(
        operator: Operator, sim: RunningSimulator) -> None:
    fast(operator, drift=1.0)
    client_org(operator)
    operator.apply(ROLES, role("first", ["monitors_write"], roleName="Ops",
                               defaultPermissions="OptOut"))
    operator.wait_condition(ROLES, "first", timeout=30)
    pid = org_id(operator)
    writes = role_writes(sim)
    operator.apply(ROLES, role("second", ["dashboards_write"], roleName="OPS",
                               defaultPermissions="OptOut"))
    cond = operator.wait_condition(ROLES, "second", status="False", reason="Conflict",
                                   timeout=30)
    assert "first" in cond["message"]
    first = operator.get(ROLES, "first")["status"]["roleId"]
    # several drift passes of the owner (the later object re-checks its claim every 30 s,
    # without a Datadog call): no write from either
    wait_requests(sim, f"GET /api/v2/roles/{first}", n=3)
    assert role_writes(sim) == writes
    assert sim_role(sim, pid, "Ops")["permissions"] == ["monitors_write"]  # type: ignore[index]
    operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", operator.namespace,
                                                     ROLES, "second")
    wait_for(lambda: _gone(operator, "second"), timeout=45)
    assert sim_role(sim, pid, "Ops") is not None  # the later object never owned it
