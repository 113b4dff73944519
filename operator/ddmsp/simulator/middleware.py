"""Cross-cutting request handling: faults, latency, authentication, rate limits, error shape.

Why: Datadog applies these to every endpoint the same way, so the area modules state only
their endpoints and this one middleware wraps them all. ``/_sim/*`` bypasses everything but the
error shape. Nothing that contains a key is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from ddmsp.simulator.faults import error_text
from ddmsp.simulator.http import ORG, STATE, Handler, Route, error_response
from ddmsp.simulator.permissions import FORBIDDEN_MESSAGES, requirement_for
from ddmsp.simulator.ratelimits import RateInfo
from ddmsp.simulator.store import CURRENT_CLOCK, Org, SimError

if TYPE_CHECKING:
    from ddmsp.simulator.state import SimState

log = logging.getLogger("ddmsp.simulator")


@dataclass(frozen=True)
class RouteMeta:
    """Per-endpoint policy: which keys it needs and its rate-limit bucket."""

    auth: str  # "api" (API key only) or "both"
    limit: str


def route_meta(routes: list[Route]) -> dict[tuple[str, str], RouteMeta]:
    """The policy table of a list of routes, keyed by (method, path template)."""
    return {(m, p): RouteMeta(auth, limit) for m, p, _, auth, limit in routes}


META: web.AppKey[dict[tuple[str, str], RouteMeta]] = web.AppKey("route_meta")


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
    if state.refused_app_keys:  # a new key not yet accepted (faults.py, a key fault)
        rec = state.app_key_record(app_key)
        if rec is not None and state.refuse_new_key(rec.id):
            raise SimError(403, "Forbidden")
    return org


def _app_key(request: web.Request) -> str | None:
    return request.headers.get("DD-APPLICATION-KEY") or request.query.get("application_key")


def _authorize(request: web.Request, template: str, org: Org, state: SimState) -> None:
    """403 as Datadog gives it when the key pair lacks a permission the endpoint needs."""
    need = requirement_for(request.method, template)
    if need is None:
        return
    if not need.satisfied_by(state.permissions_of(org.public_id, _app_key(request))):
        raise ForbiddenError()


class ForbiddenError(SimError):
    """Missing permission: ``{"errors": ["Forbidden", "Failed permission authorization
    checks"]}`` (see ``ddmsp.simulator.permissions``)."""

    def __init__(self) -> None:
        super().__init__(403, FORBIDDEN_MESSAGES[0])


def too_many_requests(headers: dict[str, str]) -> web.Response:
    """A 429 as recorded: an empty body with ``Content-Type: application/json`` and the
    ``X-RateLimit-*`` headers (datadog-api-client-python
    ``tests/cassettes/test_retry/test_retry_rate_limit.yaml``)."""
    return web.Response(
        status=429, body=b"", headers={**headers, "Content-Type": "application/json"}
    )


def _storm_headers(meta: RouteMeta | None, state: SimState, reset: int) -> dict[str, str]:
    name = meta.limit if meta else "default"
    rl = state.rate_limits.get(name)
    info = RateInfo(name, rl.limit if rl else 0, rl.period if rl else 60, 0, reset, True)
    return info.headers()


@web.middleware
async def sim_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults, latency, auth, rate limits, error shape and call counting for /api/*."""
    state = request.app[STATE]
    CURRENT_CLOCK.set(state.clock)
    template = _template(request)
    route = f"{request.method} {template}"
    if request.path.startswith("/_sim"):
        try:
            return await handler(request)
        except SimError as exc:
            return error_response(exc.status, exc.message)
        except web.HTTPException as exc:
            return error_response(exc.status, exc.reason)
    meta = request.app[META].get((request.method, template))
    status = 500
    try:
        decision = state.decide_faults(request.method, template, request.path)
        delay = state.latency_ms + decision.latency_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if decision.storm_reset is not None:
            resp: web.StreamResponse = too_many_requests(
                _storm_headers(meta, state, decision.storm_reset)
            )
        elif decision.error_status == 429:
            resp = too_many_requests({})
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
        state.record_call(route, status, f"{request.method} {request.path}")


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
            return too_many_requests(rate.headers())
        _authorize(request, _template(request), org, state)
        resp = await handler(request)
        if request.method != "GET" and resp.status < 400:
            state.save()
    except ForbiddenError:
        resp = web.json_response({"errors": FORBIDDEN_MESSAGES}, status=403)
    except SimError as exc:
        if exc.status == 429:
            resp = too_many_requests(exc.headers)
        else:
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
