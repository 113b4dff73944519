"""The simulated Datadog HTTP API on aiohttp.web.

Why: the operator's correctness can only be tested against something that answers like Datadog:
same paths, bodies, status codes, error shape ``{"errors": [...]}``, per-org keys, rate-limit
headers. Shapes come from the recorded exchanges in ``shared/datadog-api/cassettes`` and from
``openapi-v1.yaml``. ``/_sim/*`` is the simulator's own control surface (faults, inspection).

No malformed input may produce a 500: every parse goes through helpers that raise
``SimError(400, ...)``. Nothing that contains a key is ever logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, web

from ddmsp.simulator.faults import FaultSpecError, error_text
from ddmsp.simulator.idp import MAX_METADATA_BYTES, parse_idp_metadata
from ddmsp.simulator.state import (
    PERMISSION_ORDER,
    PERMISSIONS,
    PERMISSIONS_BY_ID,
    AuthnMapping,
    Org,
    RateInfo,
    Role,
    SimError,
    SimState,
    validate_org_name,
)
from ddmsp.simulator.usage import (
    cost_entries,
    months_between,
    parse_month,
    usage_summary,
)

log = logging.getLogger("ddmsp.simulator")

STATE: web.AppKey[SimState] = web.AppKey("state", SimState)
ORG: web.RequestKey[Org] = web.RequestKey("org", Org)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON_CT = "application/json"


@dataclass(frozen=True)
class RouteMeta:
    """Per-endpoint policy: which keys it needs and its rate-limit bucket."""

    auth: str  # "api" (API key only) or "both"
    limit: str


ROUTE_META: dict[tuple[str, str], RouteMeta] = {}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The real error body shape."""
    return web.json_response({"errors": [message]}, status=status, headers=headers)


def typed_json(body: Any, content_type: str, status: int = 200) -> web.Response:
    """A JSON answer with an exact Content-Type (the spec's media types carry no charset)."""
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": content_type}
    )


def _org(request: web.Request) -> Org:
    return request[ORG]


# ------------------------------------------------------------------------------ input helpers
async def read_json(request: web.Request) -> Any:
    """Parse a JSON body or answer 400."""
    try:
        raw = await request.read()
    except web.HTTPException:
        raise
    except Exception:
        raise SimError(400, "Unable to read request body") from None
    if not raw.strip():
        raise SimError(400, "Request body is empty")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SimError(400, "Invalid JSON in request body") from None


def need_obj(value: Any, what: str) -> dict[str, Any]:
    """A JSON object or 400."""
    if not isinstance(value, dict):
        raise SimError(400, f"{what} must be an object")
    return value


def need_str(value: Any, what: str, allow_empty: bool = False) -> str:
    """A JSON string or 400."""
    if not isinstance(value, str) or (not allow_empty and not value):
        raise SimError(400, f"{what} must be a non-empty string")
    return value


def data_of(body: Any, rtype: str) -> dict[str, Any]:
    """``body.data`` of a JSON:API request, checking its type."""
    data = need_obj(need_obj(body, "body").get("data"), "data")
    if data.get("type") != rtype:
        raise SimError(400, f"data.type must be '{rtype}'")
    return data


def rel_ids(rel: Any, what: str, rtype: str) -> list[str]:
    """IDs of a to-many relationship ``{"data": [{"id", "type"}]}``."""
    items = need_obj(rel, what).get("data")
    if not isinstance(items, list):
        raise SimError(400, f"{what}.data must be a list")
    ids: list[str] = []
    for item in items:
        item = need_obj(item, f"{what}.data[]")
        if item.get("type", rtype) != rtype:
            raise SimError(400, f"{what}.data[].type must be '{rtype}'")
        ids.append(need_str(item.get("id"), f"{what}.data[].id"))
    return ids


