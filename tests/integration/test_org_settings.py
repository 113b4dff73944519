"""spec.settings of a DatadogClientOrg on a real kube-apiserver, against the simulator.

Settings and org configs applied with the org's own keys, drift corrected (Full) or only
reported (ObserveOnly), settings absent from the spec left alone, nothing written when nothing
differs, and bad values refused at admission (or, when only Datadog can tell, as a condition)
with the field named.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import Operator
from tests.support.operator import wait_for
from tests.support.passes import metered, wait_reconciles

pytestmark = pytest.mark.kube
ORGS = "datadogclientorgs"
KIND = "DatadogClientOrg"
PUT_ORG = "PUT /api/v1/org/{public_id}"
PATCH_CONFIG = "PATCH /api/v2/org_configs/{org_config_name}"
SETTINGS = {
    "privateWidgetShare": True,
    "securityContacts": ["soc@acme.example", "ciso@acme.example"],
    "monitorTimezone": "Europe/Paris",
    "teamsProvisioningSources": "saml_and_manually",
    "inviteExpiration30Days": True,
}


def client_org(name: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "DatadogClientOrg", "metadata": {"name": name},
            "spec": {"displayName": f"Settings {name}"[:32], **spec}}


def fast(operator: Operator, drift: float = 1.5) -> Operator:
    operator.process.extra_args += ["--drift-interval", str(drift)]
    return operator.start()


def org_id(operator: Operator, name: str) -> str:
    return str(operator.get(ORGS, name)["status"]["clientOrg"]["publicId"])


def sim_org(sim: RunningSimulator, public_id: str) -> dict[str, Any]:
    return next(o for o in sim.state.snapshot()["orgs"] if o["public_id"] == public_id)


def config(sim: RunningSimulator, public_id: str, name: str) -> Any:
    return sim.state.org_config_value(public_id, name)


def writes(sim: RunningSimulator) -> int:
    calls = sim.state.calls()
    return sum(sum(calls.get(route, {}).values()) for route in (PUT_ORG, PATCH_CONFIG))


def test_settings_applied_drift_corrected_then_only_reported(operator: Operator) -> None:
    op, sim = operator, operator.sim
    port = metered(op)
    fast(op)
    op.apply(ORGS, client_org("acme", settings=SETTINGS))
    op.wait_condition(ORGS, "acme", timeout=90)
    pid = org_id(op, "acme")
    assert sim_org(sim, pid)["settings"]["private_widget_share"] is True
    assert config(sim, pid, "security_contacts") == SETTINGS["securityContacts"]
    assert config(sim, pid, "monitor_timezone") == "Europe/Paris"
    assert config(sim, pid, "teams_provisioning_sources") == "saml_and_manually"
    assert config(sim, pid, "30d_invite_expiration") is True
    # settings absent from the spec are never written
    written = set(sim_org(sim, pid)["org_configs"])
    assert written == {"security_contacts", "monitor_timezone", "teams_provisioning_sources",
                       "30d_invite_expiration"}

    # steady state: drift passes read, never write
    wait_reconciles(port, n=1, kind=KIND)  # a drift pass after the create's passes
    before = writes(sim)
    wait_reconciles(port, n=3, kind=KIND)
    assert writes(sim) == before

    # drift in Datadog is corrected; a change to an unmanaged config is left alone
    sim.state.set_org_setting(pid, "private_widget_share", False)
    sim.state.set_org_config(pid, "monitor_timezone", "UTC")
    sim.state.set_org_config(pid, "admin_only_invites", True)
    wait_for(lambda: sim_org(sim, pid)["settings"]["private_widget_share"] is True
             and config(sim, pid, "monitor_timezone") == "Europe/Paris",
             timeout=60, what="settings drift corrected")
    corrected = [e.message for e in op.events("acme") if e.reason == "DriftCorrected"]
    assert any("spec.settings.monitorTimezone" in m for m in corrected), corrected
    assert config(sim, pid, "admin_only_invites") is True

    # a change of the spec is applied, one config at a time
    op.patch(ORGS, "acme", {"spec": {"settings": {"securityContacts": []}}})
    wait_for(lambda: config(sim, pid, "security_contacts") == [], timeout=60,
             what="securityContacts cleared")

    # ObserveOnly: drift reported with the field named, never corrected
    op.patch(ORGS, "acme", {"spec": {"managementPolicy": "ObserveOnly"}})
    wait_for(lambda: op.get(ORGS, "acme")["status"].get("observedGeneration") == 3,
             timeout=60, what="ObserveOnly seen")
    op.wait_condition(ORGS, "acme", timeout=60)
    before = writes(sim)
    sim.state.set_org_config(pid, "teams_provisioning_sources", "manually")
    sim.state.set_org_setting(pid, "private_widget_share", False)
    drift = op.wait_condition(ORGS, "acme", "Ready", "False", "DriftDetected", timeout=60)
    assert "spec.settings.teamsProvisioningSources" in drift["message"]
    assert "spec.settings.privateWidgetShare" in drift["message"]
    wait_reconciles(port, n=2, kind=KIND)  # two more drift passes report, never correct
    assert writes(sim) == before
    assert config(sim, pid, "teams_provisioning_sources") == "manually"
    assert sim_org(sim, pid)["settings"]["private_widget_share"] is False


def test_a_value_datadog_refuses_is_a_condition_naming_the_field(operator: Operator) -> None:
    op, sim = operator, operator.sim
    op.start()
    # a well-formed zone name that Datadog does not offer: only Datadog can tell
    op.apply(ORGS, client_org("tz", settings={"monitorTimezone": "Mars/Olympus_Mons"}))
    blocked = op.wait_condition(ORGS, "tz", "Ready", "False", "InvalidSetting", timeout=90)
    assert "spec.settings.monitorTimezone" in blocked["message"]
    assert "Mars/Olympus_Mons" in blocked["message"]
    op.patch(ORGS, "tz", {"spec": {"settings": {"monitorTimezone": "America/New_York"}}})
    op.wait_condition(ORGS, "tz", timeout=60)
    assert config(sim, org_id(op, "tz"), "monitor_timezone") == "America/New_York"


@pytest.mark.parametrize("settings,field", [
    ({"securityContacts": ["not-an-email"]}, "spec.settings.securityContacts"),
    ({"emailDomainAllowlist": ["@example.com"]}, "spec.settings.emailDomainAllowlist"),
    ({"monitorTimezone": "Paris time"}, "spec.settings.monitorTimezone"),
    ({"teamsEditDetails": "everyone"}, "spec.settings.teamsEditDetails"),
    ({"teamsProvisioningSources": "sometimes"}, "spec.settings.teamsProvisioningSources"),
    ({"privateWidgetShare": "yes"}, "spec.settings.privateWidgetShare"),
], ids=["email", "domain", "timezone", "team-permission", "provisioning", "bool"])
def test_bad_values_refused_at_admission_naming_the_field(
        operator: Operator, settings: dict[str, Any], field: str) -> None:
    with pytest.raises(client.ApiException) as refused:
        operator.apply(ORGS, client_org("bad", settings=settings))
    assert refused.value.status == 422
    body = str(refused.value.body)
    assert field in body, body


FLEET = 50


def test_partner_defaults_reach_the_fleet_and_a_client_override_wins(
        operator: Operator) -> None:
    op, sim = operator, operator.sim
    objects = client.CustomObjectsApi(op.api)
    partner = f"fleet-{op.namespace}"[:63]
    objects.create_cluster_custom_object("ddmsp.io", "v1alpha1", "datadogpartners", {
        "apiVersion": "ddmsp.io/v1alpha1", "kind": "DatadogPartner",
        "metadata": {"name": partner},
        "spec": {"credentialsSecretRef": {"namespace": op.namespace, "name": "partner"},
                 "allowedNamespaces": [op.namespace],
                 "defaults": {"settings": {"privateWidgetShare": True,
                                           "monitorTimezone": "Asia/Tokyo",
                                           "restrictExportToCsv": True}}}})
    try:
        fast(op, drift=5)
        names = [f"c{i:02d}" for i in range(FLEET)]
        for name in names:
            own = {"monitorTimezone": "UTC"} if name == "c00" else None
            op.apply(ORGS, client_org(name, partnerRef={"name": partner},
                                      **({"settings": own} if own else {})))

        def zones() -> dict[str, Any]:
            out = {}
            for name in names:
                status = op.get(ORGS, name).get("status") or {}
                pid = (status.get("clientOrg") or {}).get("publicId")
                out[name] = config(sim, pid, "monitor_timezone") if pid else None
            return out

        wait_for(lambda: zones()["c00"] == "UTC" and all(
            z == "Asia/Tokyo" for n, z in zones().items() if n != "c00"),
            timeout=300, interval=2, what="defaults applied to the fleet")
        for name in ("c00", "c01"):
            pid = org_id(op, name)
            assert sim_org(sim, pid)["settings"]["private_widget_share"] is True
            assert config(sim, pid, "restrict_export_to_csv") is True
        sources = wait_for(lambda: op.get(ORGS, "c00")["status"].get("settingsSources"),
                           what="settingsSources")
        assert sources == {"monitorTimezone": "spec",
                           "privateWidgetShare": f"DatadogPartner/{partner}",
                           "restrictExportToCsv": f"DatadogPartner/{partner}"}
        # Datadog holds the values before the pass writes its status: wait for that too
        c01 = wait_for(lambda: op.get(ORGS, "c01")["status"].get("settingsSources"),
                       what="settingsSources of c01")
        assert c01["monitorTimezone"] == f"DatadogPartner/{partner}"

        # a changed default reaches every client at its next pass; the override still wins
        sim.state.reset_calls()
        started = time.monotonic()
        objects.patch_cluster_custom_object("ddmsp.io", "v1alpha1", "datadogpartners", partner,
                                            {"spec": {"defaults": {"settings": {
                                                "monitorTimezone": "Europe/Berlin"}}}})
        wait_for(lambda: all(z == "Europe/Berlin" for n, z in zones().items() if n != "c00"),
                 timeout=300, interval=2, what="changed default reached the fleet")
        took = time.monotonic() - started
        patches = sum(sim.state.calls().get(PATCH_CONFIG, {}).values())
        assert zones()["c00"] == "UTC"
        assert patches == FLEET - 1, patches  # one write per client, none for the override
        print(f"changed default reached {FLEET - 1} client orgs in {took:.1f}s "
              f"with {patches} PATCHes")
    finally:
        objects.delete_cluster_custom_object("ddmsp.io", "v1alpha1", "datadogpartners",
                                             partner)
