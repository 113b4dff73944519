"""status.phase never says Ready while the Ready condition is False (issue 19)."""

from __future__ import annotations

from typing import Any

from ddmsp.reconcile.conditions import get_condition
from ddmsp.reconcile.engine import Reconciler
from ddmsp.reconcile.external import Observation
from ddmsp.reconcile.outcomes import Blocked, ReconcileOutcome, Waiting
from ddmsp.resources import CLIENT_ORG
from tests.unit.test_engine_pieces import StatusKube


class External:
    async def observe(self) -> Observation:
        return Observation(exists=True, phase="Ready", message="fine")


class Connector:
    applied_keys: tuple[str, ...] = ()
    identity_keys: tuple[str, ...] = ()
    outcome: ReconcileOutcome | None = None

    async def connect(self, ctx: Any) -> External:
        if self.outcome is not None:
            raise self.outcome
        return External()

    def translate_error(self, exc: BaseException) -> None:
        return None


async def test_a_wait_or_a_stall_after_ready_never_leaves_phase_ready() -> None:
    kube, connector = StatusKube(), Connector()
    rec = Reconciler(CLIENT_ORG, connector, kube)  # type: ignore[arg-type]

    def state() -> tuple[str, str]:
        status = kube.body["status"]
        ready = get_condition(status["conditions"], "Ready") or {}
        return str(status.get("phase")), str(ready.get("status"))

    await rec.reconcile("ns", "x")
    assert state() == ("Ready", "True")
    # A wait without a phase of its own (a 403 during a drift check, a rate limit ...).
    connector.outcome = Waiting("MissingPermission", "grant org_management", delay=30)
    await rec.reconcile("ns", "x")
    assert state() == ("Pending", "False")
    connector.outcome = None
    await rec.reconcile("ns", "x")
    assert state() == ("Ready", "True")
    connector.outcome = Blocked("SecretConflict", "another org's keys")
    await rec.reconcile("ns", "x")
    assert state() == ("Stalled", "False")
    # A wait that names its phase keeps it.
    connector.outcome = Waiting("AwaitingRegistration", "register", phase="AwaitingRegistration")
    await rec.reconcile("ns", "x")
    assert state() == ("AwaitingRegistration", "False")
