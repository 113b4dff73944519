"""The two calendars tests pin: the simulator's (DDMSP_SIM_CLOCK_START) and the operator's
(DDMSP_CLOCK_START). Both start at the pinned instant and then run with real time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ddmsp import clock
from ddmsp.simulator.clock import SimClock


def test_simulator_clock_starts_at_the_pinned_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DDMSP_SIM_CLOCK_START", "2027-02-28T23:58:00Z")
    now = SimClock().now()
    assert datetime(2027, 2, 28, 23, 58, tzinfo=UTC) <= now
    assert (now - datetime(2027, 2, 28, 23, 58, tzinfo=UTC)).total_seconds() < 5


def test_simulator_clock_follows_the_machine_without_a_pin(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DDMSP_SIM_CLOCK_START", raising=False)
    assert abs((SimClock().now() - datetime.now(UTC)).total_seconds()) < 5


def test_operator_calendar_starts_at_the_pinned_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DDMSP_CLOCK_START", "2026-12-31T23:59:40+00:00")
    monkeypatch.setattr(clock, "_offset", None)
    first = clock.now()
    assert first.date() == datetime(2026, 12, 31).date()
    assert first.tzinfo is not None
    monkeypatch.delenv("DDMSP_CLOCK_START")
    monkeypatch.setattr(clock, "_offset", None)
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5
