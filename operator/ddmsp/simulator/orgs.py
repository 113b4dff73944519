"""Organizations (v1 ``/api/v1/org``, ``/api/v1/validate``): the multi-org account API.

Why: the operator creates child orgs, reads and updates their settings and spins them off; this
area mirrors the "Organizations" section of Datadog's API reference (``openapi-v1.yaml`` and
the recorded exchanges in ``shared/datadog-api/cassettes``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from aiohttp import web

from ddmsp.simulator.clock import v1_time
from ddmsp.simulator.http import (
    Route,
    caller_org,
    need_obj,
    need_str,
    read_json,
    state_of,
)
from ddmsp.simulator.store import (
    Org,
    SimError,
    StateBase,
    new_api_key,
    new_app_key,
    new_public_id,
)

ACCESS_ROLES = ("st", "adm", "ro")


def default_settings(public_id: str, saml_can_be_enabled: bool = True) -> dict[str, Any]:
    """Settings of a new org, in the v1 OrganizationSettings shape.

    As recorded for a real new child org (terraform-provider-datadog cassette
    TestAccDatadogChildOrganization_Create): ``saml_idp_endpoint`` and
    ``saml_idp_metadata_valid_until`` are null until metadata is uploaded, and an org where
    SAML cannot be enabled has ``saml_can_be_enabled: false`` and a null ``saml_login_url``.

    The full object as Datadog answers it today also carries settings the v1 spec does not
    list: ``default_landing_page``, ``custom_landing_page`` and ``manage_reports``
    (terraform-provider-datadog ``TestAccDatadogOrganizationSettings_Import``, an org created
    2024-04-30: ``"Dashboard Lists"``, ``null``, ``null``; ``_Update``, an older org:
    ``"APM Home"``, ``null``, the string ``"false"``). No recording or spec shows them
    written, so ``PUT`` leaves them unchanged, like every read-only setting (``READ_ONLY``).
    """
    login_url = f"https://app.datadoghq.com/account/login/id/{public_id}"
    return {
        "custom_landing_page": None,
        "default_landing_page": "Dashboard Lists",
        "manage_reports": None,
        "private_widget_share": False,
        "saml": {"enabled": False},
        "saml_autocreate_access_role": "st",
        "saml_autocreate_users_domains": {"domains": [], "enabled": False},
        "saml_can_be_enabled": saml_can_be_enabled,
        "saml_idp_endpoint": None,
        "saml_idp_initiated_login": {"enabled": False},
        "saml_idp_metadata_uploaded": False,
        "saml_idp_metadata_valid_until": None,
        "saml_login_url": login_url if saml_can_be_enabled else None,
        "saml_strict_mode": {"enabled": False},
    }


def require_saml_possible(org: Org) -> None:
    """Refuse SAML changes on an org where SAML cannot be enabled.

    No recording shows an IdP upload to such an org; the v1 spec allows 400 and 403 for the
    upload. The simulator takes the strictest plausible reading, a refusal, as a 400 with the
    message it already gives for enabling SAML there (a 403 would read as a missing permission).
    """
    if not org.settings.get("saml_can_be_enabled"):
        raise SimError(400, "SAML can not be enabled for this organization")


def set_saml_can_be_enabled(settings: dict[str, Any], public_id: str, value: bool) -> None:
    """Switch an org between the two recorded SAML shapes (``/_sim/orgs/{public_id}``)."""
    settings["saml_can_be_enabled"] = value
    if value:
        if settings.get("saml_login_url") is None:
            settings["saml_login_url"] = f"https://app.datadoghq.com/account/login/id/{public_id}"
    else:
        settings["saml_login_url"] = None
        settings["saml"] = {"enabled": False}


def validate_org_name(name: Any) -> str:
    """Org names: a string of 1..32 characters (v1 schema maxLength 32)."""
    if not isinstance(name, str):
        raise SimError(400, "Invalid name: must be a string")
    if not name.strip():
        raise SimError(400, "Invalid name: must not be empty")
    if len(name) > 32:
        raise SimError(400, "Invalid name: must be 32 characters or fewer")
    return name


def _need_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise SimError(400, f"{what} must be a boolean")
    return value


def _enabled(obj: Any, what: str) -> bool | None:
    if not isinstance(obj, dict):
        raise SimError(400, f"{what} must be an object")
    if "enabled" not in obj or obj["enabled"] is None:
        return None
    return _need_bool(obj["enabled"], f"{what}.enabled")


# Settings a PUT never changes: computed by Datadog (SAML state), or shown but with no
# documented or recorded write (landing page, reports: see ``default_settings``).
READ_ONLY = (
    "custom_landing_page", "default_landing_page", "manage_reports", "saml_can_be_enabled",
    "saml_idp_endpoint", "saml_idp_metadata_uploaded", "saml_idp_metadata_valid_until",
    "saml_login_url",
)


def _merge_settings(target: dict[str, Any], patch: dict[str, Any], org: Org) -> None:
    """Merge a settings patch. Read-only settings (``READ_ONLY``) are left unchanged: no
    recording shows a PUT naming them, so a client must not rely on writing them (the operator
    never sends them)."""
    if "private_widget_share" in patch and patch["private_widget_share"] is not None:
        target["private_widget_share"] = _need_bool(
            patch["private_widget_share"], "private_widget_share"
        )
    for key in ("saml_strict_mode", "saml_idp_initiated_login"):
        if patch.get(key) is not None:
            enabled = _enabled(patch[key], key)
            if enabled is not None:
                target[key] = {"enabled": enabled}
    if patch.get("saml_autocreate_users_domains") is not None:
        dom = patch["saml_autocreate_users_domains"]
        enabled = _enabled(dom, "saml_autocreate_users_domains")
        cur = dict(target["saml_autocreate_users_domains"])
        if enabled is not None:
            cur["enabled"] = enabled
        if dom.get("domains") is not None:
            domains = dom["domains"]
            if not isinstance(domains, list) or not all(
                isinstance(d, str) and d.strip() and "@" not in d and " " not in d for d in domains
            ):
                raise SimError(400, "Invalid domains: a list of domains without '@'")
            cur["domains"] = list(domains)
        target["saml_autocreate_users_domains"] = cur
    if patch.get("saml_autocreate_access_role") is not None:
        role = patch["saml_autocreate_access_role"]
        if role not in ACCESS_ROLES:
            raise SimError(400, "Invalid saml_autocreate_access_role: one of st, adm, ro")
        target["saml_autocreate_access_role"] = role
    if patch.get("saml") is not None:
        enabled = _enabled(patch["saml"], "saml")
        if enabled:
            if not target.get("saml_can_be_enabled"):
                raise SimError(400, "SAML can not be enabled for this organization")
            if org.idp_metadata is None:
                raise SimError(400, "SAML can not be enabled before IdP metadata has been uploaded")
        if enabled is not None:
            target["saml"] = {"enabled": enabled}


# ------------------------------------------------------------------------------------ state
class OrgsState(StateBase):
    """Org lifecycle: the partner, child orgs, spin-off, settings."""

    def bootstrap(self, api_key: str, app_key: str, name: str = "MSP Partner") -> Org:
        """Load the state file if any, make sure a partner org exists and owns these keys."""
        with self.lock:
            if self.state_file and self.state_file.exists():
                self.load(self.state_file)
            partner = self.orgs.get(self.partner_public_id)
            if partner is None:
                partner = self._make_org(name, parent=None)
                self.partner_public_id = partner.public_id
            self._register_keys(partner, api_key, app_key)
            self.save()
            return partner

    def _make_org(self, name: str, parent: str | None) -> Org:
        public_id = new_public_id()
        while public_id in self.orgs:
            public_id = new_public_id()
        org = Org(
            public_id=public_id,
            name=name,
            created=v1_time(self.clock.now()),
            parent_id=parent,
            # a child's first user is its creator, the parent's user (recorded: see create_org)
            user_email=(self.orgs[parent].user_email if parent in self.orgs
                        else f"admin@{public_id[:8]}.example.com"),
            settings=default_settings(public_id, self.config.saml_can_be_enabled),
        )
        self._init_org(org)
        self.orgs[public_id] = org
        return org

    def children(self, public_id: str) -> list[Org]:
        """Direct children (not spun off) of an org, oldest first."""
        with self.lock:
            return [o for o in self.orgs.values() if o.parent_id == public_id]

    def create_child_org(self, parent: Org, name: str) -> tuple[Org, str, str]:
        """Create a child org; returns it with its new API and application keys."""
        with self.lock:
            if not parent.multi_org_enabled:
                raise SimError(403, "Multi-organization account is not enabled for this org")
            if parent.parent_id is not None:
                raise SimError(
                    403, "A child organization cannot create child organizations of its own"
                )
            org = self._make_org(name, parent=parent.public_id)
            api_key, app_key = new_api_key(), new_app_key()
            self._register_keys(org, api_key, app_key)
            return org, api_key, app_key

    def downgrade(self, parent: Org, public_id: str) -> Org:
        """Spin a child off into a standalone parent org (POST .../downgrade).

        The v1 spec: "Removes a child organization from the hierarchy of the master
        organization and places the child organization on a 30-day trial." So afterwards the
        org is nobody's child: a second downgrade with the former parent's keys finds no child
        and is refused like any org outside the caller's hierarchy (403; no recording shows the
        real answer), and the org's own ``GET /api/v1/org/{public_id}`` shows the trial
        (``subscription.type: "trial"``) and no parent billing (``billing: {}``), see
        ``org_json``.
        """
        with self.lock:
            child = self.orgs.get(public_id)
            if child is None or child.parent_id != parent.public_id:
                raise SimError(403, "Forbidden")
            child.parent_id = None
            child.spun_off = True
            child.connected_to = parent.public_id  # a DPN customer of the partner
            child.multi_org_enabled = True
            return child

    def update_org(self, org: Org, body: dict[str, Any]) -> Org:
        """Apply a PUT /api/v1/org/{public_id} body after validating it like Datadog."""
        with self.lock:
            new_settings = copy.deepcopy(org.settings)
            name = body.get("name")
            if name is not None:
                validate_org_name(name)
            desc = body.get("description")
            if desc is not None and not isinstance(desc, str):
                raise SimError(400, "description must be a string")
            settings = body.get("settings")
            if settings is not None:
                if not isinstance(settings, dict):
                    raise SimError(400, "settings must be an object")
                _merge_settings(new_settings, settings, org)
            if name is not None:
                org.name = name
            if desc is not None:
                org.description = desc
            org.settings = new_settings
            return org

    def set_org_fields(self, public_id: str, fields: dict[str, Any]) -> Org:
        """``PUT /_sim/orgs/{public_id}``: simulator-side facts of one org (KeyError when the
        org is unknown, ValueError when a field is)."""
        unknown = set(fields) - {"saml_can_be_enabled", "multi_org_enabled"}
        if unknown:
            raise ValueError(f"unknown org fields: {sorted(unknown)}")
        for key, value in fields.items():
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be a boolean")
        with self.lock:
            org = self.orgs[public_id]
            if "saml_can_be_enabled" in fields:
                set_saml_can_be_enabled(org.settings, public_id, fields["saml_can_be_enabled"])
            if "multi_org_enabled" in fields:
                org.multi_org_enabled = fields["multi_org_enabled"]
            return org

    def _snapshot_org(self, org: Org, out: dict[str, Any]) -> None:
        super()._snapshot_org(org, out)
        out.update(
            {
                "name": org.name,
                "parent": org.parent_id,
                "spun_off": org.spun_off,
                "multi_org_enabled": org.multi_org_enabled,
                "created": org.created,
                "children": [c.public_id for c in self.children(org.public_id)],
                "settings": copy.deepcopy(org.settings),
            }
        )

    # ------------------------------------------------------------------- drift mutators
    def set_org_setting(self, org_public_id: str, path: str, value: Any) -> None:
        """Drift helper: set a setting by dotted path, e.g. ``saml_strict_mode.enabled``."""
        with self.lock:
            node = self.orgs[org_public_id].settings
            parts = path.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = copy.deepcopy(value)

    def set_org_name(self, org_public_id: str, name: str) -> None:
        """Drift helper: rename an org."""
        with self.lock:
            self.orgs[org_public_id].name = name

    def find_orgs_by_name(self, name: str) -> list[str]:
        """public_ids of every org with this name (duplicate-create checks in tests)."""
        with self.lock:
            return [o.public_id for o in self.orgs.values() if o.name == name]


# ----------------------------------------------------------------------------------- HTTP
def org_json(org: Org) -> dict[str, Any]:
    """A v1 Organization in the recorded shape (``created`` ``"2021-08-05 11:39:59"``,
    ``description: null``; terraform-provider-datadog TestAccDatadogChildOrganization_Create).

    A spun-off org is on a 30-day trial outside any hierarchy (v1 spec, DowngradeOrg):
    ``billing`` loses ``parent_billing`` (the documented billing type of a child; Datadog's
    API docs show ``"billing": {}`` for an org outside one) and ``subscription.type`` is
    ``"trial"`` (a documented subscription type).
    """
    spun_off = org.spun_off and org.parent_id is None
    return {
        "billing": {} if spun_off else {"type": "parent_billing"},
        "created": org.created,
        "description": org.description,
        "name": org.name,
        "public_id": org.public_id,
        "settings": json.loads(json.dumps(org.settings)),
        "subscription": {"type": "trial" if spun_off else "pro"},
        "trial": spun_off,
    }


NOT_ALLOWED = "Not allowed to access this organization"


def own_org(request: web.Request) -> Org:
    """The org named in the path, only if the caller's keys belong to it.

    Any other ID, unknown or another org's (a child's, seen with its parent's keys, too),
    answers 400 ``{"errors": ["Not allowed to access this organization"]}``, as Datadog's
    recorded answers do for GET and PUT ``/api/v1/org/{public_id}`` and the v1 IdP upload
    (DataDog/datadog-api-client-go, ``tests/api/datadogV1/cassettes/TestOrgsGetErrors/
    400_Bad_Request.yaml``, ``TestOrgsUpdateErrors/400_Bad_Request.yaml``, 2021-04-12, and
    ``TestOrgsUploadIdpErrors/400_Bad_Request.yaml``, 2023-12-22). A 403 on these paths comes
    only from the keys (invalid, or lacking the route's permission: ``middleware.py``)."""
    org = caller_org(request)
    if request.match_info["public_id"] != org.public_id:
        raise SimError(400, NOT_ALLOWED)
    return org


async def validate(request: web.Request) -> web.Response:
    """GET /api/v1/validate."""
    return web.json_response({"valid": True})


async def list_orgs(request: web.Request) -> web.Response:
    """GET /api/v1/org: the caller's org, plus its direct children when the ``org_listing``
    switch says ``children`` (see ``ddmsp.simulator.config`` for the evidence)."""
    state = state_of(request)
    org = caller_org(request)
    with state.lock:
        orgs = [org_json(org)]
        if state.config.org_listing == "children":
            orgs += [org_json(c) for c in state.children(org.public_id)]
    return web.json_response({"orgs": orgs})


async def create_org(request: web.Request) -> web.Response:
    """POST /api/v1/org: create a child org; its keys are shown only in this answer.

    As recorded (terraform-provider-datadog TestAccDatadogChildOrganization_Create): ``user`` is
    the calling user (the parent's), the keys are created by and owned by that user and named
    ``"API Key created by <email> on <date>"`` and ``"<email> (api)"``.
    """
    state = state_of(request)
    body = need_obj(await read_json(request), "body")
    name = validate_org_name(body.get("name"))
    for key in ("billing", "subscription"):
        if body.get(key) is not None:
            sub = need_obj(body[key], key)
            if sub.get("type") is not None:
                need_str(sub["type"], f"{key}.type")
    parent = caller_org(request)
    child, api_key, app_key = state.create_child_org(parent, name)
    created = v1_time(state.clock.now())
    email = parent.user_email  # the calling user, as recorded
    return web.json_response(
        {
            "org": org_json(child),
            "user": {
                "access_role": "adm",
                "disabled": False,
                "email": email,
                "handle": email,
                "icon": "https://secure.gravatar.com/avatar/0?s=48&d=retro",
                "name": "Org Admin",
                "verified": True,
            },
            "api_key": {
                "created": created,
                "created_by": email,
                "key": api_key,
                "name": f"API Key created by {email} on {created[:10]}",
            },
            "application_key": {
                "hash": app_key,
                "name": f"{email} (api)",
                "owner": email,
            },
        }
    )


async def get_org(request: web.Request) -> web.Response:
    """GET /api/v1/org/{public_id}."""
    return web.json_response({"org": org_json(own_org(request))})


async def update_org(request: web.Request) -> web.Response:
    """PUT /api/v1/org/{public_id}."""
    state = state_of(request)
    org = own_org(request)
    body = need_obj(await read_json(request), "body")
    state.update_org(org, body)
    return web.json_response({"org": org_json(org)})


async def downgrade_org(request: web.Request) -> web.Response:
    """POST /api/v1/org/{public_id}/downgrade: spin a child off (parent's keys)."""
    state = state_of(request)
    child = state.downgrade(caller_org(request), request.match_info["public_id"])
    return web.json_response(
        {"message": f"Child organization {child.public_id} downgraded successfully"}
    )


ORG_PATH = "/api/v1/org/{public_id}"

ROUTES: list[Route] = [
    ("GET", "/api/v1/validate", validate, "api", "validate"),
    ("GET", "/api/v1/org", list_orgs, "both", "orgs_read"),
    ("POST", "/api/v1/org", create_org, "both", "orgs_create"),
    ("GET", ORG_PATH, get_org, "both", "orgs_read"),
    ("PUT", ORG_PATH, update_org, "both", "orgs_write"),
    ("POST", ORG_PATH + "/downgrade", downgrade_org, "both", "orgs_write"),
]
