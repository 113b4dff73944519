"""Contract: Datadog's default permissions and role names, as recorded, against the simulator.

The recorded facts live in ``tests/contract/data/role_default_permissions.json`` and
``role_names.json`` (excerpts with their sources named). Each recorded role write is sent to
the simulator with the same attributes and permissions (by name), and the role must then
hold exactly the recorded permissions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from ddmsp.simulator.roles import PERMISSIONS_BY_NAME
from ddmsp.simulator.server import RunningSimulator

DATA = Path(__file__).resolve().parent / "data"
DEFAULTS = json.loads((DATA / "role_default_permissions.json").read_text())
NAMES = json.loads((DATA / "role_names.json").read_text())


def _names(resource: dict[str, Any]) -> list[str]:
    by_id = {p["id"]: name for name, p in PERMISSIONS_BY_NAME.items()}
    return sorted(by_id[p["id"]] for p in resource["relationships"]["permissions"]["data"])


def _body(step: dict[str, Any], name: str, role_id: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "roles",
        "attributes": {"name": name, **step["request_attributes"]},
        "relationships": {"permissions": {"data": [
            {"type": "permissions", "id": PERMISSIONS_BY_NAME[n]["id"]}
            for n in step["request_permissions"]]}},
    }
    if role_id:
        data["id"] = role_id
    return {"data": data}


def test_recorded_role_writes_hold_the_recorded_permissions(sim: RunningSimulator) -> None:
    role_id: str | None = None
    for n, step in enumerate(DEFAULTS["steps"]):
        name = f"recorded-{n // 2}"  # the scenario deletes its role before the second create
        if step["method"] == "POST":
            role_id = None
            url = sim.base_url + "/api/v2/roles"
        else:
            assert role_id
            url = f"{sim.base_url}/api/v2/roles/{role_id}"
        answer = requests.request(step["method"], url, headers=sim.headers(),
                                  json=_body(step, name, role_id), timeout=10)
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        role_id = data["id"]
        where = f"step {n} ({step['method']}, interaction {step['interaction']})"
        assert _names(data) == step["response_permissions"], where
        assert sorted(data["attributes"]) == step["response_attribute_keys"], where


def test_opt_out_is_per_request_the_stricter_reading(sim: RunningSimulator) -> None:
    """Not recorded: whether the opt-out sticks to a role. The simulator takes the stricter
    reading: a later PATCH without the flag brings the defaults back."""
    base = sim.base_url + "/api/v2/roles"
    created = requests.post(base, headers=sim.headers(), timeout=10, json={"data": {
        "type": "roles", "attributes": {"name": "bare", "default_permissions_opt_out": True}}})
    assert _names(created.json()["data"]) == []
    role_id = created.json()["data"]["id"]
    patched = requests.patch(f"{base}/{role_id}", headers=sim.headers(), timeout=10, json={
        "data": {"type": "roles", "id": role_id, "attributes": {},
                 "relationships": {"permissions": {"data": []}}}})
    assert len(_names(patched.json()["data"])) == 10
    bad = requests.post(base, headers=sim.headers(), timeout=10, json={"data": {
        "type": "roles", "attributes": {"name": "x", "default_permissions_opt_out": "yes"}}})
    assert bad.status_code == 400


def test_a_taken_role_name_answers_the_recorded_409(sim: RunningSimulator) -> None:
    base = sim.base_url + "/api/v2/roles"
    first = requests.post(base, headers=sim.headers(), timeout=10,
                          json={"data": {"type": "roles", "attributes": {"name": "Ops"}}})
    assert first.status_code == 200
    # Case is not recorded: the simulator takes the stricter reading (any case collides).
    for name in ("Ops", "OPS"):
        again = requests.post(base, headers=sim.headers(), timeout=10,
                              json={"data": {"type": "roles", "attributes": {"name": name}}})
        conflict = NAMES["clone_conflict"]
        assert (again.status_code, again.json()) == (conflict["status"], conflict["body"])
