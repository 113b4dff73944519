"""Org configs (v2 ``/api/v2/org_configs``): per-org named settings with a typed value.

Why: the operator sets a client org's org configs (security contacts, monitor time zone, team
provisioning, ...) with that org's own keys; this area mirrors the "Organizations / Org Configs"
section of Datadog's API reference. Evidence, all from DataDog/datadog-api-client-python
``tests/v2/cassettes/test_scenarios/`` (scenario names below) unless said otherwise:

- the catalogue, its ids, descriptions, ``value_type`` and defaults:
  ``test_list_org_configs_returns_ok_response`` (``data/org_configs.json``);
- ``modified_at`` null until written, an RFC 3339 time after a write:
  ``test_update_a_specific_org_config_returns_ok_response`` (``monitor_timezone`` set to
  ``"UTC"``) and terraform-provider-datadog ``TestAccDatadogOrganizationSettings_SecurityContacts``
  (``security_contacts`` set to a list of emails and back to ``[]``);
- an unknown name answers 404 ``OrgConfig: <name> not found`` on GET and PATCH
  (``test_get_a_specific_org_config_value_returns_not_found_response``,
  ``test_update_a_specific_org_config_returns_not_found_response``);
- a value of the wrong type answers 400 ``The value provided for parameter 'OrgConfig: <value>'
  is invalid`` (``test_update_a_specific_org_config_returns_bad_request_response``: the string
  ``"not-a-boolean"`` for the bool ``custom_roles``).

Where no recording shows the answer, the simulator takes the stricter reading and refuses with
the same 400: an enum value outside its known set (``monitor_timezone``: IANA time zone names;
``teams_manage_membership``/``teams_edit_details``: the team permission values of the v2 spec's
``TeamPermissionSettingValue``; ``teams_provisioning_sources``: ``manually``, ``saml_only``,
``saml_and_manually`` as named in terraform-provider-datadog issue #4085), a
``security_contacts_list`` entry that is not an email address (the Terraform provider refuses
those before calling: ``not a email``), an ``email_domain_list`` entry that is not a domain.
"""

from __future__ import annotations

import copy
import json
import re
import zoneinfo
from functools import cache
from typing import Any

from aiohttp import web

from ddmsp.simulator.http import Route, caller_org, data_of, need_obj, read_json, state_of
from ddmsp.simulator.store import Org, SimError, StateBase, load_data, now_iso

ORG_CONFIG_SEED: list[dict[str, Any]] = load_data("org_configs.json")["org_configs"]

TEAM_PERMISSION_VALUES = ("admins", "members", "organization", "user_access_manage",
                          "teams_manage")
ENUM_VALUES: dict[str, tuple[str, ...]] = {
    "teams_manage_membership": TEAM_PERMISSION_VALUES,
    "teams_edit_details": TEAM_PERMISSION_VALUES,
    "teams_provisioning_sources": ("manually", "saml_only", "saml_and_manually"),
}
EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@cache
def time_zones() -> frozenset[str]:
    """IANA time zone names (``monitor_timezone``); empty when the system has no tz data."""
    return frozenset(zoneinfo.available_timezones())


def org_config_not_found(name: str) -> str:
    """The recorded 404 message."""
    return f"OrgConfig: {name} not found"


def invalid_value(value: Any) -> str:
    """The recorded 400 message (the value as given; JSON for non-strings)."""
    shown = value if isinstance(value, str) else json.dumps(value)
    return f"The value provided for parameter 'OrgConfig: {shown}' is invalid"


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def value_fits(name: str, value_type: str, value: Any) -> bool:
    """Whether a value is acceptable for this org config (its value_type, known enum sets)."""
    if value_type == "bool":
        return isinstance(value, bool)
    if value_type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if value_type == "enum":
        if not isinstance(value, str):
            return False
        if name == "monitor_timezone":
            zones = time_zones()
            return (value in zones or value == "UTC") if zones else bool(value)
        allowed = ENUM_VALUES.get(name)
        return value in allowed if allowed else bool(value)
    if value_type == "string":
        return isinstance(value, str)
    if value_type == "security_contacts_list":
        return _strings(value) and all(EMAIL.match(x) for x in value)
    if value_type == "email_domain_list":
        return _strings(value) and all(DOMAIN.match(x) for x in value)
    return _strings(value)


