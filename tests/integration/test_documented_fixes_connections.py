"""docs/operations.md's fixes for DatadogOrgConnection's Stalled reasons, applied literally:
NotSameAccount, SiteMismatch and SinkNotFound, each ending Ready after the spec change the
table names. One operator process for the three."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.conftest import Operator
from tests.integration.test_orgconnections import CONNS, ORGS, client_org, conn, public_id

pytestmark = pytest.mark.kube


def patch(op: Operator, name: str, spec: dict[str, object]) -> None:
    op.cluster.kubectl("-n", op.namespace, "patch", "ddconn", name, "--type=merge", "-p",
                       json.dumps({"spec": spec}))


def test_connection_fixes_reach_ready(operator: Operator) -> None:
    op, sim = operator, operator.sim
    op.start()
    client_org(op, "acme")
    client_org(op, "beta")
    client_org(op, "globex", provisioning="SpinOff")
    client_org(op, "euro", site="datadoghq.eu")
    op.apply(CONNS, conn("to-ops", sourceOrgRef={"name": "globex"}, sinkPartner=True))
    op.apply(CONNS, conn("to-sink", sinkOrgRef={"name": "euro"}))
    op.wait_condition(ORGS, "acme", timeout=90)
    op.wait_condition(ORGS, "beta", timeout=90)
    op.apply(CONNS, conn("by-uuid", sourceOrgRef={"name": "beta"},
                         sinkOrgUUID=str(uuid.uuid4())))

    # NotSameAccount: "Connect orgs of one account" (the SpinOff client is its own account)
    op.wait_condition(CONNS, "to-ops", "Stalled", "True", "NotSameAccount", timeout=90)
    patch(op, "to-ops", {"sourceOrgRef": {"name": "acme"}})
    # SiteMismatch: "Use a sink on the source's site"
    op.wait_condition(CONNS, "to-sink", "Stalled", "True", "SiteMismatch", timeout=90)
    patch(op, "to-sink", {"sinkOrgRef": {"name": "beta"}})
    # SinkNotFound: "Give the sink's v2 org UUID (not its v1 public_id)"
    op.wait_condition(CONNS, "by-uuid", "Stalled", "True", "SinkNotFound", timeout=90)
    patch(op, "by-uuid", {"sinkOrgUUID": sim.state.orgs[public_id(op, "acme")].v2_id})

    for name in ("to-ops", "to-sink", "by-uuid"):
        op.wait_condition(CONNS, name, timeout=90)
    assert {c.source for c in sim.state.connections.values()} == {
        public_id(op, "acme"), public_id(op, "beta")}
