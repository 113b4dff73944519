"""The simulator's clock: every time-dependent behaviour reads it, tests move it.

Why: org ``created`` stamps, cost and usage months and invitation expiry depend on "now"; tests
must reach next month or an expiry without waiting, so ``/_sim/clock`` sets or advances this
clock. It starts at real time and runs with it (an offset on the real clock), so durations
measured by the operator still pass. Rate-limit windows stay on real time (HELPERS.md).
``DDMSP_SIM_CLOCK_START`` (RFC 3339) starts every new simulator's clock at that instant: the
test suite runs at pinned calendar dates with it (tests/contract/test_calendar.py), so no
test depends on the day of the month the machine happens to be on.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

START_ENV = "DDMSP_SIM_CLOCK_START"


class SimClock:
    """Real time plus an offset that tests set (``set``) or grow (``advance``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        pinned = os.environ.get(START_ENV, "").strip()
        if start is None and pinned:
            start = parse_rfc3339(pinned)
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        """The simulated current time, timezone-aware UTC."""
        with self._lock:
            offset = self._offset
        return datetime.fromtimestamp(time.time() + offset, UTC)

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (naive values are taken as UTC); the clock keeps running from there."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        with self._lock:
            self._offset = when.timestamp() - time.time()
        return self.now()

    def advance(self, seconds: float) -> datetime:
        """Move forward (or back, if negative) by ``seconds``."""
        with self._lock:
            self._offset += seconds
        return self.now()

    def iso(self) -> str:
        """v2 timestamps as recorded (``2022-05-12T09:02:01.123456+00:00``)."""
        return self.now().isoformat()

    def v1(self) -> str:
        """v1 Organization ``created`` as recorded: ``"2021-08-05 11:39:59"``
        (terraform-provider-datadog cassette TestAccDatadogChildOrganization_Create)."""
        return self.now().strftime("%Y-%m-%d %H:%M:%S")

    def this_month(self) -> datetime:
        """Midnight UTC of the first day of the simulated current month."""
        return self.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def rfc3339(self) -> str:
        """``2024-01-02T03:04:05Z`` (the /_sim/clock answer)."""
        return self.now().replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_time(when: datetime) -> str:
    """v1 ``created`` format ``"2021-08-05 11:39:59"`` of any instant (only ``now()`` is asked
    of a clock elsewhere, so stand-in clocks in tests need nothing more)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def rfc3339(when: datetime) -> str:
    """``2024-01-02T03:04:05Z``."""
    return when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset; naive = UTC); ValueError otherwise."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)

