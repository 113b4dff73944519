"""Contract: the simulator's cost and usage endpoints are as strict as Datadog's (issue 8 §4).

Evidence (DataDog/datadog-api-client-python; its v2/v1 ``usage_metering_api.py`` docstrings
are generated from the public spec; cassettes under ``tests/v2/cassettes/test_scenarios/``):
- ``getestimatedcostbyorg_with_both_start_month_and_start_date_returns_bad_request_response``:
  a child-level org's keys get 400 ``API called with non-parent org keys. Data is only
  available at the root level org`` (recorded body, verbatim);
- "Either start_month or start_date should be specified, but not both", "cannot go beyond
  two months in the past" (estimated); "becomes available no later than the 16th of the
  following month" (historical); "only available for the current month and becomes
  available around the 12th of the month" (projected); "Maximum of 15 months ago" (v1
  usage summary); "only accessible for parent-level organizations" (all of them);
- ``get_projected_cost_across_your_account_returns_ok_response``: rows with ``region`` and
  charge types ``projected_committed``, ``projected_on_demand``, ``total``, dated the
  month's last day; every request sends ``Accept: application/json;datetime-format=rfc3339``
  and the v2 answers are ``Content-Type: application/json``;
- ``include_connected_accounts``: "include accounts connected to the current account as
  partner customers in the Datadog partner network program. Defaults to false", and
  DataDog/documentation ``partners/multi_tenant_billing/cost-and-usage-visibility.md``: the
  partner admin org's cost/usage endpoints "Require include_connected_accounts=true".
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ddmsp.datadog import Credentials, DatadogClient
from ddmsp.simulator.server import RunningSimulator, running_simulator

ROOT_ONLY = ("API called with non-parent org keys. Data is only available at the root level "
             "org")


class _FixedClock:
    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when


def at(sim: RunningSimulator, when: datetime) -> None:
    """Move the simulator clock (``/_sim/clock``; a fixed clock where there is none yet)."""
    if hasattr(sim, "set_clock"):
        sim.set_clock(when)
    else:
        sim.state.clock = _FixedClock(when)  # type: ignore[attr-defined]


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator() as simulator:
        yield simulator


def get(sim: RunningSimulator, path: str, keys: tuple[str, str] | None = None,
        **params: Any) -> httpx.Response:
    return httpx.get(sim.base_url + path, params=params,
                     headers=sim.headers(*(keys or ())), timeout=10)


def test_cost_and_usage_summary_answer_root_orgs_only(sim: RunningSimulator) -> None:
    partner = sim.state.orgs[sim.partner_public_id]
    _, api, app = sim.state.create_child_org(partner, "child")
    for path in ("/api/v2/usage/estimated_cost", "/api/v2/usage/projected_cost"):
        answer = get(sim, path, (api, app))
        assert answer.status_code == 400 and answer.json() == {"errors": [ROOT_ONLY]}
    month = sim.now().strftime("%Y-%m")
    for path in ("/api/v2/usage/historical_cost", "/api/v1/usage/summary"):
        answer = get(sim, path, (api, app), start_month=month)
        assert answer.status_code == 400 and answer.json() == {"errors": [ROOT_ONLY]}
    assert get(sim, "/api/v2/usage/estimated_cost").status_code == 200  # the partner: root


def test_estimated_cost_parameter_rules(sim: RunningSimulator) -> None:
    at(sim, datetime(2026, 5, 20, 12, tzinfo=UTC))
    path = "/api/v2/usage/estimated_cost"
    both = get(sim, path, start_month="2026-05", start_date="2026-05-02")
    assert both.status_code == 400 and "not both" in both.json()["errors"][0]
    assert get(sim, path, start_month="2026-02").status_code == 400  # > two months back
    assert get(sim, path, start_date="2026-02-27").status_code == 400
    assert get(sim, path, cost_aggregation="weekly").status_code == 400
    ok = get(sim, path, start_month="2026-04", end_month="2026-05", view="sub-org")
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("application/json")
    assert sorted({r["attributes"]["date"][:7] for r in ok.json()["data"]}) == [
        "2026-04", "2026-05"]
    charges = {c["charge_type"] for r in ok.json()["data"] for c in r["attributes"]["charges"]}
    assert charges == {"committed", "on_demand"}  # as recorded: no "total" charge rows
    daily = get(sim, path, start_date="2026-05-18", cost_aggregation="daily").json()["data"]
    cumulative = get(sim, path, start_date="2026-05-18",
                     cost_aggregation="cumulative").json()["data"]
    assert len(daily) == len(cumulative) == 3  # 18th, 19th, 20th (today)
    assert cumulative[-1]["attributes"]["total_cost"] >= daily[-1]["attributes"]["total_cost"]


def test_historical_cost_is_published_by_the_16th_of_the_next_month(
    sim: RunningSimulator
) -> None:
    path = "/api/v2/usage/historical_cost"
    assert get(sim, path).status_code == 400  # start_month is required
    at(sim, datetime(2026, 6, 15, 23, tzinfo=UTC))
    assert get(sim, path, start_month="2026-05").json() == {"data": []}
    at(sim, datetime(2026, 6, 16, 0, 1, tzinfo=UTC))
    rows = get(sim, path, start_month="2026-05").json()["data"]
    assert [r["attributes"]["date"][:7] for r in rows] == ["2026-05"]


def test_projected_cost_rows_from_the_12th_in_the_recorded_shape(sim: RunningSimulator) -> None:
    path = "/api/v2/usage/projected_cost"
    at(sim, datetime(2026, 11, 11, tzinfo=UTC))
    assert get(sim, path, view="sub-org").json() == {"data": []}
    at(sim, datetime(2026, 11, 12, 1, tzinfo=UTC))
    (row,) = get(sim, path, view="sub-org").json()["data"]
    attrs = row["attributes"]
    assert row["type"] == "projected_cost" and attrs["region"] == "us"
    assert attrs["date"] == "2026-11-30T00:00:00Z"
    types = {c["charge_type"] for c in attrs["charges"]}
    assert types == {"projected_committed", "projected_on_demand", "total"}
    totals = sum(c["cost"] for c in attrs["charges"] if c["charge_type"] == "total")
    assert attrs["projected_total_cost"] == pytest.approx(totals, abs=0.01)


def test_usage_summary_reaches_15_months_back(sim: RunningSimulator) -> None:
    at(sim, datetime(2026, 11, 20, tzinfo=UTC))
    path = "/api/v1/usage/summary"
    assert get(sim, path, start_month="2025-08").status_code == 200
    assert get(sim, path, start_month="2025-07").status_code == 400
    answer = get(sim, path, start_month="2026-11")
    assert answer.headers["content-type"] == "application/json;datetime-format=rfc3339"


def test_connected_accounts_only_on_request(sim: RunningSimulator) -> None:
    """A spun-off customer org is outside the partner's hierarchy: the partner sees it (and
    its children) only with include_connected_accounts=true, each under its own account."""
    state = sim.state
    partner = state.orgs[sim.partner_public_id]
    parent, _, _ = state.create_child_org(partner, "customer-parent")
    state.downgrade(partner, parent.public_id)
    client, _, _ = state.create_child_org(state.orgs[parent.public_id], "customer-client")
    path = "/api/v2/usage/estimated_cost"
    plain = {r["attributes"]["public_id"] for r in get(sim, path, view="sub-org").json()["data"]}
    assert plain == {partner.public_id}
    rows = get(sim, path, view="sub-org", include_connected_accounts="true").json()["data"]
    accounts = {r["attributes"]["public_id"]: r["attributes"]["account_public_id"] for r in rows}
    assert accounts == {partner.public_id: partner.public_id,
                        parent.public_id: parent.public_id, client.public_id: parent.public_id}
    usage = get(sim, "/api/v1/usage/summary", start_month=sim.now().strftime("%Y-%m"),
                include_org_details="true", include_connected_accounts="true").json()
    assert {o["public_id"] for o in usage["usage"][0]["orgs"]} == set(accounts)


def test_our_client_asks_like_the_official_ones(sim: RunningSimulator) -> None:
    """Accept header, include_connected_accounts, and no start_month with start_date."""
    seen: list[httpx.Request] = []

    async def run() -> None:
        async def hook(request: httpx.Request) -> None:
            seen.append(request)

        dd = DatadogClient(Credentials.of(sim.partner_api_key, sim.partner_app_key),
                           base_url=sim.base_url)
        dd._http.event_hooks["request"].append(hook)
        async with dd:
            await dd.projected_cost(include_connected_accounts=True)
            await dd.usage_summary(sim.now(), include_connected_accounts=True)
            with pytest.raises(ValueError):
                await dd.estimated_cost(start_month="2026-01", start_date="2026-01-02")

    asyncio.run(run())
    assert len(seen) == 2
    for request in seen:
        assert request.headers["accept"] == "application/json;datetime-format=rfc3339"
        assert request.url.params["include_connected_accounts"] == "true"


def test_hourly_usage_by_product_family(sim: RunningSimulator) -> None:
    """Recorded: test_get_hourly_usage_by_product_family_returns_{ok,bad_request}_response."""
    at(sim, datetime(2026, 11, 20, 12, tzinfo=UTC))
    partner = sim.state.orgs[sim.partner_public_id]
    sim.state.create_child_org(partner, "child")
    path = "/api/v2/usage/hourly_usage"
    backwards = get(sim, path, **{"filter[timestamp][start]": "2026-11-16T14",
                                  "filter[timestamp][end]": "2026-11-14T14",
                                  "filter[product_families]": "infra_hosts"})
    assert backwards.status_code == 400 and backwards.json() == {
        "errors": ["start_hr [YYYY-MM-DDThh] must be before end_hr [YYYY-MM-DDThh]"]}
    assert get(sim, path, **{"filter[timestamp][start]": "2026-11-19T00",
                             "filter[product_families]": "nope"}).status_code == 400
    params = {"filter[timestamp][start]": "2026-11-19T12:00:00Z",
              "filter[product_families]": "infra_hosts"}
    own = get(sim, path, **params).json()
    assert len(own["data"]) == 24 and "meta" not in own  # the caller only, 24 hours
    row = own["data"][0]
    assert row["type"] == "usage_timeseries"
    assert set(row["attributes"]) == {"org_name", "public_id", "timestamp", "region",
                                      "measurements", "product_family"}
    assert {m["usage_type"] for m in row["attributes"]["measurements"]} >= {
        "agent_host_count", "host_count", "apm_host_count", "container_count"}
    first = get(sim, path, **params, **{"filter[include_descendants]": "true",
                                        "page[limit]": "30"}).json()
    cursor = first["meta"]["pagination"]["next_record_id"]
    rest = get(sim, path, **params, **{"filter[include_descendants]": "true",
                                       "page[next_record_id]": cursor}).json()
    assert len(first["data"]) + len(rest["data"]) == 48  # partner + child, 24 hours each
