"""DatadogOrgConnection against a real kube-apiserver, the simulator and the operator process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import Operator, secret_data
from tests.support.kube import Cluster
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube

ORGS, CONNS = "datadogclientorgs", "datadogorgconnections"
POST, PATCH = "POST /api/v2/org_connections", "PATCH /api/v2/org_connections/{connection_id}"
LIST = "GET /api/v2/org_connections"
DELETE = "DELETE /api/v2/org_connections/{connection_id}"


def client_org(operator: Operator, name: str, **spec: Any) -> None:
    operator.apply(ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": name},
                          "spec": {"displayName": f"Acme {name}"[:32], **spec}})


def conn(name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("sourceOrgRef", {"name": "acme"})
    spec.setdefault("connectionTypes", ["metrics"])
    return {"kind": "DatadogOrgConnection", "metadata": {"name": name}, "spec": spec}


def public_id(operator: Operator, name: str) -> str:
    return str(operator.get(ORGS, name)["status"]["clientOrg"]["publicId"])


def sim_conns(sim: RunningSimulator, source: str) -> list[Any]:
    return [c for c in list(sim.state.connections.values()) if c.source == source]


def calls(sim: RunningSimulator, route: str) -> int:
    return sum(sim.state.calls().get(route, {}).values())


def test_connection_to_the_partner_org_created_patched_in_place_and_deleted(
        operator: Operator, sim: RunningSimulator) -> None:
    operator.process.extra_args += ["--drift-interval", "1.5"]
    operator.start()
    client_org(operator, "acme")
    operator.apply(CONNS, conn("acme-to-ops", sinkPartner=True))
    operator.wait_condition(CONNS, "acme-to-ops", timeout=60)
    source = public_id(operator, "acme")
    partner = sim.state.org_for_api_key(sim.partner_api_key)
    assert partner is not None
    made = sim_conns(sim, source)
    assert len(made) == 1 and made[0].sink == partner.public_id and made[0].types == ["metrics"]
    status = operator.get(CONNS, "acme-to-ops")["status"]
    # The sink is named by its v2 org UUID, learnt with the partner's keys, not the public_id.
    assert status["sinkOrgUuid"] == partner.v2_id != partner.public_id
    assert status["connectionId"] == made[0].id and status["types"] == "metrics"
    assert status["source"] == "acme" and status["sink"] == "partner"
    assert calls(sim, POST) == 1
    # Steady state: drift passes read (one listing each) and write nothing.
    reads = calls(sim, LIST)
    wait_for(lambda: calls(sim, LIST) >= reads + 3, timeout=30, what="drift passes")
    assert calls(sim, POST) == 1 and calls(sim, PATCH) == 0

    operator.patch(CONNS, "acme-to-ops", {"spec": {"connectionTypes": ["metrics", "logs"]}})
    wait_for(lambda: sorted(sim_conns(sim, source)[0].types) == ["logs", "metrics"],
             timeout=30, what="types patched")
    wait_for(lambda: operator.get(CONNS, "acme-to-ops")["status"].get("types") ==
             "logs,metrics", timeout=30, what="status types")
    assert sim_conns(sim, source)[0].id == made[0].id  # in place: same connection
    assert calls(sim, POST) == 1 and calls(sim, PATCH) == 1

    operator.objects.delete_namespaced_custom_object(
        "ddmsp.io", "v1alpha1", operator.namespace, CONNS, "acme-to-ops")
    wait_for(lambda: operator.gone(CONNS, "acme-to-ops"), timeout=60, what="object deleted")
    assert sim_conns(sim, source) == []  # deletionPolicy Delete (the default)


def test_existing_pair_refused_until_adopted_then_orphaned(operator: Operator,
                                                          sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator, "acme")
    client_org(operator, "beta")
    operator.wait_condition(ORGS, "acme", timeout=60)
    operator.wait_condition(ORGS, "beta", timeout=60)
    source, sink = (sim.state.orgs[public_id(operator, n)] for n in ("acme", "beta"))
    existing = sim.state.create_connection(source, sink.v2_id, ["logs"])

    operator.apply(CONNS, conn("acme-to-beta", sinkOrgRef={"name": "beta"}))
    cond = operator.wait_condition(CONNS, "acme-to-beta", "Stalled", reason="ConnectionExists",
                                   timeout=60)
    assert f"spec.adopt.connectionId: {existing.id}" in cond["message"]
    assert len(sim_conns(sim, source.public_id)) == 1 and existing.types == ["logs"]

    operator.patch(CONNS, "acme-to-beta", {"spec": {"adopt": {"connectionId": existing.id},
                                                    "deletionPolicy": "Orphan"}})
    operator.wait_condition(CONNS, "acme-to-beta", timeout=60)
    status = operator.get(CONNS, "acme-to-beta")["status"]
    assert status["adopted"] is True and status["connectionId"] == existing.id
    assert existing.types == ["metrics"]  # adopted, then follows the spec
    assert calls(sim, POST) == 0

    operator.objects.delete_namespaced_custom_object(
        "ddmsp.io", "v1alpha1", operator.namespace, CONNS, "acme-to-beta")
    wait_for(lambda: operator.gone(CONNS, "acme-to-beta"), timeout=60, what="object deleted")
    assert existing.id in sim.state.connections  # Orphan keeps it


def test_spinoff_client_or_other_site_gets_a_clear_condition_and_nothing_is_sent(
        operator: Operator, sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator, "globex", provisioning="SpinOff")
    operator.apply(CONNS, conn("globex-to-ops", sourceOrgRef={"name": "globex"},
                               sinkPartner=True))
    cond = operator.wait_condition(CONNS, "globex-to-ops", "Stalled", reason="NotSameAccount",
                                   timeout=60)
    assert "SpinOff client" in cond["message"] and "globex" in cond["message"]
    # A sink on another Datadog site: refused before any write (the sink need not be Ready).
    client_org(operator, "acme")
    client_org(operator, "euro", site="datadoghq.eu")
    operator.apply(CONNS, conn("acme-to-euro", sinkOrgRef={"name": "euro"}))
    cond = operator.wait_condition(CONNS, "acme-to-euro", "Stalled", reason="SiteMismatch",
                                   timeout=90)
    assert "datadoghq.com" in cond["message"] and "datadoghq.eu" in cond["message"]
    assert calls(sim, POST) == 0


@pytest.mark.parametrize(("spec", "fragment"), [
    ({"sinkPartner": True, "sinkOrgUUID": "c0ffee00-1d2e-4c3b-8a9f-0123456789ab"},
     "set exactly one of spec.sinkOrgRef"),
    ({}, "set exactly one of spec.sinkOrgRef"),
    ({"sinkPartner": True, "connectionTypes": []}, "spec.connectionTypes"),
    ({"sinkPartner": True, "connectionTypes": ["traces"]}, "spec.connectionTypes"),
    ({"sinkPartner": True, "connectionTypes": ["logs", "logs"]}, "spec.connectionTypes"),
    ({"sinkOrgUUID": "abc123"}, "spec.sinkOrgUUID"),
    ({"sinkOrgRef": {"name": "acme"}}, "spec.sinkOrgRef"),
])
def test_admission_refuses_bad_specs_naming_the_field(operator: Operator,
                                                      spec: dict[str, Any],
                                                      fragment: str) -> None:
    with pytest.raises(client.ApiException) as err:
        operator.apply(CONNS, conn("bad", **spec))
    assert err.value.status == 422 and fragment in str(err.value.body), err.value.body


def test_clients_deleted_with_their_connection_wait_for_it_and_say_so(
        operator: Operator, sim: RunningSimulator, cluster: Cluster, tmp_path: Path) -> None:
    """Issue 18 item 2: `kubectl delete -f <dir>` of two clients and the connection between
    them (the orgs' files first). Both orgs keep their keys and records until the connection
    has finished its deletion policy (Delete: gone in Datadog), and say what they wait for;
    a 5xx on the connection's delete makes everything wait, nothing is orphaned."""
    operator.start()
    client_org(operator, "acme")
    client_org(operator, "beta")
    link = conn("acme-to-beta", sinkOrgRef={"name": "beta"})
    operator.apply(CONNS, link)
    operator.wait_condition(CONNS, "acme-to-beta", timeout=90)
    source = public_id(operator, "acme")
    assert len(sim_conns(sim, source)) == 1
    folder = tmp_path / "clients"
    folder.mkdir()
    bodies = [operator.get(ORGS, "acme"), operator.get(ORGS, "beta"), link]
    for i, body in enumerate(bodies):
        (folder / f"{i:02d}.yaml").write_text(yaml.safe_dump({
            "apiVersion": "ddmsp.io/v1alpha1", "kind": body["kind"],
            "metadata": {"name": body["metadata"]["name"]}, "spec": body["spec"]}))
    sim.add_fault(route=DELETE, status=503)  # the connection's delete fails for now

    cluster.kubectl("delete", "-f", str(folder), "-n", operator.namespace, "--wait=false")
    for org in ("acme", "beta"):  # the source (whose keys delete it) and the sink
        cond = operator.wait_condition(ORGS, org, status="False",
                                       reason="WaitingForDependents", timeout=60)
        assert "DatadogOrgConnection acme-to-beta (being deleted)" in cond["message"], cond
    wait_for(lambda: sim.call_count(DELETE, 503) >= 1, timeout=60, what="a refused delete")
    assert secret_data(operator.api, operator.namespace, "acme-datadog-credentials")
    assert len(sim_conns(sim, source)) == 1 and not operator.gone(CONNS, "acme-to-beta")

    sim.clear_faults()
    wait_for(lambda: all(operator.gone(p, n) for p, n in
                         ((CONNS, "acme-to-beta"), (ORGS, "acme"), (ORGS, "beta"))),
             timeout=180, what=lambda: f"all deleted; log:\n{operator.process.log()[-3000:]}")
    assert sim_conns(sim, source) == []  # deleted in Datadog (deletionPolicy Delete)
    assert sim.call_count(DELETE, 200) == 1
