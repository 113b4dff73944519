"""spec.opsOrgConnection of a DatadogClientOrg: the owned DatadogOrgConnection to the
partner's org, against a real kube-apiserver, the simulator and the operator process."""

from __future__ import annotations

from typing import Any

import pytest

from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import Operator
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube

ORGS, CONNS = "datadogclientorgs", "datadogorgconnections"
POST, PATCH = "POST /api/v2/org_connections", "PATCH /api/v2/org_connections/{connection_id}"
DELETE = "DELETE /api/v2/org_connections/{connection_id}"


def client_org(operator: Operator, name: str, **spec: Any) -> None:
    operator.apply(ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": name},
                          "spec": {"displayName": f"Acme {name}"[:32], **spec}})


def sim_conns(sim: RunningSimulator, source: str) -> list[Any]:
    return [c for c in list(sim.state.connections.values()) if c.source == source]


def calls(sim: RunningSimulator, route: str) -> int:
    return sum(sim.state.calls().get(route, {}).values())


def test_one_field_on_the_client_connects_it_to_the_partner_org_then_patches_and_deletes(
        operator: Operator, sim: RunningSimulator) -> None:
    operator.process.extra_args += ["--drift-interval", "1.5"]
    operator.start()
    client_org(operator, "acme", opsOrgConnection={"connectionTypes": ["metrics"]})
    operator.wait_condition(ORGS, "acme", timeout=90)
    operator.wait_condition(CONNS, "acme-ops-connection", timeout=90)
    org = operator.get(ORGS, "acme")
    source = org["status"]["clientOrg"]["publicId"]
    assert org["status"]["opsConnection"] == {"name": "acme-ops-connection"}
    owned = operator.get(CONNS, "acme-ops-connection")
    (ref,) = owned["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"]) == ("DatadogClientOrg", "acme",
                                                     org["metadata"]["uid"])
    assert owned["spec"]["sourceOrgRef"] == {"name": "acme"} and owned["spec"]["sinkPartner"]
    partner = sim.state.org_for_api_key(sim.partner_api_key)
    assert partner is not None
    made = sim_conns(sim, source)
    assert len(made) == 1 and made[0].sink == partner.public_id and made[0].types == ["metrics"]
    assert calls(sim, POST) == 1
    # Steady state: the client's drift passes leave the owned object's spec alone.
    generation = owned["metadata"]["generation"]
    reads = calls(sim, "GET /api/v1/org/{public_id}")
    wait_for(lambda: calls(sim, "GET /api/v1/org/{public_id}") >= reads + 3, timeout=60,
             what="client drift passes")
    assert operator.get(CONNS, "acme-ops-connection")["metadata"]["generation"] == generation
    assert calls(sim, POST) == 1 and calls(sim, PATCH) == 0

    operator.patch(ORGS, "acme", {"spec": {"opsOrgConnection": {
        "connectionTypes": ["logs", "metrics"]}}})
    wait_for(lambda: sorted(sim_conns(sim, source)[0].types) == ["logs", "metrics"],
             timeout=60, what="types patched in place")
    assert sim_conns(sim, source)[0].id == made[0].id
    assert calls(sim, POST) == 1 and calls(sim, PATCH) == 1

    operator.patch(ORGS, "acme", {"spec": {"opsOrgConnection": None}})
    wait_for(lambda: operator.gone(CONNS, "acme-ops-connection"), timeout=60,
             what="owned connection deleted")
    assert sim_conns(sim, source) == [] and calls(sim, DELETE) == 1
    wait_for(lambda: "opsConnection" not in operator.get(ORGS, "acme")["status"], timeout=30,
             what="status.opsConnection removed")


def test_spinoff_client_with_the_field_gets_not_same_account_and_nothing_is_sent(
        operator: Operator, sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator, "globex", provisioning="SpinOff",
               opsOrgConnection={"connectionTypes": ["logs"]})
    wait_for(lambda: not operator.gone(CONNS, "globex-ops-connection"), timeout=90,
             what="owned connection made")
    cond = operator.wait_condition(CONNS, "globex-ops-connection", "Stalled",
                                   reason="NotSameAccount", timeout=90)
    assert "SpinOff client" in cond["message"] and "globex" in cond["message"]
    # the org's status is written at the end of its pass, which may end after the
    # connection's own pass has already stalled
    wait_for(lambda: ((operator.get(ORGS, "globex").get("status") or {})
                      .get("opsConnection") or {}).get("name") == "globex-ops-connection",
             timeout=60, what="the client's status names its connection")
    assert calls(sim, POST) == 0


def test_a_name_taken_by_an_object_the_client_does_not_own_is_left_alone(
        operator: Operator, sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator, "beta")
    operator.wait_condition(ORGS, "beta", timeout=90)
    operator.apply(CONNS, {"kind": "DatadogOrgConnection",
                           "metadata": {"name": "initech-ops-connection"},
                           "spec": {"sourceOrgRef": {"name": "beta"}, "sinkPartner": True,
                                    "connectionTypes": ["metrics"]}})
    client_org(operator, "initech", opsOrgConnection={"connectionTypes": ["logs"]})
    wait_for(lambda: (operator.get(ORGS, "initech").get("status") or {}).get(
        "opsConnection", {}).get("problem"), timeout=90, what="problem reported")
    problem = operator.get(ORGS, "initech")["status"]["opsConnection"]["problem"]
    assert "not owned by this DatadogClientOrg" in problem
    assert operator.get(CONNS, "initech-ops-connection")["spec"]["sourceOrgRef"] == {
        "name": "beta"}
    operator.wait_condition(ORGS, "initech", timeout=90)  # the org itself is unaffected


def test_deleting_the_client_deletes_its_connection_first(
        operator: Operator, sim: RunningSimulator) -> None:
    operator.start()
    client_org(operator, "umbrella", opsOrgConnection={"connectionTypes": ["metrics"]})
    wait_for(lambda: not operator.gone(CONNS, "umbrella-ops-connection"), timeout=90,
             what="owned connection made")
    operator.wait_condition(CONNS, "umbrella-ops-connection", timeout=90)
    source = operator.get(ORGS, "umbrella")["status"]["clientOrg"]["publicId"]
    assert len(sim_conns(sim, source)) == 1
    operator.objects.delete_namespaced_custom_object(
        "ddmsp.io", "v1alpha1", operator.namespace, ORGS, "umbrella")
    # The connection names the client (sourceOrgRef): the client waits for it, and deletes
    # it itself since it owns it (the garbage collector would wait for the client to go).
    wait_for(lambda: operator.gone(CONNS, "umbrella-ops-connection"), timeout=120,
             what="owned connection deleted with the client")
    assert sim_conns(sim, source) == [] and calls(sim, DELETE) == 1
    wait_for(lambda: operator.gone(ORGS, "umbrella"), timeout=60, what="the client gone")
    assert any(e.reason == "DeletingOwned" and "umbrella-ops-connection" in e.message
               for e in operator.events("umbrella"))
