"""The operator's calendar: which day and month it is for cost, budgets and expiry dates.

Why one place: those answers depend on the date, and the test suite must reach them on any
day of any month (the 1st, the 12th when Datadog starts projecting, a year boundary).
``DDMSP_CLOCK_START`` (RFC 3339; for tests, never needed in production) starts this
calendar at that instant when the process first asks; it then runs with real time, like
the simulator's ``DDMSP_SIM_CLOCK_START``. Durations, timeouts, leases and Kubernetes
timestamps never use it: they stay on the machine's clocks.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

START_ENV = "DDMSP_CLOCK_START"
_offset: float | None = None


def _parse(text: str) -> datetime:
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def now() -> datetime:
    """The current calendar instant, timezone-aware UTC."""
    global _offset
    if _offset is None:
        pinned = os.environ.get(START_ENV, "").strip()
        _offset = (_parse(pinned).timestamp() - time.time()) if pinned else 0.0
    return datetime.fromtimestamp(time.time() + _offset, UTC)
