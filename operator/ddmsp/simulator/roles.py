"""Roles and permissions (v2 ``/api/v2/roles``, ``/api/v2/permissions``).

Why: the operator converges DatadogRole resources onto Datadog roles; this area mirrors the
"Roles" section of Datadog's API reference. The permission catalogue and the defaults a new
role receives are recorded data in ``simulator/data``.

Datadog's default ("restricted") permissions, as recorded (Terraform provider cassette
TestAccDatadogRole_CreateUpdate, 2024-12; RBAC docs): a create adds them to the permissions
asked for, and a PATCH with a permission list keeps them (a PATCH with ``[]`` leaves the ten
defaults), unless the request's ``attributes.default_permissions_opt_out`` is true (then the
role holds exactly the list). Whether the opt-out sticks to the role is not recorded: the
simulator takes the stricter reading, a per-request flag (a later PATCH without it brings
the defaults back). The recorded answers do not echo the flag, so neither does the simulator.
Role names: a clone with a taken name answers 409 (recorded); the spec says a name "is
neither unique nor a stable identifier"; case is not recorded: the simulator refuses a name
equal to another one regardless of case (the stricter reading).

Managed roles (Datadog Admin Role, Datadog Standard Role, Datadog Read Only Role) exist in
every org. Datadog's RBAC docs (account_management/rbac/permissions): "Managed roles are
created and maintained by Datadog. Their permissions may be automatically updated by Datadog
[...]. Users cannot modify managed roles directly, but they can clone them"; the Recommended
Secure Configuration guide on the Admin Role: "It cannot be deleted or decommissioned, but all
users can be removed from the role". The same RBAC page also says "users can delete managed
roles from their account", which reads as removing the role from users; no recording shows
the API's answer to a PATCH, permission change or DELETE of a managed role. The stricter
reading: each is refused with 400 ``{"errors": ["Managed roles cannot be modified"]}`` (the
status and text are the simulator's own), the name included; users can still be added to
and removed from them (``users.py``). A role named like a managed one is a taken name (409).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ddmsp.simulator.http import (
    Route,
    caller_org,
    data_of,
    need_obj,
    need_str,
    paging,
    read_json,
    rel_ids,
    state_of,
    typed_json,
)
from ddmsp.simulator.store import Org, SimError, StateBase, load_data, now_iso

PERMISSIONS: list[dict[str, Any]] = load_data("permissions.json")["permissions"]
PERMISSIONS_BY_ID: dict[str, dict[str, Any]] = {p["id"]: p for p in PERMISSIONS}
PERMISSION_ORDER: dict[str, int] = {p["id"]: i for i, p in enumerate(PERMISSIONS)}
PERMISSIONS_BY_NAME: dict[str, dict[str, Any]] = {p["name"]: p for p in PERMISSIONS}
DEFAULT_ROLE_PERMISSION_IDS: list[str] = load_data("role_defaults.json")[
    "default_role_permission_ids"
]

MANAGED_REFUSED = "Managed roles cannot be modified"
MANAGED_ROLES: dict[str, list[str]] = {
    "Datadog Admin Role": [p["id"] for p in PERMISSIONS],
    "Datadog Standard Role": [
        p["id"]
        for p in PERMISSIONS
        if p["group_name"] not in ("Access Management", "Billing and Usage")
        and p["name"] not in ("admin", "org_management")
    ],
    "Datadog Read Only Role": [p["id"] for p in PERMISSIONS if p["display_type"] == "read"],
}


@dataclass
class Role:
    """A v2 role."""

    id: str
    name: str
    created_at: str
    modified_at: str
    permission_ids: list[str]
    managed: bool = False
    user_count: int = 0


def _with_defaults(permission_ids: list[str], opt_out: bool) -> list[str]:
    """The asked permissions, checked and de-duplicated, then the defaults unless opted out."""
    perms: list[str] = []
    for pid in permission_ids + ([] if opt_out else DEFAULT_ROLE_PERMISSION_IDS):
        if pid not in PERMISSIONS_BY_ID:
            raise SimError(400, f"Permission {pid} not found")
        if pid not in perms:
            perms.append(pid)
    return perms


# ------------------------------------------------------------------------------------ state
class RolesState(StateBase):
    """Roles of each org and their permissions."""

    def _init_org(self, org: Org) -> None:
        super()._init_org(org)
        ts = now_iso()
        for role_name, perm_ids in MANAGED_ROLES.items():
            role = Role(
                id=str(uuid.uuid4()),
                name=role_name,
                created_at=ts,
                modified_at=ts,
                permission_ids=list(perm_ids),
                managed=True,
                user_count=1 if role_name == "Datadog Admin Role" else 0,
            )
            org.roles[role.id] = role

    def _decode_org(self, raw: dict[str, Any]) -> None:
        super()._decode_org(raw)
        raw["roles"] = {r["id"]: Role(**r) for r in raw.get("roles", {}).values()}

    def _snapshot_org(self, org: Org, out: dict[str, Any]) -> None:
        super()._snapshot_org(org, out)
        out["roles"] = [
            {
                "id": r.id,
                "name": r.name,
                "managed": r.managed,
                "permissions": sorted(
                    PERMISSIONS_BY_ID[p]["name"] for p in r.permission_ids if p in PERMISSIONS_BY_ID
                ),
            }
            for r in org.roles.values()
        ]

    def find_role(self, org: Org, role_id: str) -> Role:
        """A role by id, 404 with the recorded message otherwise."""
        role = org.roles.get(role_id)
        if role is None:
            raise SimError(404, f"{role_id} not found")
        return role

    def changeable_role(self, org: Org, role_id: str) -> Role:
        """A role an API call may change or delete: never a managed one (module docstring)."""
        role = self.find_role(org, role_id)
        if role.managed:
            raise SimError(400, MANAGED_REFUSED)
        return role

    def _check_role_name(self, org: Org, name: Any, exclude: str | None = None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise SimError(400, "Role name must be a non-empty string")
        if len(name) > 255:
            raise SimError(400, "Role name is too long")
        for role in org.roles.values():
            if role.id != exclude and role.name.casefold() == name.casefold():
                raise SimError(409, "A role with the same name already exists")
        return name

    def create_role(
        self, org: Org, name: Any, permission_ids: list[str] | None, opt_out: bool = False
    ) -> Role:
        """Create a role: the given permissions first, then Datadog's default ones (none
        with ``opt_out``)."""
        with self.lock:
            name = self._check_role_name(org, name)
            perms = _with_defaults(permission_ids or [], opt_out)
            ts = now_iso()
            role = Role(str(uuid.uuid4()), name, ts, ts, perms)
            org.roles[role.id] = role
            return role

    def update_role(
        self,
        org: Org,
        role_id: str,
        name: Any | None,
        permission_ids: list[str] | None,
        opt_out: bool = False,
    ) -> Role:
        """PATCH a role's name and/or its permission list (plus the defaults, unless
        ``opt_out``); a PATCH without a list leaves the permissions alone."""
        with self.lock:
            role = self.changeable_role(org, role_id)
            if name is not None:
                name = self._check_role_name(org, name, exclude=role_id)
            if permission_ids is not None:
                role.permission_ids = _with_defaults(permission_ids, opt_out)
            if name is not None:
                role.name = name
            role.modified_at = now_iso()
            return role

    def delete_role(self, org: Org, role_id: str) -> None:
        """Delete a role and the authn mappings that point at it."""
        with self.lock:
            self.changeable_role(org, role_id)
            del org.roles[role_id]
            for mid in [m.id for m in org.authn_mappings.values() if m.role_id == role_id]:
                del org.authn_mappings[mid]

    def grant(self, org: Org, role_id: str, permission_id: str) -> Role:
        """Add one permission to a role (idempotent)."""
        with self.lock:
            role = self.changeable_role(org, role_id)
            if permission_id not in PERMISSIONS_BY_ID:
                raise SimError(404, f"Permission {permission_id} not found")
            if permission_id not in role.permission_ids:
                role.permission_ids.append(permission_id)
                role.modified_at = now_iso()
            return role

    def revoke(self, org: Org, role_id: str, permission_id: str) -> Role:
        """Remove one permission from a role (idempotent)."""
        with self.lock:
            role = self.changeable_role(org, role_id)
            if permission_id not in PERMISSIONS_BY_ID:
                raise SimError(404, f"Permission {permission_id} not found")
            if permission_id in role.permission_ids:
                role.permission_ids.remove(permission_id)
                role.modified_at = now_iso()
            return role

    # ------------------------------------------------------------------- drift mutators
    def _org_role(self, org_public_id: str, role_name: str) -> tuple[Org, Role]:
        org = self.orgs[org_public_id]
        for role in org.roles.values():
            if role.name == role_name:
                return org, role
        raise KeyError(role_name)

    def grant_permission(self, org_public_id: str, role_name: str, permission_name: str) -> None:
        """Drift helper: give a role a permission behind the operator's back."""
        with self.lock:
            _, role = self._org_role(org_public_id, role_name)
            pid = PERMISSIONS_BY_NAME[permission_name]["id"]
            if pid not in role.permission_ids:
                role.permission_ids.append(pid)
                role.modified_at = now_iso()

    def revoke_permission(self, org_public_id: str, role_name: str, permission_name: str) -> None:
        """Drift helper: take a permission from a role."""
        with self.lock:
            _, role = self._org_role(org_public_id, role_name)
            pid = PERMISSIONS_BY_NAME[permission_name]["id"]
            if pid in role.permission_ids:
                role.permission_ids.remove(pid)
                role.modified_at = now_iso()

    def delete_role_by_name(self, org_public_id: str, role_name: str) -> None:
        """Drift helper: delete a role by name."""
        with self.lock:
            org, role = self._org_role(org_public_id, role_name)
            self.delete_role(org, role.id)

    def rename_role(self, org_public_id: str, role_name: str, new_name: str) -> None:
        """Drift helper: rename a role."""
        with self.lock:
            _, role = self._org_role(org_public_id, role_name)
            role.name = new_name
            role.modified_at = now_iso()


