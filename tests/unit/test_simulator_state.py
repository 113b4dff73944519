"""State: persistence, snapshots without keys, drift helpers, per-org isolation, logging."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ddmsp.simulator.server import RunningSimulator, running_simulator, start_simulator
from tests.support.secrecy import assert_absent


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator() as running:
        yield running


def _child(sim: RunningSimulator, name: str = "client") -> tuple[str, dict[str, str]]:
    created = requests.post(
        sim.base_url + "/api/v1/org", headers=sim.headers(), json={"name": name}, timeout=5
    ).json()
    keys = sim.headers(created["api_key"]["key"], created["application_key"]["hash"])
    return created["org"]["public_id"], keys


def test_state_file_survives_a_restart_without_storing_keys(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = start_simulator(state_file=str(path), api_key="a" * 32, app_key="b" * 40)
    try:
        child_id, child_keys = _child(first)
        requests.post(
            first.base_url + "/api/v2/roles",
            headers=child_keys,
            json={"data": {"type": "roles", "attributes": {"name": "kept"}}},
            timeout=5,
        )
    finally:
        first.stop()
    text = path.read_text()
    assert "a" * 32 not in text and "b" * 40 not in text
    assert_absent([child_keys["DD-API-KEY"]], text, "the text")
    second = start_simulator(state_file=str(path), api_key="a" * 32, app_key="b" * 40)
    try:
        assert second.partner_public_id == first.partner_public_id
        roles = requests.get(
            second.base_url + "/api/v2/roles",
            params={"filter": "kept"},
            headers=child_keys,
            timeout=5,
        ).json()
        assert [r["attributes"]["name"] for r in roles["data"]] == ["kept"]
        assert child_id in [o["public_id"] for o in second.snapshot()["orgs"]]
    finally:
        second.stop()


def test_snapshot_and_calls_never_show_keys(sim: RunningSimulator) -> None:
    _, child_keys = _child(sim)
    dumped = json.dumps(requests.get(sim.base_url + "/_sim/state", timeout=5).json())
    for key in (*sim.headers().values(), *child_keys.values()):
        assert_absent([key], dumped, "the dump")
    assert len(sim.snapshot()["orgs"][0]["api_keys"][0]) == 8


def test_no_key_in_logs(sim: RunningSimulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, child_keys = _child(sim)
    sim.add_fault(route="GET /api/v2/roles", status=500, times=1)
    for headers in (sim.headers(), child_keys, {"DD-API-KEY": "secret-bad-key"}):
        requests.get(sim.base_url + "/api/v2/roles", headers=headers, timeout=5)
    # A malformed header line makes aiohttp's parser log the request: it must be redacted.
    import socket

    host, port = sim.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(b"GET /api/v1/validate HTTP/1.1\r\nHost: x\r\nDD-API-KEY: leak\x01me\r\n\r\n")
        conn.recv(1000)
    for key in (*sim.headers().values(), *child_keys.values(), "secret-bad-key", "leak"):
        assert_absent([key], caplog.text, "the log")


def test_drift_helpers_show_through_the_api(sim: RunningSimulator) -> None:
    child_id, keys = _child(sim)
    role = requests.post(
        sim.base_url + "/api/v2/roles",
        headers=keys,
        json={"data": {"type": "roles", "attributes": {"name": "ops"}}},
        timeout=5,
    ).json()["data"]
    sim.state.grant_permission(child_id, "ops", "logs_live_tail")
    perms = requests.get(
        f"{sim.base_url}/api/v2/roles/{role['id']}/permissions", headers=keys, timeout=5
    ).json()["data"]
    assert "logs_live_tail" in {p["attributes"]["name"] for p in perms}
    sim.state.revoke_permission(child_id, "ops", "logs_live_tail")
    sim.state.set_org_setting(child_id, "saml_strict_mode.enabled", True)
    org = requests.get(f"{sim.base_url}/api/v1/org/{child_id}", headers=keys, timeout=5).json()
    assert org["org"]["settings"]["saml_strict_mode"] == {"enabled": True}
    mapping_id = sim.state.add_authn_mapping(child_id, "memberOf", "ops", "ops")
    listed = requests.get(sim.base_url + "/api/v2/authn_mappings", headers=keys, timeout=5).json()
    assert [m["id"] for m in listed["data"]] == [mapping_id]
    sim.state.rename_role(child_id, "ops", "ops-renamed")
    snap = next(o for o in sim.snapshot()["orgs"] if o["public_id"] == child_id)
    assert "ops-renamed" in {r["name"] for r in snap["roles"]}
    assert "logs_live_tail" not in next(
        r["permissions"] for r in snap["roles"] if r["name"] == "ops-renamed"
    )
    sim.state.delete_role_by_name(child_id, "ops-renamed")
    assert (
        requests.get(
            f"{sim.base_url}/api/v2/roles/{role['id']}", headers=keys, timeout=5
        ).status_code
        == 404
    )
    # Deleting a role removes its mappings.
    assert sim.snapshot()["orgs"][-1]["authn_mappings"] == []


def test_orgs_do_not_see_each_other(sim: RunningSimulator) -> None:
    _, a = _child(sim, "a")
    _, b = _child(sim, "b")
    role = requests.post(
        sim.base_url + "/api/v2/roles",
        headers=a,
        json={"data": {"type": "roles", "attributes": {"name": "only-a"}}},
        timeout=5,
    ).json()["data"]
    assert requests.get(
        f"{sim.base_url}/api/v2/roles/{role['id']}", headers=b, timeout=5
    ).json() == {"errors": [f"{role['id']} not found"]}
    # Same name in another org is fine: uniqueness is per org.
    same = requests.post(
        sim.base_url + "/api/v2/roles",
        headers=b,
        json={"data": {"type": "roles", "attributes": {"name": "only-a"}}},
        timeout=5,
    )
    assert same.status_code == 200
    mixed = {"DD-API-KEY": a["DD-API-KEY"], "DD-APPLICATION-KEY": b["DD-APPLICATION-KEY"]}
    assert requests.get(sim.base_url + "/api/v2/roles", headers=mixed, timeout=5).status_code == 403


def test_role_list_paging_and_sort(sim: RunningSimulator) -> None:
    for name in ("r-c", "r-a", "r-b"):
        requests.post(
            sim.base_url + "/api/v2/roles",
            headers=sim.headers(),
            json={"data": {"type": "roles", "attributes": {"name": name}}},
            timeout=5,
        )

    def page(number: int, sort: str = "name") -> list[str]:
        body = requests.get(
            sim.base_url + "/api/v2/roles",
            headers=sim.headers(),
            params={"filter": "r-", "page[size]": 2, "page[number]": number, "sort": sort},
            timeout=5,
        ).json()
        assert body["meta"]["page"]["total_filtered_count"] == 3
        assert body["meta"]["page"]["total_count"] == 6  # 3 managed + 3 custom
        return [r["attributes"]["name"] for r in body["data"]]

    assert page(0) + page(1) == ["r-a", "r-b", "r-c"]
    assert page(0, "-name") == ["r-c", "r-b"]
    bad = requests.get(
        sim.base_url + "/api/v2/roles", headers=sim.headers(), params={"page[size]": "x"}, timeout=5
    )
    assert bad.status_code == 400


def test_cost_is_deterministic_and_multi_org(sim: RunningSimulator) -> None:
    _child(sim, "a")
    _child(sim, "b")
    url = sim.base_url + "/api/v2/usage/estimated_cost"
    month = sim.now().strftime("%Y-%m")  # estimates exist for this and last month only
    params = {"view": "sub-org", "start_month": f"{month}-01T00:00:00Z"}
    first = requests.get(url, headers=sim.headers(), params=params, timeout=5).json()
    second = requests.get(url, headers=sim.headers(), params=params, timeout=5).json()
    assert first == second
    assert len(first["data"]) == 3
    summary = requests.get(
        url, headers=sim.headers(), params={"start_month": month}, timeout=5
    ).json()["data"]
    assert len(summary) == 1
    total = round(sum(d["attributes"]["total_cost"] for d in first["data"]), 2)
    assert summary[0]["attributes"]["total_cost"] == pytest.approx(total, abs=0.05)
    bad = requests.get(url, headers=sim.headers(), params={"view": "x"}, timeout=5)
    assert bad.status_code == 400
    hist = requests.get(
        sim.base_url + "/api/v2/usage/historical_cost", headers=sim.headers(), timeout=5
    )
    assert hist.status_code == 400
