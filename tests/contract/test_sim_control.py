"""The /_sim/ control surface of HELPERS.md, over HTTP and through RunningSimulator's helpers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from ddmsp.simulator.config import DEFAULT_ORG_LISTING
from ddmsp.simulator.server import RunningSimulator, running_simulator


def _put(sim: RunningSimulator, path: str, body: object) -> requests.Response:
    return requests.put(sim.base_url + path, json=body, timeout=5)


def _create(sim: RunningSimulator, name: str) -> dict[str, object]:
    answer = requests.post(sim.base_url + "/api/v1/org", headers=sim.headers(),
                           json={"name": name}, timeout=5)
    assert answer.status_code == 200, answer.text
    created: dict[str, object] = answer.json()
    return created


def test_config_get_put_and_validation(sim: RunningSimulator) -> None:
    got = requests.get(sim.base_url + "/_sim/config", timeout=5).json()
    keys = {"one_time_read": False, "api_key_limit": 50}
    assert got == {"org_listing": sim.state.config.org_listing, "saml_can_be_enabled": True,
                   **keys}
    assert DEFAULT_ORG_LISTING in ("own", "children")
    put = _put(sim, "/_sim/config", {"org_listing": "own"})
    assert put.json() == {"org_listing": "own", "saml_can_be_enabled": True, **keys}
    assert sim.set_config(saml_can_be_enabled=False) == {
        "org_listing": "own", "saml_can_be_enabled": False, **keys}
    for bad in ({"org_listing": "all"}, {"saml_can_be_enabled": "no"}, {"other": 1}, [1],
                {"one_time_read": "yes"}, {"api_key_limit": 0}, {"api_key_limit": True}):
        answer = _put(sim, "/_sim/config", bad)
        assert answer.status_code == 400
        assert answer.json()["errors"]
    assert requests.get(sim.base_url + "/_sim/config", timeout=5).json()["org_listing"] == "own"


def test_org_listing_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DDMSP_SIM_ORG_LISTING", "own")
    with running_simulator() as sim:
        assert sim.state.config.org_listing == "own"
    with running_simulator(org_listing="children") as sim:
        assert sim.state.config.org_listing == "children"


def test_set_org_saml_can_be_enabled(sim: RunningSimulator) -> None:
    pid = str(_create(sim, "c1")["org"]["public_id"])  # type: ignore[index]
    answer = _put(sim, f"/_sim/orgs/{pid}", {"saml_can_be_enabled": False})
    assert answer.status_code == 200
    settings = sim.snapshot()["orgs"][1]["settings"]
    assert settings["saml_can_be_enabled"] is False and settings["saml_login_url"] is None
    sim.set_org(pid, saml_can_be_enabled=True)
    settings = next(o for o in sim.snapshot()["orgs"] if o["public_id"] == pid)["settings"]
    assert settings["saml_login_url"].endswith(pid)
    assert _put(sim, "/_sim/orgs/nope", {"saml_can_be_enabled": False}).status_code == 404
    assert _put(sim, f"/_sim/orgs/{pid}", {"saml_can_be_enabled": 1}).status_code == 400
    assert _put(sim, f"/_sim/orgs/{pid}", {"colour": "red"}).status_code == 400


def test_org_and_key_permissions(sim: RunningSimulator) -> None:
    url = sim.base_url + "/api/v2/roles"
    assert requests.get(url, headers=sim.headers(), timeout=5).status_code == 200
    answer = _put(sim, f"/_sim/orgs/{sim.partner_public_id}/permissions",
                  {"permissions": ["usage_read"]})
    assert answer.json() == {"permissions": ["usage_read"]}
    assert requests.get(url, headers=sim.headers(), timeout=5).status_code == 403
    answer = _put(sim, "/_sim/keys/permissions",
                  {"app_key": sim.partner_app_key, "permissions": ["user_access_read"]})
    assert answer.status_code == 200
    assert requests.get(url, headers=sim.headers(), timeout=5).status_code == 200
    sim.set_org_permissions(sim.partner_public_id, None)  # resets key-level sets of that org
    assert requests.get(url, headers=sim.headers(), timeout=5).status_code == 200
    sim.set_key_permissions(sim.partner_app_key, [])
    assert requests.get(url, headers=sim.headers(), timeout=5).status_code == 403
    bad = _put(sim, "/_sim/keys/permissions", {"app_key": "unknown", "permissions": None})
    assert bad.status_code == 404
    assert "unknown" not in bad.text
    assert _put(sim, "/_sim/keys/permissions", {"app_key": sim.partner_app_key,
                                                "permissions": "all"}).status_code == 400
    assert _put(sim, "/_sim/orgs/x/permissions", {"permissions": None}).status_code == 404


def test_org_permissions_apply_to_keys_created_later(sim: RunningSimulator) -> None:
    created = _create(sim, "later")
    org = created["org"]
    assert isinstance(org, dict)
    sim.set_org_permissions(org["public_id"], [])
    keys = sim.headers(created["api_key"]["key"],  # type: ignore[index]
                       created["application_key"]["hash"])  # type: ignore[index]
    answer = requests.get(sim.base_url + f"/api/v1/org/{org['public_id']}", headers=keys,
                          timeout=5)
    assert answer.status_code == 403


def test_clock_set_advance_and_created(sim: RunningSimulator) -> None:
    answer = _put(sim, "/_sim/clock", {"now": "2030-01-31T23:59:00Z"})
    assert answer.json()["now"].startswith("2030-01-31T23:59")
    answer = _put(sim, "/_sim/clock", {"advance_seconds": 120})
    assert answer.json()["now"].startswith("2030-02-01T00:01")
    got = requests.get(sim.base_url + "/_sim/clock", timeout=5).json()
    assert got["now"].startswith("2030-02-01T00:0")
    created = _create(sim, "timed")
    assert created["org"]["created"].startswith("2030-02-01 00:0")  # type: ignore[index]
    for bad in ({"now": "yesterday"}, {"advance_seconds": "1"}, {"now": "x", "advance_seconds": 1},
                {}):
        assert _put(sim, "/_sim/clock", bad).status_code == 400
    assert sim.set_clock(datetime(2031, 5, 17, 12, 0, tzinfo=UTC)).year == 2031
    assert sim.advance_clock(86400).day == 18
    assert sim.now().month == 5


def test_other_areas_read_the_clock_during_requests(sim: RunningSimulator) -> None:
    """Role timestamps (and every ``store.now_iso()`` taken while serving a request) follow
    the simulator's clock."""
    sim.set_clock(datetime(2032, 7, 1, 8, 0, tzinfo=UTC))
    body = {"data": {"type": "roles", "attributes": {"name": "timed-role"}}}
    answer = requests.post(sim.base_url + "/api/v2/roles", headers=sim.headers(), json=body,
                           timeout=5)
    assert answer.json()["data"]["attributes"]["created_at"].startswith("2032-07-01T08:0")
