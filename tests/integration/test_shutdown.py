"""A SIGTERM (a rollout, a node drain, every test's teardown) ends the operator at once when
nothing is in flight.

kopf gives every task it finds still running after its own have stopped 5 s before it
cancels them (``kopf/_core/reactor/running.py``, "hung tasks"); the task kopf spawns to wait
on the runner's stop flag was one until the runner set that flag at cleanup. So an exit
later than 5 s after the signal means some task of ours outlives kopf again.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.integration.conftest import Operator
from tests.integration.test_clientorg import PLURAL, org

pytestmark = pytest.mark.kube
KOPF_HUNG_TASK_GRACE = 5.0


def test_sigterm_with_nothing_in_flight_exits_before_kopfs_hung_task_grace(
        operator: Operator) -> None:
    op = operator
    op.start()
    op.apply(PLURAL, org("calm", "Calm Co"))
    op.wait_condition(PLURAL, "calm", "Ready")
    proc = op.process.proc
    assert proc is not None
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    took = time.monotonic() - sent
    assert code == 0, op.process.log()[-2000:]
    assert took < KOPF_HUNG_TASK_GRACE, f"exit {took:.1f} s after SIGTERM; log tail:\n" \
        f"{op.process.log()[-1500:]}"
