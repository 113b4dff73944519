"""The date-dependent suites pass on any day: each runs with the simulator's clock and the
operator's calendar pinned (``DDMSP_SIM_CLOCK_START``, ``DDMSP_CLOCK_START``) at the days
where Datadog's answers change (tests/support/calendar.py).

Why a subprocess per date: a test that reads the machine's date instead of the simulator's
passes on most days and fails on others (the suite failed on days 1-11 of every month). Run
with every new simulator starting at a pinned date, such a test fails here on every
machine, any day, instead of on the 1st in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import pytest

from tests.support.calendar import CALENDAR
from tests.support.kube import REPO_ROOT

DATE_DEPENDENT = (
    "tests/contract/test_cost_contract.py",
    "tests/contract/test_client_openapi_v1.py",
    "tests/contract/test_openapi_v1.py::test_usage_summary",
    "tests/contract/test_official_client.py",
    "tests/contract/test_official_client_orgs.py",
    "tests/contract/test_users_contract.py",
    "tests/contract/test_sim_control.py",
    "tests/unit/test_cost_budget.py",
    "tests/unit/test_cost_view_calls.py",
    "tests/unit/test_report.py",
    "tests/unit/test_simulator_state.py",
    "tests/unit/test_user_pieces.py",
)


@pytest.mark.parametrize("today", CALENDAR, ids=[d.isoformat() for d in CALENDAR])
def test_date_dependent_suites_pass_at_a_pinned_date(today: datetime) -> None:
    stamp = today.strftime("%Y-%m-%dT%H:%M:%SZ")
    env = {**os.environ, "DDMSP_SIM_CLOCK_START": stamp, "DDMSP_CLOCK_START": stamp,
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "operator"), str(REPO_ROOT)])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x",
         "-o", "addopts=", *DATE_DEPENDENT],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    tail = "\n".join(run.stdout.splitlines()[-30:])
    assert run.returncode == 0, f"at {stamp}:\n{tail}\n{run.stderr[-2000:]}"
    assert " passed" in tail