# ----------------------------------------------------------------------------------- HTTP
def role_json(role: Role, user_count: bool = True) -> dict[str, Any]:
    """A v2 role resource. ``user_count`` is in every answer, create and PATCH included, as
    the 2024 recordings show (a 2022 create recording lacks it; the newer one wins)."""
    attrs: dict[str, Any] = {
        "name": role.name,
        "created_at": role.created_at,
        "modified_at": role.modified_at,
    }
    if user_count:
        attrs["user_count"] = role.user_count
    return {
        "type": "roles",
        "id": role.id,
        "attributes": attrs,
        "relationships": {
            "permissions": {"data": [{"type": "permissions", "id": p} for p in role.permission_ids]}
        },
    }


def ordered(permission_ids: list[str]) -> list[str]:
    """Permissions in catalogue order, as the real API lists them (see the recordings)."""
    return sorted(permission_ids, key=lambda p: PERMISSION_ORDER.get(p, len(PERMISSION_ORDER)))


def permission_json(perm: dict[str, Any], catalogue: bool) -> dict[str, Any]:
    """A v2 permission; the catalogue listing carries ``name_aliases`` as recorded."""
    attrs = {k: v for k, v in perm.items() if k != "id"}
    if not catalogue:
        attrs.pop("name_aliases", None)
    return {"type": "permissions", "id": perm["id"], "attributes": attrs}