def rel_id(rel: Any, what: str, rtype: str) -> str:
    """ID of a to-one relationship ``{"data": {"id", "type"}}``."""
    item = need_obj(need_obj(rel, what).get("data"), f"{what}.data")
    if item.get("type", rtype) != rtype:
        raise SimError(400, f"{what}.data.type must be '{rtype}'")
    return need_str(item.get("id"), f"{what}.data.id")


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter in [lo, hi] or 400."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SimError(400, f"Invalid {name}: must be an integer") from None
    if not lo <= value <= hi:
        raise SimError(400, f"Invalid {name}: must be between {lo} and {hi}")
    return value


def query_bool(request: web.Request, name: str) -> bool:
    """A boolean query parameter or 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise SimError(400, f"Invalid {name}: must be true or false")


async def read_idp_file(request: web.Request) -> bytes:
    """The ``idp_file`` part of a multipart/form-data body."""
    if request.content_type != "multipart/form-data":
        raise SimError(415, "Unsupported Media Type: expected multipart/form-data")
    try:
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            if part.name != "idp_file":
                await part.release()
                continue
            chunks: list[bytes] = []
            size = 0
            while True:
                chunk = await part.read_chunk(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_METADATA_BYTES:
                    raise SimError(400, "Invalid IdP metadata file: file is too large")
                chunks.append(chunk)
            return b"".join(chunks)
    except SimError:
        raise
    except Exception:
        raise SimError(400, "Malformed multipart/form-data body") from None
    raise SimError(400, "Missing required form field 'idp_file'")


# ------------------------------------------------------------------------------ JSON renderers
def org_json(org: Org) -> dict[str, Any]:
    """A v1 Organization."""
    return {
        "billing": {"type": "parent_billing"},
        "created": org.created,
        "description": org.description,
        "name": org.name,
        "public_id": org.public_id,
        "settings": json.loads(json.dumps(org.settings)),
        "subscription": {"type": "pro"},
        "trial": False,
    }


def role_json(role: Role, user_count: bool) -> dict[str, Any]:
    """A v2 role resource; ``user_count`` appears on reads, not on create (as recorded)."""
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


def mapping_json(m: AuthnMapping) -> dict[str, Any]:
    """A v2 authn mapping resource."""
    return {
        "type": "authn_mappings",
        "id": m.id,
        "attributes": {
            "attribute_key": m.attribute_key,
            "attribute_value": m.attribute_value,
            "created_at": m.created_at,
            "modified_at": m.modified_at,
        },
        "relationships": {"role": {"data": {"type": "roles", "id": m.role_id}}},
    }


def org_config_json(cfg: dict[str, Any]) -> dict[str, Any]:
    """A v2 org config resource."""
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


# ----------------------------------------------------------------------------------- v1 orgs
async def validate(request: web.Request) -> web.Response:
    """GET /api/v1/validate."""
    return web.json_response({"valid": True})


async def list_orgs(request: web.Request) -> web.Response:
    """GET /api/v1/org: the caller's org and its direct children."""
    state = request.app[STATE]
    org = _org(request)
    with state.lock:
        orgs = [org_json(org)] + [org_json(c) for c in state.children(org.public_id)]
    return web.json_response({"orgs": orgs})


async def create_org(request: web.Request) -> web.Response:
    """POST /api/v1/org: create a child org; its keys are shown only in this answer."""
    state = request.app[STATE]
    body = need_obj(await read_json(request), "body")
    name = validate_org_name(body.get("name"))
    for key in ("billing", "subscription"):
        if body.get(key) is not None:
            sub = need_obj(body[key], key)
            if sub.get("type") is not None:
                need_str(sub["type"], f"{key}.type")
    parent = _org(request)
    child, api_key, app_key = state.create_child_org(parent, name)
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return web.json_response(
        {
            "org": org_json(child),
            "user": {
                "name": "Org Admin",
                "handle": child.user_email,
                "email": child.user_email,
                "access_role": "adm",
            },
            "api_key": {
                "created": created,
                "created_by": child.user_email,
                "key": api_key,
                "name": f"{name} API key",
            },
            "application_key": {
                "hash": app_key,
                "name": f"{name} application key",
                "owner": child.user_email,
            },
        }
    )


