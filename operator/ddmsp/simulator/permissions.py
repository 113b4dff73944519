"""Which Datadog permissions each endpoint needs, and which permissions each key pair carries.

Why: Datadog does not treat every key as an admin: an application key acts with its owner's
permissions, narrowed by its scopes, and an endpoint answers 403 when they lack what it needs.
The simulator gives every key pair a permission set (default: all) that tests narrow through
``/_sim/orgs/{public_id}/permissions`` and ``/_sim/keys/permissions``.

``REQUIRED_PERMISSIONS`` is plain data (``(method, path template) -> Requirement``) so others can
reuse it. Sources: the v1 spec's ``x-permission`` (``GET``/``POST /api/v1/org`` need
``org_management``; ``GET /api/v1/usage/summary`` needs ``usage_read``; see
``openapi-v1.yaml``), Datadog's RBAC permission list (``org_management``: create, modify and
spin off child orgs and upload IdP metadata; ``user_access_manage``: roles and SAML authn
mappings; ``user_access_invite``: invite users; ``usage_read``/``billing_read``: usage and cost)
and the brief of issue 8 for the endpoints whose spec entry names none (org get/update,
downgrade, IdP upload: ``org_management``; cost: ``usage_read`` AND ``billing_read``).
``user_access_read`` is not in the recorded permission catalogue but reads are granted by it
or by ``user_access_manage`` (manage implies read).

403 body: ``{"errors": ["Forbidden", "Failed permission authorization checks"]}``, the body
Datadog's own CLI recognises as a scoped key missing a permission (DataDog/datadog-ci,
``packages/plugin-synthetics/src/__tests__/api.test.ts``, "missing scope error"; the same two
lines appear in DataDog/datadog-ci issue #1159 for ``/api/v1/synthetics/settings``). The v1
and v2 specs declare 403 as ``APIErrorResponse`` (``{"errors": [string]}``) for these
endpoints, so v1 and v2 share the body. (A v2 JSON:API 403 ``{"errors":[{"title":"Forbidden"}]}``
is recorded only for RUM remote config, another service, so it is not used here.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ddmsp.simulator.store import StateBase, key_hash

FORBIDDEN_MESSAGES = ["Forbidden", "Failed permission authorization checks"]


@dataclass(frozen=True)
class Requirement:
    """Permissions an endpoint needs: ``all_of`` every one, or ``any_of`` at least one."""

    names: tuple[str, ...]
    operator: str = "AND"  # "AND" | "OR", as the spec's x-permission

    def satisfied_by(self, granted: frozenset[str] | None) -> bool:
        """Whether a key pair with these permissions (None = all) may call the endpoint."""
        if granted is None:
            return True
        if self.operator == "OR":
            return any(n in granted for n in self.names)
        return all(n in granted for n in self.names)

    def as_dict(self) -> dict[str, Any]:
        """JSON form, like the spec's ``x-permission``."""
        return {"operator": self.operator, "permissions": list(self.names)}


ORG_MANAGEMENT = Requirement(("org_management",))
ACCESS_READ = Requirement(("user_access_read", "user_access_manage"), "OR")
ACCESS_MANAGE = Requirement(("user_access_manage",))
USERS_WRITE = Requirement(("user_access_invite", "user_access_manage"), "OR")
USAGE = Requirement(("usage_read",))
COST = Requirement(("usage_read", "billing_read"))
API_KEYS_READ = Requirement(("api_keys_read",))
API_KEYS_WRITE = Requirement(("api_keys_write",))
API_KEYS_DELETE = Requirement(("api_keys_delete",))
ORG_APP_KEYS_READ = Requirement(("org_app_keys_read",))
ORG_APP_KEYS_WRITE = Requirement(("org_app_keys_write",))
OWN_APP_KEYS = Requirement(("user_app_keys",))
SERVICE_ACCOUNTS = Requirement(("service_account_write",))

_ORG = "/api/v1/org/{public_id}"
_ROLE = "/api/v2/roles/{role_id}"
_MAP = "/api/v2/authn_mappings/{authn_mapping_id}"
_USER = "/api/v2/users/{user_id}"
_APIK = "/api/v2/api_keys"
_APPK = "/api/v2/application_keys"
_MYK = "/api/v2/current_user/application_keys"
_SAK = "/api/v2/service_accounts/{service_account_id}/application_keys"
_KEY = "/{app_key_id}"

