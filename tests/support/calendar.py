"""Calendar dates every date-dependent test runs at: the days where cost and usage answers
change (Datadog projects a month's cost from the 12th, publishes last month's by the 16th),
the ends of a short month and of a year. The tests pin the simulator's clock (and the
operator's, ``DDMSP_CLOCK_START``) to them, so no test depends on the machine's date."""

from __future__ import annotations

from datetime import UTC, datetime

CALENDAR = (
    datetime(2026, 12, 1, 0, 0, 5, tzinfo=UTC),      # first second of a month
    datetime(2026, 12, 11, 23, 59, 0, tzinfo=UTC),   # last minute without a projection
    datetime(2026, 12, 12, 0, 0, 30, tzinfo=UTC),    # the projection appears
    datetime(2027, 2, 16, 12, 0, tzinfo=UTC),        # last month's cost published
    datetime(2027, 2, 28, 23, 58, 0, tzinfo=UTC),    # the last day of a short month
    datetime(2026, 12, 31, 23, 59, 40, tzinfo=UTC),  # a year boundary seconds away
)
