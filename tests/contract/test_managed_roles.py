"""Datadog's managed roles as the simulator holds them (evidence in simulator/roles.py):
in every org, never renamed, changed or deleted through the API; users can join them."""

from __future__ import annotations

from typing import Any

import requests

from ddmsp.simulator.roles import MANAGED_REFUSED
from ddmsp.simulator.server import RunningSimulator

MANAGED = ("Datadog Admin Role", "Datadog Standard Role", "Datadog Read Only Role")


def _call(sim: RunningSimulator, method: str, path: str, headers: dict[str, str],
          body: Any = None) -> requests.Response:
    return requests.request(method, sim.base_url + path, headers=headers, json=body, timeout=5)


def test_managed_roles_exist_and_refuse_every_change(sim: RunningSimulator) -> None:
    created = _call(sim, "POST", "/api/v1/org", sim.headers(), {"name": "m"}).json()
    keys = sim.headers(created["api_key"]["key"], created["application_key"]["hash"])
    roles = _call(sim, "GET", "/api/v2/roles", keys).json()["data"]
    by_name = {r["attributes"]["name"]: r for r in roles}
    assert set(MANAGED) <= set(by_name)  # every new org holds them
    perm = _call(sim, "GET", "/api/v2/permissions", keys).json()["data"][0]["id"]
    user = _call(sim, "POST", "/api/v2/users", keys,
                 {"data": {"type": "users", "attributes": {"email": "m@client.example"}}})
    assert user.status_code == 201
    for name in MANAGED:
        role = by_name[name]
        path = f"/api/v2/roles/{role['id']}"
        refused = [
            _call(sim, "PATCH", path, keys, {"data": {"type": "roles", "id": role["id"],
                                                      "attributes": {"name": "Mine"}}}),
            _call(sim, "PATCH", path, keys, {"data": {
                "type": "roles", "id": role["id"], "attributes": {},
                "relationships": {"permissions": {"data": []}}}}),
            _call(sim, "DELETE", path, keys),
            _call(sim, "POST", path + "/permissions", keys,
                  {"data": {"type": "permissions", "id": perm}}),
            _call(sim, "DELETE", path + "/permissions", keys,
                  {"data": {"type": "permissions", "id": perm}}),
        ]
        for answer in refused:
            assert (answer.status_code, answer.json()) == (400, {"errors": [MANAGED_REFUSED]})
        after = _call(sim, "GET", path, keys).json()["data"]
        assert after["attributes"]["name"] == name
        assert after["relationships"] == role["relationships"]  # same permissions
        # Its name is taken, in any case (the stricter reading of role names).
        taken = _call(sim, "POST", "/api/v2/roles", keys,
                      {"data": {"type": "roles", "attributes": {"name": name.upper()}}})
        assert taken.status_code == 409
        # Users join and leave managed roles as any other.
        member = {"data": {"type": "users", "id": user.json()["data"]["id"]}}
        assert _call(sim, "POST", path + "/users", keys, member).status_code == 200
        assert _call(sim, "DELETE", path + "/users", keys, member).status_code == 200
