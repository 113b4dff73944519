"""The simulated Datadog HTTP API on aiohttp.web, assembled from one module per API area.

Why: the operator's correctness can only be tested against something that answers like Datadog:
same paths, bodies, status codes, error shape ``{"errors": [...]}``, per-org keys, rate-limit
headers. Shapes come from the recorded exchanges in ``shared/datadog-api/cassettes`` and from
``openapi-v1.yaml``. Each area module (``orgs``, ``roles``, ``saml``, ``usage``, ``cost``)
lists its endpoints in ``ROUTES``; a new area is one module plus one entry in ``AREAS``.
``middleware`` wraps them all (auth, faults, rate limits); ``admin`` is the ``/_sim/*`` control
surface.
"""

from __future__ import annotations

from types import ModuleType

from aiohttp import web

from ddmsp.simulator import (
    admin,
    cost,
    currentuser,
    keys,
    orgconfigs,
    orgconnections,
    orgs,
    roles,
    saml,
    serviceaccounts,
    usage,
    users,
)
from ddmsp.simulator.http import STATE, Route
from ddmsp.simulator.middleware import META, RouteMeta, route_meta, sim_middleware
from ddmsp.simulator.state import SimState

AREAS: tuple[ModuleType, ...] = (
    orgs, roles, saml, orgconfigs, orgconnections, usage, cost, users, serviceaccounts, keys,
    currentuser,
)

API_ROUTES: list[Route] = [route for area in AREAS for route in area.ROUTES]
ROUTE_META: dict[tuple[str, str], RouteMeta] = route_meta(API_ROUTES)


def build_app(state: SimState) -> web.Application:
    """The aiohttp application serving the simulated API for this state."""
    app = web.Application(middlewares=[sim_middleware], client_max_size=2 * 1024 * 1024)
    app[STATE] = state
    app[META] = ROUTE_META
    for method, path, handler, _, _ in API_ROUTES:
        app.router.add_route(method, path, handler)
    admin.register(app)
    return app
