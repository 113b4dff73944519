"""SIGKILL the operator at every step of both flows: never a second org, never lost keys
silently. Each resource ends Ready, or Stalled with CreationResultUnknown exactly where
the create's answer (with the only copy of the keys) was lost."""

from __future__ import annotations

import signal

import pytest

from tests.integration.conftest import Operator, secret_data
from tests.integration.test_clientorg import PLURAL, org, orgs_named

pytestmark = pytest.mark.kube

LOST = "CreationResultUnknown"

CHILD_POINTS = [
    ("before-create-client", "Ready", 1),
    ("after-create-client-call", LOST, 1),
    ("after-client-secret-write", "Ready", 1),
    ("after-client-status-write", "Ready", 1),
]
SPINOFF_POINTS = [
    ("before-create-parent", "Ready", 2),
    ("after-create-parent-call", LOST, 1),
    ("after-parent-secret-write", "Ready", 2),
    ("after-parent-status-write", "Ready", 2),
    ("after-spin-off-call", "Ready", 2),
    ("before-create-client", "Ready", 2),
    ("after-create-client-call", LOST, 2),
    ("after-client-secret-write", "Ready", 2),
    ("after-client-status-write", "Ready", 2),
]
CASES = [("ChildOrg", *p) for p in CHILD_POINTS] + [("SpinOff", *p) for p in SPINOFF_POINTS]


@pytest.mark.parametrize(("mode", "point", "outcome", "orgs"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_sigkill_at_every_step(operator: Operator, mode: str, point: str, outcome: str,
                               orgs: int) -> None:
    op, sim = operator, operator.sim
    display = f"Crash {mode[:5]} {point[:18]}"
    spec = {"provisioning": mode}
    if mode == "SpinOff":
        spec["registration"] = {"confirmed": True}
    op.start(crash_at=point)
    op.apply(PLURAL, org("victim", display, **spec))
    assert op.process.wait_exit(timeout=60) == -signal.SIGKILL, op.process.log()[-2000:]

    op.start()  # a fresh operator, as after a node failure
    if outcome == "Ready":
        op.wait_condition(PLURAL, "victim", "Ready", timeout=90)
        status = op.get(PLURAL, "victim")["status"]
        keys = secret_data(op.api, op.namespace, status["clientOrg"]["credentialsSecret"])
        assert keys is not None
        owner = sim.state.org_for_keys(keys["api-key"], keys["app-key"])
        assert owner is not None and owner.public_id == status["clientOrg"]["publicId"]
    else:
        stalled = op.wait_condition(PLURAL, "victim", "Stalled", "True", LOST, timeout=90)
        assert "will not create it again" in stalled["message"]
        assert op.condition(PLURAL, "victim", "Ready")["status"] == "False"
    assert len(orgs_named(sim, display)) == orgs
    # and it stays that way: a further restart creates nothing
    op.process.stop()
    op.start()
    op.wait_condition(PLURAL, "victim", "Ready" if outcome == "Ready" else "Stalled",
                      "True", None if outcome == "Ready" else LOST, timeout=60)
    assert len(orgs_named(sim, display)) == orgs