_ROLE_SORTS = {
    "name": (lambda r: r.name.casefold(), False),
    "-name": (lambda r: r.name.casefold(), True),
    "modified_at": (lambda r: r.modified_at, False),
    "-modified_at": (lambda r: r.modified_at, True),
    "user_count": (lambda r: r.user_count, False),
    "-user_count": (lambda r: r.user_count, True),
}


async def list_roles(request: web.Request) -> web.Response:
    """GET /api/v2/roles with filter, filter[id], sort and paging.

    ``filter`` matches a substring of the name, ignoring case. Evidence: the spec's "Filter
    all roles by the given string" and the recorded ``list_roles_returns_ok_response``
    (``filter=<exact name>`` answers that role alone, ``total_filtered_count`` 1 of 4,376);
    whether Datadog ignores case is not public, so this takes the broader reading. The
    operator is safe under either: it asks for the exact name it created, and a role that
    differs only in case is never adopted (``DatadogClient.roles_named``)."""
    org = caller_org(request)
    size, number, (key, reverse) = paging(request, _ROLE_SORTS, "name")
    flt = request.query.get("filter", "")
    ids = [i for i in request.query.get("filter[id]", "").split(",") if i]
    with state_of(request).lock:
        roles = list(org.roles.values())
    total = len(roles)
    if flt:
        roles = [r for r in roles if flt.casefold() in r.name.casefold()]
    if ids:
        roles = [r for r in roles if r.id in ids]
    roles.sort(key=key, reverse=reverse)
    page = roles[number * size : (number + 1) * size]
    return web.json_response(
        {
            "meta": {"page": {"total_filtered_count": len(roles), "total_count": total}},
            "data": [role_json(r, True) for r in page],
        }
    )