def _own_org(request: web.Request) -> Org:
    """The org named in the path, only if the caller's keys belong to it (else 403)."""
    org = _org(request)
    if request.match_info["public_id"] != org.public_id:
        raise SimError(403, "Forbidden")
    return org


async def get_org(request: web.Request) -> web.Response:
    """GET /api/v1/org/{public_id}."""
    return web.json_response({"org": org_json(_own_org(request))})


async def update_org(request: web.Request) -> web.Response:
    """PUT /api/v1/org/{public_id}."""
    state = request.app[STATE]
    org = _own_org(request)
    body = need_obj(await read_json(request), "body")
    state.update_org(org, body)
    return web.json_response({"org": org_json(org)})


async def downgrade_org(request: web.Request) -> web.Response:
    """POST /api/v1/org/{public_id}/downgrade: spin a child off (parent's keys)."""
    state = request.app[STATE]
    child = state.downgrade(_org(request), request.match_info["public_id"])
    return web.json_response(
        {"message": f"Child organization {child.public_id} downgraded successfully"}
    )


async def upload_idp_v1(request: web.Request) -> web.Response:
    """POST /api/v1/org/{public_id}/idp_metadata."""
    state = request.app[STATE]
    org = _own_org(request)
    meta = parse_idp_metadata(await read_idp_file(request))
    state.set_idp_metadata(org, meta)
    return web.json_response({"message": f"IdP metadata successfully uploaded for {org.name}"})


async def get_usage_summary(request: web.Request) -> web.Response:
    """GET /api/v1/usage/summary."""
    state = request.app[STATE]
    start = parse_month(request.query.get("start_month"), "start_month", required=True)
    assert start is not None
    end = parse_month(request.query.get("end_month"), "end_month")
    include = query_bool(request, "include_org_details")
    query_bool(request, "include_connected_accounts")
    org = _org(request)
    body = usage_summary(org, state.children(org.public_id), months_between(start, end), include)
    return typed_json(body, "application/json;datetime-format=rfc3339")


# ---------------------------------------------------------------------------------- v2 roles
_ROLE_SORTS = {
    "name": (lambda r: r.name.casefold(), False),
    "-name": (lambda r: r.name.casefold(), True),
    "modified_at": (lambda r: r.modified_at, False),
    "-modified_at": (lambda r: r.modified_at, True),
    "user_count": (lambda r: r.user_count, False),
    "-user_count": (lambda r: r.user_count, True),
}


def _paging(request: web.Request, sorts: dict[str, Any], default_sort: str
            ) -> tuple[int, int, Any]:
    """page[size], page[number] and sort of a v2 list, validated as the API does."""
    size = query_int(request, "page[size]", 10, 1, 100)
    number = query_int(request, "page[number]", 0, 0, 1_000_000)
    sort = request.query.get("sort", default_sort)
    if sort not in sorts:
        raise SimError(400, f"Invalid sort: {sort}")
    return size, number, sorts[sort]


async def list_roles(request: web.Request) -> web.Response:
    """GET /api/v2/roles with filter, filter[id], sort and paging."""
    org = _org(request)
    size, number, (key, reverse) = _paging(request, _ROLE_SORTS, "name")
    flt = request.query.get("filter", "")
    ids = [i for i in request.query.get("filter[id]", "").split(",") if i]
    with request.app[STATE].lock:
        roles = list(org.roles.values())
    total = len(roles)
    if flt:
        roles = [r for r in roles if flt.casefold() in r.name.casefold()]
    if ids:
        roles = [r for r in roles if r.id in ids]
    roles.sort(key=key, reverse=reverse)  # type: ignore[arg-type]
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
    role = request.app[STATE].create_role(_org(request), attrs.get("name"), perms)
    return web.json_response({"data": role_json(role, False)})