REQUIRED_PERMISSIONS: dict[tuple[str, str], Requirement] = {
    # organizations
    ("GET", "/api/v1/org"): ORG_MANAGEMENT,
    ("POST", "/api/v1/org"): ORG_MANAGEMENT,
    ("GET", _ORG): ORG_MANAGEMENT,
    ("PUT", _ORG): ORG_MANAGEMENT,
    ("POST", _ORG + "/downgrade"): ORG_MANAGEMENT,
    ("POST", _ORG + "/idp_metadata"): ORG_MANAGEMENT,
    ("POST", "/api/v2/saml_configurations/idp_metadata"): ORG_MANAGEMENT,
    # org configs: writing one needs org_management (Datadog's API reference, "Update a
    # specific Org Config"); the reference names no permission for reading them
    ("PATCH", "/api/v2/org_configs/{org_config_name}"): ORG_MANAGEMENT,
    # org connections (Datadog's API reference, "Org Connections": org_connections_write to
    # create, update and delete; reading taken as org_connections_read)
    ("GET", "/api/v2/org_connections"): Requirement(("org_connections_read",)),
    ("POST", "/api/v2/org_connections"): Requirement(("org_connections_write",)),
    ("PATCH", "/api/v2/org_connections/{connection_id}"): Requirement(("org_connections_write",)),
    ("DELETE", "/api/v2/org_connections/{connection_id}"): Requirement(
        ("org_connections_write",)),
    # roles and permissions
    ("GET", "/api/v2/roles"): ACCESS_READ,
    ("POST", "/api/v2/roles"): ACCESS_MANAGE,
    ("GET", _ROLE): ACCESS_READ,
    ("PATCH", _ROLE): ACCESS_MANAGE,
    ("DELETE", _ROLE): ACCESS_MANAGE,
    ("GET", _ROLE + "/permissions"): ACCESS_READ,
    ("POST", _ROLE + "/permissions"): ACCESS_MANAGE,
    ("DELETE", _ROLE + "/permissions"): ACCESS_MANAGE,
    ("GET", _ROLE + "/users"): ACCESS_READ,
    ("POST", _ROLE + "/users"): ACCESS_MANAGE,
    ("DELETE", _ROLE + "/users"): ACCESS_MANAGE,
    # SAML authn mappings
    ("GET", "/api/v2/authn_mappings"): ACCESS_READ,
    ("POST", "/api/v2/authn_mappings"): ACCESS_MANAGE,
    ("GET", _MAP): ACCESS_READ,
    ("PATCH", _MAP): ACCESS_MANAGE,
    ("DELETE", _MAP): ACCESS_MANAGE,
    # users and invitations
    ("GET", "/api/v2/users"): ACCESS_READ,
    ("POST", "/api/v2/users"): USERS_WRITE,
    ("GET", _USER): ACCESS_READ,
    ("PATCH", _USER): ACCESS_MANAGE,
    ("DELETE", _USER): ACCESS_MANAGE,
    ("GET", _USER + "/orgs"): ACCESS_READ,
    ("GET", _USER + "/permissions"): ACCESS_READ,
    ("POST", "/api/v2/user_invitations"): USERS_WRITE,
    ("GET", "/api/v2/user_invitations/{user_invitation_uuid}"): ACCESS_READ,
    # keys and service accounts (Datadog's docs, api-app-keys "Scopes" and the permission
    # list: api_keys_read/_write/_delete; org_app_keys_read/_write for every user's keys;
    # user_app_keys for one's own; service_account_write for service accounts and their keys)
    ("GET", _APIK): API_KEYS_READ,
    ("POST", _APIK): API_KEYS_WRITE,
    ("GET", _APIK + "/{api_key_id}"): API_KEYS_READ,
    ("PATCH", _APIK + "/{api_key_id}"): API_KEYS_WRITE,
    ("DELETE", _APIK + "/{api_key_id}"): API_KEYS_DELETE,
    ("GET", _APPK): ORG_APP_KEYS_READ,
    ("GET", _APPK + _KEY): ORG_APP_KEYS_READ,
    ("PATCH", _APPK + _KEY): ORG_APP_KEYS_WRITE,
    ("DELETE", _APPK + _KEY): ORG_APP_KEYS_WRITE,
    **{(m, p): OWN_APP_KEYS for m, p in (("GET", _MYK), ("POST", _MYK), ("GET", _MYK + _KEY),
                                         ("PATCH", _MYK + _KEY), ("DELETE", _MYK + _KEY))},
    ("POST", "/api/v2/service_accounts"): SERVICE_ACCOUNTS,
    **{(m, p): SERVICE_ACCOUNTS for m, p in (("GET", _SAK), ("POST", _SAK), ("GET", _SAK + _KEY),
                                             ("PATCH", _SAK + _KEY), ("DELETE", _SAK + _KEY))},
    # usage and cost
    ("GET", "/api/v1/usage/summary"): USAGE,
    ("GET", "/api/v2/usage/hourly_usage"): USAGE,
    ("GET", "/api/v2/usage/estimated_cost"): COST,
    ("GET", "/api/v2/usage/estimated_cost_by_org"): COST,
    ("GET", "/api/v2/usage/historical_cost"): COST,
    ("GET", "/api/v2/usage/projected_cost"): COST,
}


def requirement_for(method: str, template: str) -> Requirement | None:
    """What an endpoint needs (None: nothing beyond valid keys)."""
    return REQUIRED_PERMISSIONS.get((method.upper(), template))


def normalise(names: Any) -> frozenset[str] | None:
    """A ``permissions`` value from JSON: a list of names, or null for all; ValueError else."""
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ValueError("permissions must be a list of permission names or null")
    return frozenset(names)


class KeyPermissionsState(StateBase):
    """Permission sets per application key, with a per-org default (None = all permissions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.org_permissions: dict[str, frozenset[str] | None] = {}
        self.key_permissions: dict[str, frozenset[str] | None] = {}

    def set_org_permissions(self, public_id: str, names: frozenset[str] | None) -> None:
        """Every key pair of the org (now and later) gets exactly these permissions."""
        with self.lock:
            org = self.orgs[public_id]
            self.org_permissions[public_id] = names
            for h in org.app_key_hashes:
                self.key_permissions.pop(h, None)

    def set_key_permissions(self, app_key: str, names: frozenset[str] | None) -> None:
        """One application key's permissions (KeyError when the key is unknown)."""
        with self.lock:
            h = key_hash(app_key)
            if h not in self.app_key_index:
                raise KeyError("unknown application key")
            self.key_permissions[h] = names

    def permissions_of(self, public_id: str, app_key: str | None) -> frozenset[str] | None:
        """The permissions a request with this app key carries (None = all)."""
        with self.lock:
            if app_key:
                h = key_hash(app_key)
                if h in self.key_permissions:
                    return self.key_permissions[h]
            return self.org_permissions.get(public_id)
