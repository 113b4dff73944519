"""``GET /api/v2/current_user``: the caller's user, naming its org by the v2 org UUID.

Why: an org connection names its sink by the v2 org UUID, not the v1 public_id (recorded,
see ``ddmsp.simulator.orgconnections``), and the one place an org's keys learn their own v2
UUID is their user's ``relationships.org`` (the official client's ``UserResponse`` ->
``UserResponseRelationships.org``: ``RelationshipToOrganization``, type ``orgs``; its v2
``OrganizationAttributes`` carry ``public_id`` as a separate attribute, so the resource id is
the v2 UUID). Only the fields the operator reads are served; ``included`` carries the org
with its ``public_id`` so the two ids can be matched.
"""

from __future__ import annotations

from aiohttp import web

from ddmsp.simulator.http import Route, caller_org, state_of
from ddmsp.simulator.keys import _me


async def get_current_user(request: web.Request) -> web.Response:
    """GET /api/v2/current_user."""
    org = caller_org(request)
    user_id = _me(request)
    state = state_of(request)
    with state.lock:
        user = state.users.get(org.public_id, {}).get(user_id)
        attributes = {"email": user.email, "name": user.name} if user is not None else {}
        return web.json_response({
            "data": {
                "type": "users", "id": user_id, "attributes": attributes,
                "relationships": {"org": {"data": {"type": "orgs", "id": org.v2_id}}},
            },
            "included": [{"type": "orgs", "id": org.v2_id,
                          "attributes": {"name": org.name, "public_id": org.public_id}}],
        })


ROUTES: list[Route] = [
    ("GET", "/api/v2/current_user", get_current_user, "both", "users"),
]
