"""CostViews: one sub-org cost call per creator per TTL, shared by all its clients.

The Datadog client's single method ``estimated_cost`` is faked; the cache is real."""

from __future__ import annotations

from typing import Any

from ddmsp.controllers.costs import CostViews
from ddmsp.datadog import OrgCost, RateLimitedError


class FakeCreator:
    base_url = "https://api.datadoghq.com"
    fingerprint = "abc"

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    async def estimated_cost(self, **_: Any) -> list[OrgCost]:
        self.calls += 1
        if self.fail:
            raise RateLimitedError("429", reset_seconds=3000)
        return [OrgCost(public_id="a", total_cost=1.5), OrgCost(public_id="b", total_cost=2.0),
                OrgCost(public_id="a", total_cost=0.5)]


async def test_one_call_serves_every_client_of_a_creator() -> None:
    views, creator = CostViews(ttl=300), FakeCreator()
    a = await views.for_org(creator, "a")  # type: ignore[arg-type]
    b = await views.for_org(creator, "b")  # type: ignore[arg-type]
    missing = await views.for_org(creator, "zzz")  # type: ignore[arg-type]
    assert [r.total_cost for r in a or []] == [1.5, 0.5] and len(b or []) == 1
    assert missing == [] and creator.calls == 1


async def test_expired_views_refetch_and_failures_are_cached_briefly() -> None:
    views, creator = CostViews(ttl=0), FakeCreator()
    await views.for_org(creator, "a")  # type: ignore[arg-type]
    await views.for_org(creator, "a")  # type: ignore[arg-type]
    assert creator.calls == 2
    failing = FakeCreator(fail=True)
    failing.fingerprint = "other"
    assert await views.for_org(failing, "a") is None  # type: ignore[arg-type]
    assert await views.for_org(failing, "a") is None  # type: ignore[arg-type]
    assert failing.calls == 1  # no storm against a rate-limited view


async def test_an_org_missing_from_the_view_refetches_at_most_every_30_s(
        monkeypatch: Any) -> None:
    import ddmsp.controllers.costs as costs

    clock = [1000.0]
    monkeypatch.setattr(costs.time, "monotonic", lambda: clock[0])
    views, creator = CostViews(ttl=300), FakeCreator()
    assert await views.for_org(creator, "new") == []  # type: ignore[arg-type]
    clock[0] += 10
    assert await views.for_org(creator, "new") == []  # type: ignore[arg-type]
    assert creator.calls == 1
    clock[0] += 25
    await views.for_org(creator, "new")  # type: ignore[arg-type]
    assert creator.calls == 2
    await views.for_org(creator, "a")  # type: ignore[arg-type]  # present: no refetch
    assert creator.calls == 2