async def get_role(request: web.Request) -> web.Response:
    """GET /api/v2/roles/{role_id}."""
    role = request.app[STATE].find_role(_org(request), request.match_info["role_id"])
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
    role = request.app[STATE].update_role(_org(request), role_id, attrs.get("name"), perms)
    return web.json_response({"data": role_json(role, True)})


async def delete_role(request: web.Request) -> web.Response:
    """DELETE /api/v2/roles/{role_id}."""
    request.app[STATE].delete_role(_org(request), request.match_info["role_id"])
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
    role = request.app[STATE].find_role(_org(request), request.match_info["role_id"])
    return _role_permissions(role)


async def _permission_body(request: web.Request) -> str:
    data = data_of(await read_json(request), "permissions")
    return need_str(data.get("id"), "data.id")


async def grant_permission(request: web.Request) -> web.Response:
    """POST /api/v2/roles/{role_id}/permissions."""
    state = request.app[STATE]
    org = _org(request)
    state.find_role(org, request.match_info["role_id"])
    role = state.grant(org, request.match_info["role_id"], await _permission_body(request))
    return _role_permissions(role)


async def revoke_permission(request: web.Request) -> web.Response:
    """DELETE /api/v2/roles/{role_id}/permissions."""
    state = request.app[STATE]
    org = _org(request)
    state.find_role(org, request.match_info["role_id"])
    role = state.revoke(org, request.match_info["role_id"], await _permission_body(request))
    return _role_permissions(role)


async def list_permissions(request: web.Request) -> web.Response:
    """GET /api/v2/permissions: the recorded catalogue."""
    return typed_json(
        {"data": [permission_json(p, True) for p in PERMISSIONS]}, "application/vnd.api+json"
    )


# ------------------------------------------------------------------------- v2 authn mappings
def _mapping_doc(org: Org, m: AuthnMapping) -> dict[str, Any]:
    role = org.roles.get(m.role_id)
    return {
        "included": [role_json(role, False)] if role else [],
        "data": mapping_json(m),
    }


_MAPPING_SORTS = {
    "created_at": (lambda m: m.created_at, False),
    "-created_at": (lambda m: m.created_at, True),
    "role_id": (lambda m: m.role_id, False),
    "-role_id": (lambda m: m.role_id, True),
    "saml_assertion_attribute_id": (lambda m: m.attribute_key, False),
    "-saml_assertion_attribute_id": (lambda m: m.attribute_key, True),
    "role.name": (lambda m: m.role_id, False),
    "-role.name": (lambda m: m.role_id, True),
}


async def list_mappings(request: web.Request) -> web.Response:
    """GET /api/v2/authn_mappings."""
    org = _org(request)
    size, number, (key, reverse) = _paging(request, _MAPPING_SORTS, "created_at")
    flt = request.query.get("filter", "").casefold()
    with request.app[STATE].lock:
        maps = list(org.authn_mappings.values())
        total = len(maps)
        if flt:
            maps = [
                m
                for m in maps
                if flt in m.attribute_key.casefold() or flt in m.attribute_value.casefold()
            ]
        maps.sort(key=key, reverse=reverse)
        page = maps[number * size : (number + 1) * size]
        role_ids = list(dict.fromkeys(m.role_id for m in page))
        included = [role_json(org.roles[r], False) for r in role_ids if r in org.roles]
    return web.json_response(
        {
            "included": included,
            "meta": {"page": {"total_filtered_count": len(maps), "total_count": total}},
            "data": [mapping_json(m) for m in page],
        }
    )


def _mapping_attrs(data: dict[str, Any], required: bool) -> tuple[str | None, str | None]:
    attrs = data.get("attributes")
    if attrs is None and not required:
        return None, None
    attrs = need_obj(attrs, "data.attributes")
    key, value = attrs.get("attribute_key"), attrs.get("attribute_value")
    if required or key is not None:
        key = need_str(key, "attributes.attribute_key")
    if required or value is not None:
        value = need_str(value, "attributes.attribute_value")
    return key, value


