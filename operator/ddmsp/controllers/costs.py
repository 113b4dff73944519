"""Cost views shared by every client of one creating org.

Datadog serves cost to parent-level orgs, one sub-org view listing every child. Asking
once per client would make N calls of N rows each (and meet the usage rate limit at a
few hundred clients), so each creator's view is fetched once per TTL and shared.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from ddmsp.datadog import DatadogClient, DatadogError, OrgCost

FAILURE_TTL = 60.0
MISS_REFRESH = 30.0  # an org missing from the view (created since) refetches at most this often


class CostViews:
    """Per-creator sub-org cost views, cached for ``ttl`` seconds (failures for 60 s)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._views: dict[str, tuple[float, dict[str, list[OrgCost]] | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def for_org(self, creator: DatadogClient, public_id: str) -> list[OrgCost] | None:
        """The rows for ``public_id``; None when the view is unavailable right now."""
        key = f"{creator.base_url}|{creator.fingerprint}"
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._views.get(key)
            now = time.monotonic()
            if cached is None:
                stale = True
            elif cached[1] is None:
                stale = now - cached[0] > FAILURE_TTL
            else:
                age = now - cached[0]
                stale = age > self.ttl or (public_id not in cached[1] and age > MISS_REFRESH)
            if stale:
                try:
                    rows = await creator.estimated_cost(view="sub-org")
                except DatadogError:
                    cached = (now, None)
                else:
                    by_org: dict[str, list[OrgCost]] = defaultdict(list)
                    for row in rows:
                        if row.public_id:
                            by_org[row.public_id].append(row)
                    cached = (now, dict(by_org))
                self._views[key] = cached
        assert cached is not None
        view = cached[1]
        return None if view is None else view.get(public_id, [])
