"""SAML: IdP metadata upload (v1 and v2) and authn mappings.

Why: the operator uploads customers' IdP metadata and maps SAML attributes to roles; this area
mirrors the "Organizations / IdP metadata" and "Authn Mappings" sections of Datadog's API
reference. Org configs live in ``orgconfigs``.
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
    read_idp_file,
    read_json,
    rel_id,
    state_of,
)
from ddmsp.simulator.idp import IdpMetadata, parse_idp_metadata
from ddmsp.simulator.orgs import ORG_PATH, own_org, require_saml_possible
from ddmsp.simulator.roles import RolesState, role_json
from ddmsp.simulator.store import Org, SimError, now_iso


@dataclass
class AuthnMapping:
    """A v2 authn mapping (SAML attribute -> role)."""

    id: str
    attribute_key: str
    attribute_value: str
    role_id: str
    created_at: str
    modified_at: str


# ------------------------------------------------------------------------------------ state
class SamlState(RolesState):
    """IdP metadata and authn mappings (they point at roles) of each org."""

    def _decode_org(self, raw: dict[str, Any]) -> None:
        super()._decode_org(raw)
        raw["authn_mappings"] = {
            m["id"]: AuthnMapping(**m) for m in raw.get("authn_mappings", {}).values()
        }
        idp = raw.get("idp_metadata")
        raw["idp_metadata"] = IdpMetadata(**idp) if idp else None

    def _snapshot_org(self, org: Org, out: dict[str, Any]) -> None:
        super()._snapshot_org(org, out)
        out["authn_mappings"] = [
            {
                "id": m.id,
                "attribute_key": m.attribute_key,
                "attribute_value": m.attribute_value,
                "role_id": m.role_id,
                "role_name": org.roles[m.role_id].name if m.role_id in org.roles else None,
            }
            for m in org.authn_mappings.values()
        ]
        out["idp_metadata"] = (
            None
            if org.idp_metadata is None
            else {
                "sha256": org.idp_metadata.sha256,
                "entity_id": org.idp_metadata.entity_id,
                "sso_url": org.idp_metadata.sso_url,
            }
        )

    # --------------------------------------------------------------------- authn mappings
    def find_mapping(self, org: Org, mapping_id: str) -> AuthnMapping:
        """A mapping by id, 404 with the recorded message otherwise."""
        mapping = org.authn_mappings.get(mapping_id)
        if mapping is None:
            raise SimError(404, f"Mapping with id {mapping_id} not found")
        return mapping

    def _check_mapping(
        self, org: Org, key: str, value: str, role_id: str, exclude: str | None = None
    ) -> None:
        if role_id not in org.roles:
            raise SimError(404, f"Role with id {role_id} not found")
        for m in org.authn_mappings.values():
            if m.id != exclude and (m.attribute_key, m.attribute_value, m.role_id) == (
                key,
                value,
                role_id,
            ):
                raise SimError(409, "There is already a mapping with this key, value and role")

    def create_mapping(self, org: Org, key: str, value: str, role_id: str) -> AuthnMapping:
        """Create an authn mapping."""
        with self.lock:
            self._check_mapping(org, key, value, role_id)
            ts = now_iso()
            m = AuthnMapping(str(uuid.uuid4()), key, value, role_id, ts, ts)
            org.authn_mappings[m.id] = m
            return m

    def update_mapping(
        self,
        org: Org,
        mapping_id: str,
        key: str | None,
        value: str | None,
        role_id: str | None,
    ) -> AuthnMapping:
        """PATCH an authn mapping."""
        with self.lock:
            m = self.find_mapping(org, mapping_id)
            nk = m.attribute_key if key is None else key
            nv = m.attribute_value if value is None else value
            nr = m.role_id if role_id is None else role_id
            self._check_mapping(org, nk, nv, nr, exclude=mapping_id)
            m.attribute_key, m.attribute_value, m.role_id = nk, nv, nr
            m.modified_at = now_iso()
            return m

    def delete_mapping(self, org: Org, mapping_id: str) -> None:
        """Delete an authn mapping."""
        with self.lock:
            self.find_mapping(org, mapping_id)
            del org.authn_mappings[mapping_id]

    # ------------------------------------------------------------------------ IdP, config
    def set_idp_metadata(self, org: Org, meta: IdpMetadata) -> None:
        """Record accepted IdP metadata on an org."""
        with self.lock:
            org.idp_metadata = meta
            org.settings["saml_idp_metadata_uploaded"] = True
            if meta.sso_url:
                org.settings["saml_idp_endpoint"] = meta.sso_url

    # ------------------------------------------------------------------- drift mutators
    def add_authn_mapping(
        self, org_public_id: str, attribute_key: str, attribute_value: str, role_name: str
    ) -> str:
        """Drift helper: add a mapping behind the operator's back; returns its id."""
        with self.lock:
            org, role = self._org_role(org_public_id, role_name)
            return self.create_mapping(org, attribute_key, attribute_value, role.id).id

    def delete_authn_mapping(self, org_public_id: str, mapping_id: str) -> None:
        """Drift helper: delete a mapping."""
        with self.lock:
            self.delete_mapping(self.orgs[org_public_id], mapping_id)


