"""DatadogSAMLConfig against a real kube-apiserver, the simulator and the operator process."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import Operator, put_secret
from tests.integration.test_roles import (
    ORGS,
    ROLES,
    client_org,
    fast,
    org_id,
    ready_org_lacking,
    role,
)
from tests.support.operator import wait_for
from tests.support.passes import (
    WITNESS_KIND,
    add_waiting_witness,
    metered,
    reconciles,
    wait_reconciles,
)
from tests.support.samlmeta import BILLION_LAUGHS, BOM, MALFORMED, XXE, metadata

pytestmark = pytest.mark.kube

SAML = "datadogsamlconfigs"
KIND = "DatadogSAMLConfig"
UPLOAD = "POST /api/v1/org/{public_id}/idp_metadata"


def saml(name: str, source: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"kind": "DatadogSAMLConfig", "metadata": {"name": name},
            "spec": {"orgRef": {"name": "acme"}, "idpMetadata": source, **spec}}


def put_config_map(api: client.ApiClient, namespace: str, name: str, data: dict[str, str],
                   labels: dict[str, str] | None = None) -> None:
    core = client.CoreV1Api(api)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels),
                              data=data)
    try:
        core.create_namespaced_config_map(namespace, body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_config_map(name, namespace, body)


def sim_org(sim: RunningSimulator, public_id: str) -> dict[str, Any]:
    return next(o for o in sim.state.snapshot()["orgs"] if o["public_id"] == public_id)


def uploads(sim: RunningSimulator) -> int:
    return sum(sim.state.calls().get(UPLOAD, {}).values())


def test_saml_ready_configmap_changes_and_mappings(operator: Operator, api: client.ApiClient,
                                                   sim: RunningSimulator) -> None:
    port = metered(operator)
    operator.start()
    client_org(operator)
    operator.apply(ROLES, role("ops", ["monitors_write"]))
    # Azure AD style: a UTF-8 BOM before the XML. Kubernetes keeps it in the ConfigMap.
    put_config_map(api, operator.namespace, "idp", {
        "metadata.xml": (BOM + metadata("https://sts.example.com/one").encode()).decode()})
    operator.apply(SAML, saml(
        "sso", {"configMapKeyRef": {"name": "idp", "key": "metadata.xml"}},
        enabled=True, idpInitiatedLogin=True,
        autocreateUsers={"domains": ["example.com"], "accessRole": "ro"},
        roleMappings=[
            {"attributeKey": "groups", "attributeValue": "ops", "roleRef": {"name": "ops"}},
            {"attributeKey": "groups", "attributeValue": "all",
             "roleName": "Datadog Read Only Role"},
        ]))
    operator.wait_condition(SAML, "sso", timeout=30)
    pid = org_id(operator)
    status = operator.get(SAML, "sso")["status"]
    org = sim_org(sim, pid)
    assert status["org"] == "acme" and status["orgPublicId"] == pid
    assert status["metadataSha256"] == org["idp_metadata"]["sha256"]  # BOM-free bytes
    assert status["idp"]["entityId"] == "https://sts.example.com/one"
    assert status["idp"]["ssoUrl"] == "https://idp.example.com/sso"
    assert status["idp"]["certificateExpires"] and status["uploadedAt"]
    assert status["loginUrl"].endswith(pid)
    assert status["enabled"] is True and status["strictMode"] is False
    settings = org["settings"]
    assert settings["saml"]["enabled"] and settings["saml_idp_initiated_login"]["enabled"]
    assert settings["saml_autocreate_users_domains"] == {"domains": ["example.com"],
                                                         "enabled": True}
    assert settings["saml_autocreate_access_role"] == "ro"
    assert settings["saml_strict_mode"]["enabled"] is False  # never sent: not in the spec
    mappings = {(m["attribute_value"], m["role_name"]) for m in org["authn_mappings"]}
    assert mappings == {("ops", "ops"), ("all", "Datadog Read Only Role")}
    assert uploads(sim) == 1

    # An unchanged ConfigMap (a label added) is noticed but not re-uploaded.
    passes = reconciles(port, KIND)
    put_config_map(api, operator.namespace, "idp",
                   {"metadata.xml": (BOM + metadata("https://sts.example.com/one").encode())
                    .decode()}, labels={"touched": "yes"})
    wait_for(lambda: f"ConfigMap {operator.namespace}/idp changed"
             in operator.process.log(), timeout=45, what="change noticed")
    wait_reconciles(port, n=1, kind=KIND, since=passes)  # the pass the change started
    assert uploads(sim) == 1
    # noticed in memory: nothing written to the config
    assert not any("idp-metadata" in a for a in
                   operator.get(SAML, "sso")["metadata"].get("annotations", {}))

    # A changed ConfigMap is re-uploaded.
    put_config_map(api, operator.namespace, "idp",
                   {"metadata.xml": metadata("https://sts.example.com/two")})
    wait_for(lambda: operator.get(SAML, "sso")["status"]["idp"]["entityId"]
             == "https://sts.example.com/two", timeout=45, what="new metadata uploaded")
    assert uploads(sim) == 2
    assert any(e.reason == "MetadataUploaded" for e in operator.events("sso"))


def test_saml_before_its_org_converges(operator: Operator, api: client.ApiClient) -> None:
    operator.start()
    put_secret(api, operator.namespace, "idp-secret", {"xml": metadata()})
    operator.apply(SAML, saml("early", {"secretKeyRef": {"name": "idp-secret", "key": "xml"}},
                              enabled=True))
    operator.wait_condition(SAML, "early", status="False", reason="OrgNotReady", timeout=20)
    client_org(operator)
    operator.wait_condition(SAML, "early", timeout=30)
    # A Secret change is noticed too.
    put_secret(api, operator.namespace, "idp-secret",
               {"xml": metadata("https://idp.example.com/rotated")})
    wait_for(lambda: operator.get(SAML, "early")["status"]["idp"]["entityId"]
             == "https://idp.example.com/rotated", timeout=45, what="secret change")


def test_drift_corrected_and_observe_only(operator: Operator, sim: RunningSimulator) -> None:
    port = metered(operator)
    fast(operator)
    client_org(operator)
    operator.apply(SAML, saml("sso", {"inline": metadata()}, enabled=True,
                              idpInitiatedLogin=False, roleMappings=[]))
    operator.wait_condition(SAML, "sso", timeout=30)
    pid = org_id(operator)
    sim.state.set_org_setting(pid, "saml_idp_initiated_login.enabled", True)
    extra = sim.state.add_authn_mapping(pid, "groups", "intruders", "Datadog Admin Role")

    def corrected() -> bool:
        org = sim_org(sim, pid)
        return not org["authn_mappings"] and \
            not org["settings"]["saml_idp_initiated_login"]["enabled"]

    wait_for(corrected, timeout=45, what="SAML drift corrected")
    drift = wait_for(lambda: operator.get(SAML, "sso")["status"].get("drift"), timeout=45)
    text = " ".join(drift["differences"])
    assert "idpInitiatedLogin" in text and "intruders" in text and drift["corrected"]
    assert extra not in str(sim_org(sim, pid)["authn_mappings"])

    # ObserveOnly: the same drift is reported, never corrected.
    operator.patch(SAML, "sso", {"spec": {"managementPolicy": "ObserveOnly"}})
    wait_for(lambda: operator.get(SAML, "sso")["status"].get("observedGeneration") == 2,
             timeout=45)
    sim.state.set_org_setting(pid, "saml_idp_initiated_login.enabled", True)
    cond = operator.wait_condition(SAML, "sso", status="False", reason="DriftDetected",
                                   timeout=45)
    assert "idpInitiatedLogin" in cond["message"]
    wait_reconciles(port, n=2, kind=KIND)  # two more drift passes report, never correct
    assert sim_org(sim, pid)["settings"]["saml_idp_initiated_login"]["enabled"] is True


ENCRYPTION_KEY_ONLY = metadata().replace('use="signing"', 'use="encryption"')


@pytest.mark.parametrize("doc,reason", [
    (MALFORMED, "InvalidMetadata"), (BILLION_LAUGHS, "UnsafeMetadata"), (XXE, "UnsafeMetadata"),
    (ENCRYPTION_KEY_ONLY, "InvalidMetadata"),
], ids=["malformed", "billion-laughs", "xxe", "no-signing-certificate"])
def test_bad_metadata_stalls_with_the_reason_and_a_fix_unblocks(
        operator: Operator, api: client.ApiClient, sim: RunningSimulator,
        doc: str, reason: str) -> None:
    operator.start()
    client_org(operator)
    put_config_map(api, operator.namespace, "idp", {"xml": doc})
    operator.apply(SAML, saml("bad", {"configMapKeyRef": {"name": "idp", "key": "xml"}}))
    cond = operator.wait_condition(SAML, "bad", status="False", reason=reason, timeout=30)
    assert operator.condition(SAML, "bad", "Stalled")["status"] == "True"  # type: ignore[index]
    assert "passwd" not in cond["message"]
    assert uploads(sim) == 0
    put_config_map(api, operator.namespace, "idp", {"xml": metadata()})
    operator.wait_condition(SAML, "bad", timeout=45)
    assert uploads(sim) == 1


def test_lockout_needs_acknowledgement_and_cert_expiry_warns(operator: Operator,
                                                             sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator)
    with pytest.raises(client.ApiException) as err:
        operator.apply(SAML, saml("strict", {"inline": metadata()}, enabled=True,
                                  strictMode=True))
    assert err.value.status == 422
    assert "nobody can log in" in str(err.value.body)
    assert "acknowledgeLockoutRisk: true" in str(err.value.body)
    operator.apply(SAML, saml("strict", {"inline": metadata(days_valid=10)}, enabled=True,
                              strictMode=True, acknowledgeLockoutRisk=True))
    operator.wait_condition(SAML, "strict", timeout=30)
    assert sim_org(sim, org_id(operator))["settings"]["saml_strict_mode"]["enabled"] is True
    warnings = [e for e in operator.events("strict") if e.reason == "CertificateExpiring"]
    assert len(warnings) == 1 and warnings[0].type == "Warning"
    assert "in 9 days" in warnings[0].message


def _gone(operator: Operator, name: str) -> bool:
    try:
        operator.get(SAML, name)
    except client.ApiException as exc:
        return exc.status == 404
    return False


@pytest.mark.parametrize("policy", ["Delete", "Orphan"])
def test_deletion_policy(operator: Operator, sim: RunningSimulator, policy: str) -> None:
    operator.start()
    client_org(operator)
    operator.apply(SAML, saml("sso", {"inline": metadata()}, enabled=True, deletionPolicy=policy,
                              roleMappings=[{"attributeKey": "g", "attributeValue": "v",
                                             "roleName": "Datadog Standard Role"}]))
    operator.wait_condition(SAML, "sso", timeout=30)
    pid = org_id(operator)
    operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", operator.namespace,
                                                     SAML, "sso")
    wait_for(lambda: _gone(operator, "sso"), timeout=45)
    org = sim_org(sim, pid)
    if policy == "Delete":
        assert org["settings"]["saml"]["enabled"] is False and org["authn_mappings"] == []
    else:
        assert org["settings"]["saml"]["enabled"] is True and len(org["authn_mappings"]) == 1
    assert operator.get(ORGS, "acme")  # the org itself is untouched


def test_observe_only_from_the_start_never_writes(operator: Operator,
                                                  sim: RunningSimulator) -> None:
    from ddmsp.simulator.idp import parse_idp_metadata

    operator.start()
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    doc = metadata()
    sim.state.set_idp_metadata(sim.state.orgs[pid], parse_idp_metadata(doc.encode()))
    operator.apply(SAML, saml("watch", {"inline": doc}, enabled=False,
                              managementPolicy="ObserveOnly"))
    operator.wait_condition(SAML, "watch", timeout=30)
    operator.patch(SAML, "watch", {"spec": {"enabled": True}})
    cond = operator.wait_condition(SAML, "watch", status="False", reason="DriftDetected",
                                   timeout=45)
    assert "enabled is false, the spec wants true" in cond["message"]
    calls = sim.state.calls()
    assert uploads(sim) == 0 and "PUT /api/v1/org/{public_id}" not in calls


def _set_org_setting(sim: RunningSimulator, public_id: str, **settings: Any) -> None:
    with sim.state.lock:
        sim.state.orgs[public_id].settings.update(settings)


def test_delete_switches_off_only_what_this_config_switched_on(operator: Operator,
                                                               sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator)
    client_org(operator, "beta")
    operator.wait_condition(ORGS, "beta", timeout=30)
    # acme: SAML off before the config, which switches it on. beta: SAML on already.
    beta = org_id(operator, "beta")
    _set_org_setting(sim, beta, saml={"enabled": True})
    operator.apply(SAML, saml("mine", {"inline": metadata()}, enabled=True))
    other = saml("theirs", {"inline": metadata()}, enabled=True)
    other["spec"]["orgRef"] = {"name": "beta"}
    operator.apply(SAML, other)
    operator.wait_condition(SAML, "mine", timeout=30)
    operator.wait_condition(SAML, "theirs", timeout=30)
    assert operator.get(SAML, "mine")["status"]["turnedOn"] == ["enabled"]
    assert not operator.get(SAML, "theirs")["status"].get("turnedOn")
    for name in ("mine", "theirs"):
        operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1",
                                                         operator.namespace, SAML, name)
    wait_for(lambda: _gone(operator, "mine") and _gone(operator, "theirs"), timeout=45)
    assert sim_org(sim, org_id(operator))["settings"]["saml"]["enabled"] is False
    assert sim_org(sim, beta)["settings"]["saml"]["enabled"] is True  # it was on before


def test_a_mapping_changes_role_in_place(operator: Operator, sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator)
    mapping = {"attributeKey": "groups", "attributeValue": "ops",
               "roleName": "Datadog Read Only Role"}
    operator.apply(SAML, saml("sso", {"inline": metadata()}, roleMappings=[mapping]))
    operator.wait_condition(SAML, "sso", timeout=30)
    pid = org_id(operator)
    before = sim_org(sim, pid)["authn_mappings"]
    sim.state.reset_calls()
    operator.patch(SAML, "sso", {"spec": {"roleMappings": [
        {**mapping, "roleName": "Datadog Standard Role"}]}})
    wait_for(lambda: [m["role_name"] for m in sim_org(sim, pid)["authn_mappings"]]
             == ["Datadog Standard Role"], timeout=20, what="mapping re-pointed")
    after = sim_org(sim, pid)["authn_mappings"]
    assert [m["id"] for m in after] == [m["id"] for m in before]  # the same mapping
    calls = sim.state.calls()
    assert sum(calls.get("PATCH /api/v2/authn_mappings/{authn_mapping_id}", {}).values()) == 1
    assert "POST /api/v2/authn_mappings" not in calls  # never a delete and re-create,
    assert "DELETE /api/v2/authn_mappings/{authn_mapping_id}" not in calls  # no gap


def test_an_org_where_saml_cannot_be_enabled_stalls_with_the_fix(
        operator: Operator, sim: RunningSimulator) -> None:
    # As recorded for a new child org (the simulator's /_sim/config): SAML cannot be enabled.
    sim.set_config(saml_can_be_enabled=False)
    port = metered(operator)
    operator.start()
    client_org(operator)
    operator.wait_condition(ORGS, "acme", timeout=30)
    pid = org_id(operator)
    operator.apply(SAML, saml("sso", {"inline": metadata()}, enabled=True))
    cond = operator.wait_condition(SAML, "sso", status="False", reason="SAMLNotAvailable",
                                   timeout=30)
    assert "Datadog support" in cond["message"] and pid in cond["message"]
    assert operator.condition(SAML, "sso", "Stalled")["status"] == "True"  # type: ignore[index]
    wait_reconciles(port, n=1, kind=KIND, outcome="stalled", since=0)  # that pass is over
    assert uploads(sim) == 0 and "PUT /api/v1/org/{public_id}" not in sim.state.calls()
    gets = sum(sim.state.calls().get("GET /api/v1/org/{public_id}", {}).values())
    # stalled: no blind retries while a waiting object is polled three times
    add_waiting_witness(operator)
    wait_reconciles(port, n=3, kind=WITNESS_KIND, outcome="waiting", since=0)
    assert sum(sim.state.calls().get("GET /api/v1/org/{public_id}", {}).values()) == gets
    # Datadog enables SAML for the org; one more attempt asked for converges.
    sim.set_org(pid, saml_can_be_enabled=True)
    operator.patch(SAML, "sso", {"metadata": {"annotations": {"ddmsp.io/retry": "1"}}})
    operator.wait_condition(SAML, "sso", timeout=30)
    assert sim_org(sim, pid)["settings"]["saml"]["enabled"] is True


def test_a_converged_config_reads_two_things_per_drift_pass(operator: Operator,
                                                            sim: RunningSimulator) -> None:
    port = metered(operator)
    fast(operator, drift=1.0)
    client_org(operator)
    operator.apply(SAML, saml("sso", {"inline": metadata()}, enabled=True, roleMappings=[
        {"attributeKey": "groups", "attributeValue": "all",
         "roleName": "Datadog Read Only Role"}]))
    operator.wait_condition(SAML, "sso", timeout=30)
    wait_reconciles(port, n=1, kind=KIND)  # the first passes are over: a drift pass ran

    def count(route: str) -> int:
        return sum(sim.state.calls().get(route, {}).values())

    listings, mapping_reads = count("GET /api/v2/roles"), count("GET /api/v2/authn_mappings")
    # a few drift passes (each reads the org and the mappings once)
    wait_reconciles(port, n=3, kind=KIND)
    assert count("GET /api/v2/authn_mappings") - mapping_reads >= 2
    assert count("GET /api/v2/roles") == listings  # role names come from the mapping listing
    assert operator.condition(SAML, "sso", "Ready")["status"] == "True"  # type: ignore[index]


def test_two_configs_for_one_org_conflict_and_the_later_changes_nothing(
        operator: Operator, sim: RunningSimulator) -> None:
    port = metered(operator)
    operator.start()
    client_org(operator)
    operator.apply(SAML, saml("first", {"inline": metadata()}, enabled=True))
    operator.wait_condition(SAML, "first", timeout=30)
    sim.state.reset_calls()
    waits = reconciles(port, KIND, "waiting")
    operator.apply(SAML, saml("second", {"inline": metadata("https://other.example.com")},
                              enabled=False))
    cond = operator.wait_condition(SAML, "second", status="False", reason="Conflict",
                                   timeout=30)
    assert "first" in cond["message"]
    # the pass that found the conflict is over (its next one is 30 s away)
    wait_reconciles(port, n=1, kind=KIND, outcome="waiting", since=waits)
    calls = sim.state.calls()
    assert uploads(sim) == 0 and "PUT /api/v1/org/{public_id}" not in calls  # no tug of war
    operator.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", operator.namespace,
                                                     SAML, "second")
    wait_for(lambda: _gone(operator, "second"), timeout=45)
    assert sim_org(sim, org_id(operator))["settings"]["saml"]["enabled"] is True
    assert operator.condition(SAML, "first", "Ready")["status"] == "True"  # type: ignore[index]


def test_missing_key_permissions_name_the_permission_and_the_secret(
        operator: Operator, sim: RunningSimulator) -> None:
    pid, secret, every = ready_org_lacking(operator, sim, "org_management")
    operator.apply(SAML, saml("sso", {"inline": metadata()}, enabled=True, roleMappings=[
        {"attributeKey": "groups", "attributeValue": "all",
         "roleName": "Datadog Read Only Role"}]))
    cond = operator.wait_condition(SAML, "sso", status="False", reason="MissingPermission",
                                   timeout=30)
    assert "org_management" in cond["message"]
    assert f"Secret {operator.namespace}/{secret}" in cond["message"]
    # With org_management but not user_access_manage: the mapping cannot be written.
    sim.set_org_permissions(pid, sorted(every - {"user_access_manage"}))

    def lacks_manage() -> dict[str, Any] | None:
        ready = operator.condition(SAML, "sso", "Ready")
        return ready if ready and ready["reason"] == "MissingPermission" and \
            "user_access_manage" in ready["message"] else None

    cond = wait_for(lacks_manage, timeout=90, what="user_access_manage named")
    assert f"Secret {operator.namespace}/{secret}" in cond["message"]
    sim.set_org_permissions(pid, None)
    operator.wait_condition(SAML, "sso", timeout=90)