async def create_role(request: web.Request) -> web.Response:
    """POST /api/v2/roles: the new role also gets Datadog's default permissions."""
    data = data_of(await read_json(request), "roles")
    attrs = need_obj(data.get("attributes"), "data.attributes")
    perms: list[str] | None = None
    rels = data.get("relationships")
    if rels is not None and need_obj(rels, "data.relationships").get("permissions") is not None:
        perms = rel_ids(rels["permissions"], "relationships.permissions", "permissions")
    role = state_of(request).create_role(caller_org(request), attrs.get("name"), perms,
                                         _opt_out(attrs))
    return web.json_response({"data": role_json(role)})


def _opt_out(attrs: dict[str, Any]) -> bool:
    """``attributes.default_permissions_opt_out`` (RBAC docs; sent by the Terraform provider)."""
    value = attrs.get("default_permissions_opt_out", False)
    if not isinstance(value, bool):
        raise SimError(400, "default_permissions_opt_out must be a boolean")
    return value


async def get_role(request: web.Request) -> web.Response:
    """GET /api/v2/roles/{role_id}."""
    role = state_of(request).find_role(caller_org(request), request.match_info["role_id"])
    return web.json_response({"data": role_json(role, True)})


async def update_role(request: web.Request) -> web.Response:
    """PATCH /api/v2/roles/{role_id}."""
    role_id = request.match_info["role_id"]
    data = data_of(await read_json(request), "roles")
    if data.get("id") is not None and data.get("id") != role_id:
        raise SimError(422, "The role ID in the body does not match the role ID in the path")
    attrs = need_obj(data.get("attributes", {}), "data.attributes")
    perms: list[str] | None = None
    rels = data.get("relationships")
    if rels is not None and need_obj(rels, "data.relationships").get("permissions") is not None:
        perms = rel_ids(rels["permissions"], "relationships.permissions", "permissions")
    role = state_of(request).update_role(caller_org(request), role_id, attrs.get("name"), perms,
                                         _opt_out(attrs))
    return web.json_response({"data": role_json(role)})


async def delete_role(request: web.Request) -> web.Response:
    """DELETE /api/v2/roles/{role_id}."""
    state_of(request).delete_role(caller_org(request), request.match_info["role_id"])
    return web.Response(status=204)


def _role_permissions(role: Role) -> web.Response:
    return web.json_response(
        {
            "data": [
                permission_json(PERMISSIONS_BY_ID[p], False)
                for p in ordered(role.permission_ids)
                if p in PERMISSIONS_BY_ID
            ]
        }
    )


async def list_role_permissions(request: web.Request) -> web.Response:
    """GET /api/v2/roles/{role_id}/permissions."""
    role = state_of(request).find_role(caller_org(request), request.match_info["role_id"])
    return _role_permissions(role)


async def _permission_body(request: web.Request) -> str:
    data = data_of(await read_json(request), "permissions")
    return need_str(data.get("id"), "data.id")


async def grant_permission(request: web.Request) -> web.Response:
    """POST /api/v2/roles/{role_id}/permissions."""
    state = state_of(request)
    org = caller_org(request)
    state.find_role(org, request.match_info["role_id"])
    role = state.grant(org, request.match_info["role_id"], await _permission_body(request))
    return _role_permissions(role)


async def revoke_permission(request: web.Request) -> web.Response:
    """DELETE /api/v2/roles/{role_id}/permissions."""
    state = state_of(request)
    org = caller_org(request)
    state.find_role(org, request.match_info["role_id"])
    role = state.revoke(org, request.match_info["role_id"], await _permission_body(request))
    return _role_permissions(role)


async def list_permissions(request: web.Request) -> web.Response:
    """GET /api/v2/permissions: the recorded catalogue."""
    return typed_json(
        {"data": [permission_json(p, True) for p in PERMISSIONS]}, "application/vnd.api+json"
    )


ROLE_PATH = "/api/v2/roles/{role_id}"

ROUTES: list[Route] = [
    ("GET", "/api/v2/roles", list_roles, "both", "roles"),
    ("POST", "/api/v2/roles", create_role, "both", "roles"),
    ("GET", ROLE_PATH, get_role, "both", "roles"),
    ("PATCH", ROLE_PATH, update_role, "both", "roles"),
    ("DELETE", ROLE_PATH, delete_role, "both", "roles"),
    ("GET", ROLE_PATH + "/permissions", list_role_permissions, "both", "roles"),
    ("POST", ROLE_PATH + "/permissions", grant_permission, "both", "roles"),
    ("DELETE", ROLE_PATH + "/permissions", revoke_permission, "both", "roles"),
    ("GET", "/api/v2/permissions", list_permissions, "both", "permissions"),
]