def _mapping_role(data: dict[str, Any], required: bool) -> str | None:
    rels = data.get("relationships")
    if rels is None:
        if required:
            raise SimError(400, "relationships.role is required")
        return None
    rels = need_obj(rels, "data.relationships")
    if rels.get("role") is None:
        if required:
            raise SimError(400, "relationships.role is required")
        return None
    return rel_id(rels["role"], "relationships.role", "roles")


async def create_mapping(request: web.Request) -> web.Response:
    """POST /api/v2/authn_mappings."""
    org = _org(request)
    data = data_of(await read_json(request), "authn_mappings")
    key, value = _mapping_attrs(data, True)
    role_id = _mapping_role(data, True)
    assert key is not None and value is not None and role_id is not None
    m = request.app[STATE].create_mapping(org, key, value, role_id)
    return web.json_response(_mapping_doc(org, m))


async def get_mapping(request: web.Request) -> web.Response:
    """GET /api/v2/authn_mappings/{authn_mapping_id}."""
    org = _org(request)
    m = request.app[STATE].find_mapping(org, request.match_info["authn_mapping_id"])
    return web.json_response(_mapping_doc(org, m))


async def update_mapping(request: web.Request) -> web.Response:
    """PATCH /api/v2/authn_mappings/{authn_mapping_id}."""
    org = _org(request)
    mid = request.match_info["authn_mapping_id"]
    data = data_of(await read_json(request), "authn_mappings")
    if data.get("id") is not None and data.get("id") != mid:
        raise SimError(422, "The mapping ID in the body does not match the ID in the path")
    key, value = _mapping_attrs(data, False)
    role_id = _mapping_role(data, False)
    m = request.app[STATE].update_mapping(org, mid, key, value, role_id)
    return web.json_response(_mapping_doc(org, m))


async def delete_mapping(request: web.Request) -> web.Response:
    """DELETE /api/v2/authn_mappings/{authn_mapping_id}."""
    request.app[STATE].delete_mapping(_org(request), request.match_info["authn_mapping_id"])
    return web.Response(status=204)


# ------------------------------------------------------------------------ v2 SAML, org config
async def upload_idp_v2(request: web.Request) -> web.Response:
    """POST /api/v2/saml_configurations/idp_metadata (caller's own org)."""
    state = request.app[STATE]
    org = _org(request)
    meta = parse_idp_metadata(await read_idp_file(request))
    state.set_idp_metadata(org, meta)
    return web.json_response(
        {
            "data": {
                "type": "saml_configurations",
                "id": org.saml_config_id,
                "attributes": {
                    "entity_id": "https://app.datadoghq.com/account/saml/metadata.xml",
                    "assertion_consumer_service": [
                        f"https://app.datadoghq.com/account/saml/assertion/{org.public_id}"
                    ],
                    "created_at": org.saml_config_created_at,
                    "idp_initiated": bool(org.settings["saml_idp_initiated_login"]["enabled"]),
                    "jit_domains": list(org.settings["saml_autocreate_users_domains"]["domains"]),
                    "sso_url": None,
                    "modified_at": meta.uploaded_at,
                },
            }
        }
    )


async def list_org_configs(request: web.Request) -> web.Response:
    """GET /api/v2/org_configs."""
    org = _org(request)
    with request.app[STATE].lock:
        data = [org_config_json(c) for c in org.org_configs.values()]
    return web.json_response({"data": data})


async def get_org_config(request: web.Request) -> web.Response:
    """GET /api/v2/org_configs/{org_config_name}."""
    name = request.match_info["org_config_name"]
    cfg = _org(request).org_configs.get(name)
    if cfg is None:
        raise SimError(404, f"Org Config '{name}' not found")
    return web.json_response({"data": org_config_json(cfg)})