# ----------------------------------------------------------------------------------- HTTP
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


async def upload_idp_v1(request: web.Request) -> web.Response:
    """POST /api/v1/org/{public_id}/idp_metadata. Another org's ID answers 400 "Not allowed
    to access this organization" before the file is read (``own_org``; the recorded upload of
    a file that is not metadata to a foreign ID got exactly that answer)."""
    state = state_of(request)
    org = own_org(request)
    require_saml_possible(org)
    meta = parse_idp_metadata(await read_idp_file(request))
    state.set_idp_metadata(org, meta)
    return web.json_response({"message": f"IdP metadata successfully uploaded for {org.name}"})


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
    org = caller_org(request)
    size, number, (key, reverse) = paging(request, _MAPPING_SORTS, "created_at")
    flt = request.query.get("filter", "").casefold()
    with state_of(request).lock:
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
    org = caller_org(request)
    data = data_of(await read_json(request), "authn_mappings")
    key, value = _mapping_attrs(data, True)
    role_id = _mapping_role(data, True)
    assert key is not None and value is not None and role_id is not None
    m = state_of(request).create_mapping(org, key, value, role_id)
    return web.json_response(_mapping_doc(org, m))


async def get_mapping(request: web.Request) -> web.Response:
    """GET /api/v2/authn_mappings/{authn_mapping_id}."""
    org = caller_org(request)
    m = state_of(request).find_mapping(org, request.match_info["authn_mapping_id"])
    return web.json_response(_mapping_doc(org, m))


async def update_mapping(request: web.Request) -> web.Response:
    """PATCH /api/v2/authn_mappings/{authn_mapping_id}."""
    org = caller_org(request)
    mid = request.match_info["authn_mapping_id"]
    data = data_of(await read_json(request), "authn_mappings")
    if data.get("id") is not None and data.get("id") != mid:
        raise SimError(422, "The mapping ID in the body does not match the ID in the path")
    key, value = _mapping_attrs(data, False)
    role_id = _mapping_role(data, False)
    m = state_of(request).update_mapping(org, mid, key, value, role_id)
    return web.json_response(_mapping_doc(org, m))


async def delete_mapping(request: web.Request) -> web.Response:
    """DELETE /api/v2/authn_mappings/{authn_mapping_id}."""
    state_of(request).delete_mapping(caller_org(request), request.match_info["authn_mapping_id"])
    return web.Response(status=204)


async def upload_idp_v2(request: web.Request) -> web.Response:
    """POST /api/v2/saml_configurations/idp_metadata (caller's own org)."""
    state = state_of(request)
    org = caller_org(request)
    require_saml_possible(org)
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


MAPPING_PATH = "/api/v2/authn_mappings/{authn_mapping_id}"

ROUTES: list[Route] = [
    ("POST", ORG_PATH + "/idp_metadata", upload_idp_v1, "both", "saml"),
    ("GET", "/api/v2/authn_mappings", list_mappings, "both", "authn_mappings"),
    ("POST", "/api/v2/authn_mappings", create_mapping, "both", "authn_mappings"),
    ("GET", MAPPING_PATH, get_mapping, "both", "authn_mappings"),
    ("PATCH", MAPPING_PATH, update_mapping, "both", "authn_mappings"),
    ("DELETE", MAPPING_PATH, delete_mapping, "both", "authn_mappings"),
    ("POST", "/api/v2/saml_configurations/idp_metadata", upload_idp_v2, "both", "saml"),
]
