"""Per-endpoint rate limits keyed by (org, limit name), with the real headers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from ddmsp.simulator.server import RunningSimulator, running_simulator


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator() as running:
        yield running


def _start_of_window(period: float) -> None:
    """Wait until just after a window boundary (windows are aligned to the calendar)."""
    time.sleep(period - time.time() % period + 0.02)


def test_limit_exceeded_answers_429_with_headers(sim: RunningSimulator) -> None:
    sim.set_rate_limit("roles", 2, 1)
    url = sim.base_url + "/api/v2/roles"
    _start_of_window(1)
    answers = [requests.get(url, headers=sim.headers(), timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    last = answers[-1]
    assert last.content == b""  # recorded: a 429 has an empty body
    assert last.headers["Content-Type"] == "application/json"
    assert last.headers["X-RateLimit-Limit"] == "2"
    assert last.headers["X-RateLimit-Period"] == "1"
    assert last.headers["X-RateLimit-Name"] == "roles"
    assert 1 <= int(last.headers["X-RateLimit-Reset"]) <= 1
    time.sleep(1.05)
    assert requests.get(url, headers=sim.headers(), timeout=5).status_code == 200


def test_limits_are_per_org_and_per_name(sim: RunningSimulator) -> None:
    sim.set_rate_limit("roles", 1, 60)
    created = requests.post(
        sim.base_url + "/api/v1/org", headers=sim.headers(), json={"name": "c"}, timeout=5
    ).json()
    child = sim.headers(created["api_key"]["key"], created["application_key"]["hash"])
    url = sim.base_url + "/api/v2/roles"
    assert requests.get(url, headers=sim.headers(), timeout=5).status_code == 200
    assert requests.get(url, headers=sim.headers(), timeout=5).status_code == 429
    assert requests.get(url, headers=child, timeout=5).status_code == 200
    other = requests.get(sim.base_url + "/api/v2/permissions", headers=sim.headers(), timeout=5)
    assert other.status_code == 200
    assert other.headers["X-RateLimit-Name"] == "permissions"


def test_rate_limits_over_http(sim: RunningSimulator) -> None:
    answer = requests.put(
        sim.base_url + "/_sim/rate_limits", json={"validate": {"limit": 1, "period": 5}}, timeout=5
    )
    assert answer.json()["validate"] == {"limit": 1, "period": 5}
    url = sim.base_url + "/api/v1/validate"
    assert requests.get(url, headers=sim.headers(), timeout=5).status_code == 200
    assert requests.get(url, headers=sim.headers(), timeout=5).status_code == 429
    bad = requests.put(sim.base_url + "/_sim/rate_limits", json={"x": {"limit": "a"}}, timeout=5)
    assert bad.status_code == 400


def test_windows_are_aligned_to_the_calendar(sim: RunningSimulator) -> None:
    """Reset = whole seconds to the window's end boundary (a multiple of the period since the
    epoch), not a full period from the first request."""
    sim.set_rate_limit("roles", 100, 10)
    url = sim.base_url + "/api/v2/roles"
    before = time.time()
    answer = requests.get(url, headers=sim.headers(), timeout=5)
    end = (before // 10 + 1) * 10
    assert int(answer.headers["X-RateLimit-Reset"]) in {
        max(1, int(end - before)), max(1, int(end - before) + 1)}