async def update_org_config(request: web.Request) -> web.Response:
    """PATCH /api/v2/org_configs/{org_config_name}."""
    name = request.match_info["org_config_name"]
    data = data_of(await read_json(request), "org_configs")
    attrs = need_obj(data.get("attributes"), "data.attributes")
    if "value" not in attrs:
        raise SimError(400, "attributes.value is required")
    cfg = request.app[STATE].update_org_config(_org(request), name, attrs["value"])
    return web.json_response({"data": org_config_json(cfg)})


# -------------------------------------------------------------------------------- v2 costs
def _view(request: web.Request) -> str:
    view = request.query.get("view", "summary")
    if view not in ("summary", "sub-org"):
        raise SimError(400, "Invalid view: must be 'summary' or 'sub-org'")
    return view


def _cost(request: web.Request, months: list[str], kind: str) -> web.Response:
    state = request.app[STATE]
    org = _org(request)
    query_bool(request, "include_connected_accounts")
    data = cost_entries(org, state.children(org.public_id), months, _view(request), kind)
    return web.json_response({"data": data})


def _this_month() -> datetime:
    return datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def estimated_cost(request: web.Request) -> web.Response:
    """GET /api/v2/usage/estimated_cost (and the older estimated_cost_by_org path)."""
    q = request.query
    start = parse_month(q.get("start_month"), "start_month") or parse_month(
        q.get("start_date"), "start_date"
    )
    end = parse_month(q.get("end_month"), "end_month") or parse_month(q.get("end_date"), "end_date")
    agg = q.get("cost_aggregation")
    if agg is not None and agg not in ("cumulative", "daily"):
        raise SimError(400, "Invalid cost_aggregation")
    return _cost(request, months_between(start or _this_month(), end), "estimated_cost")


async def historical_cost(request: web.Request) -> web.Response:
    """GET /api/v2/usage/historical_cost."""
    start = parse_month(request.query.get("start_month"), "start_month", required=True)
    assert start is not None
    end = parse_month(request.query.get("end_month"), "end_month")
    return _cost(request, months_between(start, end), "historical_cost")


async def projected_cost(request: web.Request) -> web.Response:
    """GET /api/v2/usage/projected_cost (current month)."""
    return _cost(request, months_between(_this_month(), None), "projected_cost")


# ------------------------------------------------------------------------------- /_sim/*
async def sim_add_fault(request: web.Request) -> web.Response:
    """POST /_sim/faults."""
    state = request.app[STATE]
    body = await read_json(request)
    try:
        fid = state.add_fault(need_obj(body, "fault"))
    except FaultSpecError as exc:
        raise SimError(400, str(exc)) from None
    fault = next(f for f in state.faults if f.id == fid)
    return web.json_response({"id": fid, "fault": fault.as_dict()}, status=201)


async def sim_list_faults(request: web.Request) -> web.Response:
    """GET /_sim/faults."""
    state = request.app[STATE]
    with state.lock:
        return web.json_response({"faults": [f.as_dict() for f in state.faults]})


async def sim_clear_faults(request: web.Request) -> web.Response:
    """DELETE /_sim/faults."""
    request.app[STATE].clear_faults()
    return web.Response(status=204)


async def sim_delete_fault(request: web.Request) -> web.Response:
    """DELETE /_sim/faults/{fault_id}."""
    if not request.app[STATE].remove_fault(request.match_info["fault_id"]):
        raise SimError(404, "fault not found")
    return web.Response(status=204)


async def sim_state(request: web.Request) -> web.Response:
    """GET /_sim/state."""
    return web.json_response(request.app[STATE].snapshot())


async def sim_calls(request: web.Request) -> web.Response:
    """GET /_sim/calls: {"calls": {"METHOD /template": {"status": count}}}."""
    calls = request.app[STATE].calls()
    return web.json_response(
        {"calls": {r: {str(s): n for s, n in by.items()} for r, by in calls.items()}}
    )


