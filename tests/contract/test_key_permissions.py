"""Every endpoint of the permission table answers 403 as Datadog does when the key pair lacks
the permission, and not that 403 when it has exactly what the table names."""

from __future__ import annotations

import re

import pytest
import requests

from ddmsp.simulator.app import ROUTE_META
from ddmsp.simulator.permissions import FORBIDDEN_MESSAGES, REQUIRED_PERMISSIONS, Requirement
from ddmsp.simulator.roles import PERMISSIONS
from ddmsp.simulator.server import RunningSimulator

ALL = frozenset(p["name"] for p in PERMISSIONS) | {"user_access_read"}
SERVED = sorted(k for k in REQUIRED_PERMISSIONS if k in ROUTE_META)


def _call(sim: RunningSimulator, method: str, template: str) -> requests.Response:
    path = re.sub(r"\{public_id\}", sim.partner_public_id, template)
    path = re.sub(r"\{[a-z_]+\}", "00000000-0000-0000-0000-000000000000", path)
    body = None if method in ("GET", "DELETE") else {}
    return requests.request(method, sim.base_url + path, headers=sim.headers(), json=body,
                            timeout=5)


def _lacking(need: Requirement) -> list[frozenset[str]]:
    """Permission sets that must be refused: without any one name of an AND, without all
    names of an OR."""
    if need.operator == "OR":
        return [ALL - set(need.names)]
    return [ALL - {name} for name in need.names]


def test_every_served_endpoint_has_a_requirement() -> None:
    unguarded = {k for k in ROUTE_META if k not in REQUIRED_PERMISSIONS}
    assert unguarded == {("GET", "/api/v1/validate"), ("GET", "/api/v2/permissions"),
                         ("GET", "/api/v2/org_configs"),
                         ("GET", "/api/v2/org_configs/{org_config_name}"),
                         ("GET", "/api/v2/current_user")}  # any key reads its own user


@pytest.mark.parametrize(("method", "template"), SERVED)
def test_missing_permission_is_403_as_recorded(
    sim: RunningSimulator, method: str, template: str
) -> None:
    need = REQUIRED_PERMISSIONS[(method, template)]
    for granted in _lacking(need):
        sim.set_key_permissions(sim.partner_app_key, sorted(granted))
        answer = _call(sim, method, template)
        assert answer.status_code == 403, (method, template, granted ^ ALL)
        assert answer.json() == {"errors": FORBIDDEN_MESSAGES}
    sim.set_key_permissions(sim.partner_app_key, list(need.names))
    assert _call(sim, method, template).json() != {"errors": FORBIDDEN_MESSAGES}


def test_cost_needs_usage_and_billing(sim: RunningSimulator) -> None:
    url = sim.base_url + "/api/v2/usage/projected_cost"
    for granted, status in ((["usage_read"], 403), (["billing_read"], 403),
                            (["usage_read", "billing_read"], 200)):
        sim.set_org_permissions(sim.partner_public_id, granted)
        assert requests.get(url, headers=sim.headers(), timeout=5).status_code == status


def test_validate_needs_no_permission(sim: RunningSimulator) -> None:
    sim.set_org_permissions(sim.partner_public_id, [])
    answer = requests.get(sim.base_url + "/api/v1/validate", headers=sim.headers(), timeout=5)
    assert answer.status_code == 200
