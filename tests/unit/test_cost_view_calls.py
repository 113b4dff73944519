"""One partner view per refresh: the same handful of calls for 10, 100 or 1,000 clients, and
each client's cost and usage exactly as the simulator computes them (spun-off ones included).

Real parts: the simulator over HTTP and the real Datadog client; no Kubernetes needed here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from ddmsp.controllers.costs import ViewReader, client_cost, client_usage
from ddmsp.datadog import Credentials, DatadogClient
from ddmsp.simulator import cost as simcost
from ddmsp.simulator.server import RunningSimulator, running_simulator
from ddmsp.simulator.usage import month_start, usage_numbers
from tests.support.calendar import CALENDAR

COST_ROUTES = ("GET /api/v2/usage/estimated_cost", "GET /api/v2/usage/projected_cost",
               "GET /api/v2/usage/historical_cost", "GET /api/v1/usage/summary")


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator() as simulator:
        yield simulator


def _client(sim: RunningSimulator, api: str | None = None, app: str | None = None
            ) -> DatadogClient:
    creds = Credentials.of(api or sim.partner_api_key, app or sim.partner_app_key)
    return DatadogClient(creds, base_url=sim.base_url)


def _calls(sim: RunningSimulator) -> int:
    return sum(sim.call_count(r) for r in COST_ROUTES)


async def _read(sim: RunningSimulator, now: datetime) -> tuple[ViewReader, object]:
    reader = ViewReader()
    async with _client(sim) as dd:
        return reader, await reader.read(dd, now)


@pytest.mark.parametrize("clients", [10, 100, 1000])
def test_one_refresh_makes_the_same_few_calls_for_any_number_of_clients(
    sim: RunningSimulator, clients: int
) -> None:
    partner = sim.state.orgs[sim.partner_public_id]
    ids = [sim.state.create_child_org(partner, f"client-{i}")[0].public_id
           for i in range(clients)]
    sim.state.reset_calls()
    now = sim.now()
    _, view = asyncio.run(_read(sim, now))
    calls = _calls(sim)
    print(json.dumps({"clients": clients, "datadog_calls_per_refresh": calls}))
    assert calls == view.calls == 4  # estimated, projected, last month, usage
    costs = [client_cost(view, i) for i in ids]
    assert all(c is not None for c in costs)


@pytest.mark.parametrize("today", CALENDAR, ids=[d.isoformat() for d in CALENDAR])
def test_client_cost_and_usage_match_the_simulator_spun_off_included(
    sim: RunningSimulator, today: datetime
) -> None:
    sim.set_clock(today)
    state = sim.state
    partner = state.orgs[sim.partner_public_id]
    child, _, _ = state.create_child_org(partner, "child")
    parent, api, app = state.create_child_org(partner, "dpn-parent")
    state.downgrade(partner, parent.public_id)  # spun off: a connected customer of the partner
    grandchild, _, _ = state.create_child_org(state.orgs[parent.public_id], "spun-client")
    now = sim.now()
    month = now.strftime("%Y-%m")
    _, view = asyncio.run(_read(sim, now))
    for org in (child, parent, grandchild):
        cost = client_cost(view, org.public_id)
        assert cost is not None, f"{org.name} missing from the partner's view"
        amounts = simcost.month_amounts(org, month)
        fraction = simcost.month_fraction(month, now)
        want = sum(round(c * fraction, 2) + round(o * fraction, 2) for c, o in amounts.values())
        # the view was read a moment after `now`: the month-to-date estimate only grows
        assert float(cost["estimatedTotal"]) == pytest.approx(want, abs=0.05)
        if now.day >= simcost.PROJECTED_FROM_DAY:
            assert float(cost["projectedTotal"]) == pytest.approx(
                sum(c + o for c, o in amounts.values()), abs=0.05)
        else:  # Datadog has no projection yet: none is made up
            assert cost.get("projectedTotal") is None
        assert cost["topProducts"][0]["product"] in simcost.PRODUCTS
        usage = client_usage(view, org.public_id)
        assert usage is not None
        assert usage["values"]["infra_host_top99p"] == usage_numbers(org, month)[
            "infra_host_top99p"]
    # contracts: the spun-off customer is its own account
    accounts = {c["account"] for c in view.totals()["contracts"]}
    assert {"dpn-parent", partner.name} <= accounts
    # the spun-off parent's own keys see its hierarchy, not the partner's
    async def own() -> list[str]:
        async with _client(sim, api, app) as dd:
            rows = await dd.estimated_cost(view="sub-org")
        return sorted(r.public_id or "" for r in rows)
    assert asyncio.run(own()) == sorted([parent.public_id, grandchild.public_id])
    assert month_start(now).strftime("%Y-%m") == view.month


def test_a_refresh_honours_the_usage_rate_limit(sim: RunningSimulator) -> None:
    """Two usage calls per 2 s: the refresh waits for the window instead of failing."""
    partner = sim.state.orgs[sim.partner_public_id]
    sim.state.create_child_org(partner, "client")
    sim.set_rate_limit("usage", 2, period=2)
    sim.state.reset_calls()
    started = time.monotonic()
    _, view = asyncio.run(_read(sim, sim.now()))
    elapsed = time.monotonic() - started
    assert view.problems == [] and view.estimated and view.usage  # nothing lost
    assert view.calls == 4 and elapsed >= 1.0  # it waited for the next window
    answered_429 = sum(sim.call_count(r, 429) for r in COST_ROUTES)
    assert answered_429 <= 1  # at most one probe: the limit headers are obeyed