async def sim_reset_calls(request: web.Request) -> web.Response:
    """DELETE /_sim/calls."""
    request.app[STATE].reset_calls()
    return web.Response(status=204)


async def sim_rate_limits(request: web.Request) -> web.Response:
    """PUT /_sim/rate_limits {"name": {"limit": N, "period": S}}."""
    state = request.app[STATE]
    body = need_obj(await read_json(request), "body")
    for name, spec in body.items():
        spec = need_obj(spec, name)
        limit, period = spec.get("limit"), spec.get("period", 60)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (limit, period)):
            raise SimError(400, "limit and period must be integers")
        assert isinstance(limit, int) and isinstance(period, int)
        if limit < 0 or period < 1:
            raise SimError(400, "limit must be >= 0 and period >= 1")
        state.set_rate_limit(name, limit, period)
    return web.json_response(state.snapshot()["rate_limits"])


# ------------------------------------------------------------------------------ middleware
def _template(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    if resource is None:
        return "UNMATCHED"
    return resource.canonical


def _authenticate(request: web.Request, meta: RouteMeta, state: SimState) -> Org:
    api_key = request.headers.get("DD-API-KEY") or request.query.get("api_key")
    app_key = request.headers.get("DD-APPLICATION-KEY") or request.query.get("application_key")
    if meta.auth == "api":
        org = state.org_for_api_key(api_key)
        if org is None:
            raise SimError(403, "API key required")
        return org
    org = state.org_for_keys(api_key, app_key)
    if org is None:
        raise SimError(403, "Forbidden")
    return org


def _storm_headers(meta: RouteMeta | None, state: SimState, reset: int) -> dict[str, str]:
    name = meta.limit if meta else "default"
    rl = state.rate_limits.get(name)
    info = RateInfo(name, rl.limit if rl else 0, rl.period if rl else 60, 0, reset, True)
    return info.headers()


@web.middleware
async def sim_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults, latency, auth, rate limits, error shape and call counting for /api/*."""
    state = request.app[STATE]
    template = _template(request)
    route = f"{request.method} {template}"
    if request.path.startswith("/_sim"):
        try:
            return await handler(request)
        except SimError as exc:
            return error_response(exc.status, exc.message)
        except web.HTTPException as exc:
            return error_response(exc.status, exc.reason)
    meta = ROUTE_META.get((request.method, template))
    status = 500
    try:
        decision = state.decide_faults(request.method, template, request.path)
        delay = state.latency_ms + decision.latency_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if decision.storm_reset is not None:
            resp: web.StreamResponse = error_response(
                429, "Too many requests", _storm_headers(meta, state, decision.storm_reset)
            )
        elif decision.error_status is not None:
            resp = error_response(decision.error_status, error_text(decision.error_status))
        else:
            resp = await _handle(request, handler, meta, state)
        if decision.drop:
            state.save()
            status = 0
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError
        status = resp.status
        return resp
    finally:
        state.record_call(route, status)


async def _handle(
    request: web.Request, handler: Handler, meta: RouteMeta | None, state: SimState
) -> web.StreamResponse:
    rate: RateInfo | None = None
    try:
        if meta is None:
            return await handler(request)  # unmatched: the router raises 404/405
        org = _authenticate(request, meta, state)
        request[ORG] = org
        rate = state.check_rate_limit(org.public_id, meta.limit)
        if rate is not None and rate.exceeded:
            raise SimError(429, "Too many requests")
        resp = await handler(request)
        if request.method != "GET" and resp.status < 400:
            state.save()
    except SimError as exc:
        resp = error_response(exc.status, exc.message, exc.headers)
    except web.HTTPException as exc:
        resp = error_response(exc.status, exc.reason if exc.status != 404 else "Not found")
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as exc:
        log.error("simulator bug on %s: %s", request.method, type(exc).__name__)
        resp = error_response(500, "Internal Server Error")
    if rate is not None:
        resp.headers.update(rate.headers())
    return resp


# ------------------------------------------------------------------------------- assembly
_MAPPING = "/api/v2/authn_mappings/{authn_mapping_id}"
_CFG = "/api/v2/org_configs/{org_config_name}"
_ROLE = "/api/v2/roles/{role_id}"
_ORG = "/api/v1/org/{public_id}"

# (method, path template, handler, keys needed, rate-limit bucket)
API_ROUTES: list[tuple[str, str, Handler, str, str]] = [
    ("GET", "/api/v1/validate", validate, "api", "validate"),
    ("GET", "/api/v1/org", list_orgs, "both", "orgs_read"),
    ("POST", "/api/v1/org", create_org, "both", "orgs_create"),
    ("GET", _ORG, get_org, "both", "orgs_read"),
    ("PUT", _ORG, update_org, "both", "orgs_write"),
    ("POST", _ORG + "/downgrade", downgrade_org, "both", "orgs_write"),
    ("POST", _ORG + "/idp_metadata", upload_idp_v1, "both", "saml"),
    ("GET", "/api/v1/usage/summary", get_usage_summary, "both", "usage"),
    ("GET", "/api/v2/roles", list_roles, "both", "roles"),
    ("POST", "/api/v2/roles", create_role, "both", "roles"),
    ("GET", _ROLE, get_role, "both", "roles"),
    ("PATCH", _ROLE, update_role, "both", "roles"),
    ("DELETE", _ROLE, delete_role, "both", "roles"),
    ("GET", _ROLE + "/permissions", list_role_permissions, "both", "roles"),
    ("POST", _ROLE + "/permissions", grant_permission, "both", "roles"),
    ("DELETE", _ROLE + "/permissions", revoke_permission, "both", "roles"),
    ("GET", "/api/v2/permissions", list_permissions, "both", "permissions"),
    ("GET", "/api/v2/authn_mappings", list_mappings, "both", "authn_mappings"),
    ("POST", "/api/v2/authn_mappings", create_mapping, "both", "authn_mappings"),
    ("GET", _MAPPING, get_mapping, "both", "authn_mappings"),
    ("PATCH", _MAPPING, update_mapping, "both", "authn_mappings"),
    ("DELETE", _MAPPING, delete_mapping, "both", "authn_mappings"),
    ("POST", "/api/v2/saml_configurations/idp_metadata", upload_idp_v2, "both", "saml"),
    ("GET", "/api/v2/org_configs", list_org_configs, "both", "org_configs"),
    ("GET", _CFG, get_org_config, "both", "org_configs"),
    ("PATCH", _CFG, update_org_config, "both", "org_configs"),
    ("GET", "/api/v2/usage/estimated_cost", estimated_cost, "both", "usage"),
    ("GET", "/api/v2/usage/estimated_cost_by_org", estimated_cost, "both", "usage"),
    ("GET", "/api/v2/usage/historical_cost", historical_cost, "both", "usage"),
    ("GET", "/api/v2/usage/projected_cost", projected_cost, "both", "usage"),
]
ROUTE_META.update({(m, p): RouteMeta(auth, limit) for m, p, _, auth, limit in API_ROUTES})


def build_app(state: SimState) -> web.Application:
    """The aiohttp application serving the simulated API for this state."""
    app = web.Application(middlewares=[sim_middleware], client_max_size=2 * 1024 * 1024)
    app[STATE] = state
    for method, path, handler, _, _ in API_ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_post("/_sim/faults", sim_add_fault)
    app.router.add_get("/_sim/faults", sim_list_faults)
    app.router.add_delete("/_sim/faults", sim_clear_faults)
    app.router.add_delete("/_sim/faults/{fault_id}", sim_delete_fault)
    app.router.add_get("/_sim/state", sim_state)
    app.router.add_get("/_sim/calls", sim_calls)
    app.router.add_delete("/_sim/calls", sim_reset_calls)
    app.router.add_put("/_sim/rate_limits", sim_rate_limits)
    return app
