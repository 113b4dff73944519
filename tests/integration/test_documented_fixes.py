"""The fixes docs/operations.md gives, applied literally with kubectl, reach Ready.

Why: a message or a runbook line that leads nowhere is worse than none. Two fixes used to do
nothing: removing ``ddmsp.io/create-pending`` after ``CreationResultUnknown`` started no
pass (the engine ignored that annotation), and "remove spec.adopt" after
``AdoptAfterCreate`` was refused by admission (the field was immutable).
"""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import Operator
from tests.integration.test_clientorg import PLURAL, org, orgs_named

pytestmark = pytest.mark.kube


def test_clearing_the_pending_marker_after_a_lost_create_retries_it(
        operator: Operator) -> None:
    """operations.md, CreationResultUnknown: "if none was created, allow a new attempt:
    kubectl annotate ddorg NAME ddmsp.io/create-pending-"."""
    op, sim = operator, operator.sim
    sim.set_config(org_listing="own")  # no listing can prove that nothing was created
    # a 500 to the create: Datadog made nothing, but a 5xx proves nothing to the operator
    sim.add_fault(route="POST /api/v1/org", status=500, times=1)
    op.start()
    op.apply(PLURAL, org("stark", "Stark"))
    op.wait_condition(PLURAL, "stark", "Stalled", "True", "CreationResultUnknown", timeout=120)
    assert orgs_named(sim, "Stark") == []
    creates = sim.call_count("POST /api/v1/org")

    op.cluster.kubectl("-n", op.namespace, "annotate", "ddorg", "stark",
                       "ddmsp.io/create-pending-")
    op.wait_condition(PLURAL, "stark", "Ready", timeout=120)
    assert len(orgs_named(sim, "Stark")) == 1
    assert sim.call_count("POST /api/v1/org") == creates + 1
    assert op.condition(PLURAL, "stark", "Stalled")["status"] == "False"


def test_removing_spec_adopt_after_adopt_after_create_resumes(operator: Operator) -> None:
    """operations.md, AdoptAfterCreate: "Remove spec.adopt"."""
    op, sim = operator, operator.sim
    op.start()
    op.apply(PLURAL, org("wayne", "Wayne"))
    op.wait_condition(PLURAL, "wayne", timeout=120)
    made = op.get(PLURAL, "wayne")["status"]["clientOrg"]["publicId"]
    op.patch(PLURAL, "wayne", {"spec": {"adopt": {
        "publicId": "zzzzzzzzzzzz", "credentialsSecretRef": {"name": "other-keys"}}}})
    stalled = op.wait_condition(PLURAL, "wayne", "Stalled", "True", "AdoptAfterCreate",
                                timeout=120)
    assert made in stalled["message"] and "spec.adopt" in stalled["message"]
    assert op.get(PLURAL, "wayne")["status"]["phase"] != "Ready"

    op.cluster.kubectl("-n", op.namespace, "patch", "ddorg", "wayne", "--type=json", "-p",
                       json.dumps([{"op": "remove", "path": "/spec/adopt"}]))
    op.wait_condition(PLURAL, "wayne", timeout=120)
    status = op.get(PLURAL, "wayne")["status"]
    assert status["clientOrg"]["publicId"] == made
    assert orgs_named(sim, "Wayne") == [made]