# ------------------------------------------------------------------------------------ state
class OrgConfigsState(StateBase):
    """The org configs of each org, seeded from the recorded catalogue."""

    def _init_org(self, org: Org) -> None:
        super()._init_org(org)
        for cfg in ORG_CONFIG_SEED:
            org.org_configs[cfg["name"]] = {**copy.deepcopy(cfg), "modified_at": None}

    def _snapshot_org(self, org: Org, out: dict[str, Any]) -> None:
        super()._snapshot_org(org, out)
        out["org_configs"] = {
            k: v["value"] for k, v in org.org_configs.items() if v.get("modified_at") is not None
        }

    def update_org_config(self, org: Org, name: str, value: Any) -> dict[str, Any]:
        """Set an org config value after checking it like Datadog (see the module doc)."""
        with self.lock:
            cfg = org.org_configs.get(name)
            if cfg is None:
                raise SimError(404, org_config_not_found(name))
            if not value_fits(name, cfg["value_type"], value):
                raise SimError(400, invalid_value(value))
            cfg["value"] = copy.deepcopy(value)
            cfg["modified_at"] = now_iso()
            return cfg

    def set_org_config(self, org_public_id: str, name: str, value: Any) -> None:
        """Drift helper: change an org config behind the operator's back."""
        with self.lock:
            self.update_org_config(self.orgs[org_public_id], name, value)

    def org_config_value(self, org_public_id: str, name: str) -> Any:
        """The current value of one org config (tests)."""
        with self.lock:
            return copy.deepcopy(self.orgs[org_public_id].org_configs[name]["value"])


# ----------------------------------------------------------------------------------- HTTP
def org_config_json(cfg: dict[str, Any]) -> dict[str, Any]:
    """A v2 org config resource in the recorded shape."""
    return {
        "type": "org_configs",
        "id": cfg["id"],
        "attributes": {
            "name": cfg["name"],
            "description": cfg["description"],
            "value_type": cfg["value_type"],
            "value": cfg["value"],
            "modified_at": cfg["modified_at"],
        },
    }


async def list_org_configs(request: web.Request) -> web.Response:
    """GET /api/v2/org_configs: every org config of the caller's org (no paging, as recorded)."""
    org = caller_org(request)
    with state_of(request).lock:
        data = [org_config_json(c) for c in org.org_configs.values()]
    return web.json_response({"data": data})


async def get_org_config(request: web.Request) -> web.Response:
    """GET /api/v2/org_configs/{org_config_name}."""
    name = request.match_info["org_config_name"]
    with state_of(request).lock:
        cfg = caller_org(request).org_configs.get(name)
        if cfg is None:
            raise SimError(404, org_config_not_found(name))
        return web.json_response({"data": org_config_json(cfg)})


async def update_org_config(request: web.Request) -> web.Response:
    """PATCH /api/v2/org_configs/{org_config_name} ``{"data": {"type": "org_configs",
    "attributes": {"value": ...}}}``."""
    name = request.match_info["org_config_name"]
    data = data_of(await read_json(request), "org_configs")
    attrs = need_obj(data.get("attributes"), "data.attributes")
    if "value" not in attrs:
        raise SimError(400, "attributes.value is required")
    state = state_of(request)
    cfg = state.update_org_config(caller_org(request), name, attrs["value"])
    with state.lock:
        return web.json_response({"data": org_config_json(cfg)})


CONFIG_PATH = "/api/v2/org_configs/{org_config_name}"

ROUTES: list[Route] = [
    ("GET", "/api/v2/org_configs", list_org_configs, "both", "org_configs"),
    ("GET", CONFIG_PATH, get_org_config, "both", "org_configs"),
    ("PATCH", CONFIG_PATH, update_org_config, "both", "org_configs"),
]
