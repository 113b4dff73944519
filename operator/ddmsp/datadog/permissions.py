"""Which Datadog permission each API route needs, so a 403 can name what is missing.

Datadog answers 403 both for an invalid key and for a key that lacks a permission, and
its body does not say which permission. The operator knows which call it made, so it
names the permission itself. Sources: the v1/v2 OpenAPI specs' `x-permission` blocks
(`org_management` on the org endpoints and IdP upload, `user_access_manage` /
`user_access_read` on roles and AuthN mappings, `usage_read` and `billing_read` on the
cost endpoints, `user_access_invite` on user creation and invitations).
"""

from __future__ import annotations

import re

# (method, route template) -> every permission the call needs.
REQUIRED: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/api/v1/org"): ("org_management",),
    ("POST", "/api/v1/org"): ("org_management",),
    ("GET", "/api/v1/org/{public_id}"): ("org_management",),
    ("PUT", "/api/v1/org/{public_id}"): ("org_management",),
    ("POST", "/api/v1/org/{public_id}/downgrade"): ("org_management",),
    ("POST", "/api/v1/org/{public_id}/idp_metadata"): ("org_management",),
    ("POST", "/api/v2/saml_configurations/idp_metadata"): ("org_management",),
    ("GET", "/api/v2/org_configs"): ("org_management",),
    ("GET", "/api/v2/org_configs/{org_config_name}"): ("org_management",),
    ("PATCH", "/api/v2/org_configs/{org_config_name}"): ("org_management",),
    ("GET", "/api/v2/permissions"): ("user_access_read",),
    ("GET", "/api/v2/roles"): ("user_access_read",),
    ("POST", "/api/v2/roles"): ("user_access_manage",),
    ("GET", "/api/v2/roles/{role_id}"): ("user_access_read",),
    ("PATCH", "/api/v2/roles/{role_id}"): ("user_access_manage",),
    ("DELETE", "/api/v2/roles/{role_id}"): ("user_access_manage",),
    ("GET", "/api/v2/roles/{role_id}/permissions"): ("user_access_read",),
    ("POST", "/api/v2/roles/{role_id}/permissions"): ("user_access_manage",),
    ("DELETE", "/api/v2/roles/{role_id}/permissions"): ("user_access_manage",),
    ("GET", "/api/v2/roles/{role_id}/users"): ("user_access_read",),
    ("POST", "/api/v2/roles/{role_id}/users"): ("user_access_manage",),
    ("DELETE", "/api/v2/roles/{role_id}/users"): ("user_access_manage",),
    ("GET", "/api/v2/authn_mappings"): ("user_access_read",),
    ("POST", "/api/v2/authn_mappings"): ("user_access_manage",),
    ("GET", "/api/v2/authn_mappings/{authn_mapping_id}"): ("user_access_read",),
    ("PATCH", "/api/v2/authn_mappings/{authn_mapping_id}"): ("user_access_manage",),
    ("DELETE", "/api/v2/authn_mappings/{authn_mapping_id}"): ("user_access_manage",),
    ("GET", "/api/v2/users"): ("user_access_read",),
    ("POST", "/api/v2/users"): ("user_access_invite",),
    ("GET", "/api/v2/users/{user_id}"): ("user_access_read",),
    ("PATCH", "/api/v2/users/{user_id}"): ("user_access_manage",),
    ("DELETE", "/api/v2/users/{user_id}"): ("user_access_manage",),
    ("POST", "/api/v2/user_invitations"): ("user_access_invite",),
    ("GET", "/api/v1/usage/summary"): ("usage_read",),
    ("GET", "/api/v2/usage/hourly_usage"): ("usage_read",),
    ("GET", "/api/v2/usage/estimated_cost"): ("usage_read", "billing_read"),
    ("GET", "/api/v2/usage/historical_cost"): ("usage_read", "billing_read"),
    ("GET", "/api/v2/usage/projected_cost"): ("usage_read", "billing_read"),
    ("GET", "/api/v2/cost_by_org"): ("usage_read", "billing_read"),
}

_TEMPLATES = [
    (method, template, re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+",
                                               re.escape(template)) + "$"))
    for method, template in REQUIRED
]


def required_permissions(method: str, path: str) -> tuple[str, ...]:
    """The permissions a call needs, by route template or concrete path (() if unknown)."""
    method = method.upper()
    exact = REQUIRED.get((method, path))
    if exact is not None:
        return exact
    for m, _template, pattern in _TEMPLATES:
        if m == method and pattern.match(path):
            return REQUIRED[(m, _template)]
    return ()


def required_permission(method: str, path: str) -> str:
    """The permissions a call needs as one readable phrase, e.g. "`usage_read` and
    `billing_read`" ('' when the route is not in the table)."""
    return " and ".join(f"`{p}`" for p in required_permissions(method, path))
