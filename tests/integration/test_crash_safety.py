"""SIGKILL the operator at every step of both flows: never a second org, never lost keys
silently. Each resource ends Ready, or Stalled with CreationResultUnknown exactly where
the create's answer (with the only copy of the keys) was lost."""

from __future__ import annotations

import signal

import pytest

from tests.integration.conftest import Operator, secret_data
from tests.integration.test_clientorg import PLURAL, confirm_registration, org, orgs_named

pytestmark = pytest.mark.kube

LOST = "CreationResultUnknown"

# (point, outcome, orgs named like the client). A crash after the create-pending marker
# but before the request leaves nothing behind, yet nothing public lets the operator
# prove that: with the strict listing (only the caller's own org) it stays Stalled; a
# listing that shows a child this operator made proves it and the create goes on.
CHILD_POINTS = [
    ("before-create-client", {"own": (LOST, 0), "children": ("Ready", 1)}),
    ("after-create-client-call", (LOST, 1)),
    ("after-client-secret-write", ("Ready", 1)),
    ("after-client-status-write", ("Ready", 1)),
]
SPINOFF_POINTS = [
    ("before-create-parent", {"own": (LOST, 0), "children": ("Ready", 2)}),
    ("after-create-parent-call", (LOST, 1)),
    ("after-parent-secret-write", ("Ready", 2)),
    ("after-parent-status-write", ("Ready", 2)),
    ("after-spin-off-call", ("Ready", 2)),
    # the client org's creator is the spun-off parent, which has no known child yet
    ("before-create-client", {"own": (LOST, 1), "children": (LOST, 1)}),
    ("after-create-client-call", (LOST, 2)),
    ("after-client-secret-write", ("Ready", 2)),
    ("after-client-status-write", ("Ready", 2)),
]
AFTER_REGISTRATION = {"before-create-client", "after-create-client-call",
                      "after-client-secret-write", "after-client-status-write"}


def _cases() -> list[tuple[str, str, str, str, int]]:
    cases = []
    for mode, points in (("ChildOrg", CHILD_POINTS), ("SpinOff", SPINOFF_POINTS)):
        for point, expected in points:
            by_listing = expected if isinstance(expected, dict) else {"own": expected}
            for listing, (outcome, orgs) in by_listing.items():
                cases.append((mode, point, listing, outcome, orgs))
    return cases


CASES = _cases()


@pytest.mark.parametrize(("mode", "point", "listing", "outcome", "orgs"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_sigkill_at_every_step(operator: Operator, mode: str, point: str, listing: str,
                               outcome: str, orgs: int) -> None:
    op, sim = operator, operator.sim
    sim.set_config(org_listing=listing)
    if listing == "children":  # a child this operator made: the listing is proven to show it
        op.start()
        op.apply(PLURAL, org("witness", "Witness"))
        op.wait_condition(PLURAL, "witness", "Ready")
        op.process.stop()
    display = f"Crash {mode[:5]} {point[:18]}"
    op.start(crash_at=point)
    op.apply(PLURAL, org("victim", display, provisioning=mode))
    if mode == "SpinOff" and point in AFTER_REGISTRATION:
        confirm_registration(op, "victim")
    assert op.process.wait_exit(timeout=60) == -signal.SIGKILL, op.process.log()[-2000:]

    op.start()  # a fresh operator, as after a node failure
    if mode == "SpinOff" and point not in AFTER_REGISTRATION and outcome == "Ready":
        confirm_registration(op, "victim", timeout=90)
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
