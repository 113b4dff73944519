"""The simulator's own control surface under ``/_sim/`` (not part of Datadog's API).

Why: tests and demos steer the simulator over HTTP (faults, rate limits, inspection) the same way
they would steer it in another process; the Python helpers on ``RunningSimulator`` mirror these.
The routes are the shared interface of HELPERS.md: ``/_sim/faults``, ``/_sim/state``,
``/_sim/calls``, ``/_sim/rate_limits``, ``/_sim/config``, ``/_sim/orgs/{public_id}``,
``/_sim/orgs/{public_id}/permissions``, ``/_sim/keys/permissions`` and ``/_sim/clock``.
"""

from __future__ import annotations

from aiohttp import web

from ddmsp.simulator.clock import parse_rfc3339, rfc3339
from ddmsp.simulator.config import ConfigError
from ddmsp.simulator.faults import FaultSpecError
from ddmsp.simulator.http import need_obj, read_json, state_of
from ddmsp.simulator.permissions import normalise
from ddmsp.simulator.store import SimError


async def sim_add_fault(request: web.Request) -> web.Response:
    """POST /_sim/faults."""
    state = state_of(request)
    body = await read_json(request)
    try:
        fid = state.add_fault(need_obj(body, "fault"))
    except FaultSpecError as exc:
        raise SimError(400, str(exc)) from None
    fault = next(f for f in state.faults if f.id == fid)
    return web.json_response({"id": fid, "fault": fault.as_dict()}, status=201)


async def sim_list_faults(request: web.Request) -> web.Response:
    """GET /_sim/faults."""
    state = state_of(request)
    with state.lock:
        return web.json_response({"faults": [f.as_dict() for f in state.faults]})


async def sim_clear_faults(request: web.Request) -> web.Response:
    """DELETE /_sim/faults."""
    state_of(request).clear_faults()
    return web.Response(status=204)


async def sim_delete_fault(request: web.Request) -> web.Response:
    """DELETE /_sim/faults/{fault_id}."""
    if not state_of(request).remove_fault(request.match_info["fault_id"]):
        raise SimError(404, "fault not found")
    return web.Response(status=204)


async def sim_state(request: web.Request) -> web.Response:
    """GET /_sim/state."""
    return web.json_response(state_of(request).snapshot())


async def sim_calls(request: web.Request) -> web.Response:
    """GET /_sim/calls: {"calls": {"METHOD /template": {"status": count}}}."""
    calls = state_of(request).calls()
    return web.json_response(
        {"calls": {r: {str(s): n for s, n in by.items()} for r, by in calls.items()}}
    )


async def sim_reset_calls(request: web.Request) -> web.Response:
    """DELETE /_sim/calls."""
    state_of(request).reset_calls()
    return web.Response(status=204)


async def sim_rate_limits(request: web.Request) -> web.Response:
    """PUT /_sim/rate_limits {"name": {"limit": N, "period": S}}."""
    state = state_of(request)
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


async def sim_get_config(request: web.Request) -> web.Response:
    """GET /_sim/config: {"org_listing": "own" | "children", "saml_can_be_enabled": bool,
    "one_time_read": bool, "api_key_limit": int}."""
    state = state_of(request)
    with state.lock:
        return web.json_response(state.config.as_dict())


async def sim_put_config(request: web.Request) -> web.Response:
    """PUT /_sim/config with any subset of the fields; answers the whole config."""
    state = state_of(request)
    body = need_obj(await read_json(request), "body")
    with state.lock:
        try:
            state.config.update(body)
        except ConfigError as exc:
            raise SimError(400, str(exc)) from None
        return web.json_response(state.config.as_dict())


async def sim_put_org(request: web.Request) -> web.Response:
    """PUT /_sim/orgs/{public_id} {"saml_can_be_enabled": bool, "multi_org_enabled": bool}."""
    state = state_of(request)
    body = need_obj(await read_json(request), "body")
    try:
        state.set_org_fields(request.match_info["public_id"], body)
    except KeyError:
        raise SimError(404, "org not found") from None
    except ValueError as exc:
        raise SimError(400, str(exc)) from None
    snap = [o for o in state.snapshot_orgs() if o["public_id"] == request.match_info["public_id"]]
    return web.json_response(snap[0])


def _permissions(body: dict[str, object]) -> frozenset[str] | None:
    if "permissions" not in body:
        raise SimError(400, "permissions is required (a list of names, or null for all)")
    try:
        return normalise(body["permissions"])
    except ValueError as exc:
        raise SimError(400, str(exc)) from None


async def sim_put_org_permissions(request: web.Request) -> web.Response:
    """PUT /_sim/orgs/{public_id}/permissions {"permissions": [names] | null}."""
    state = state_of(request)
    names = _permissions(need_obj(await read_json(request), "body"))
    try:
        state.set_org_permissions(request.match_info["public_id"], names)
    except KeyError:
        raise SimError(404, "org not found") from None
    return web.json_response({"permissions": None if names is None else sorted(names)})


async def sim_put_key_permissions(request: web.Request) -> web.Response:
    """PUT /_sim/keys/permissions {"app_key": "...", "permissions": [names] | null}."""
    state = state_of(request)
    body = need_obj(await read_json(request), "body")
    app_key = body.get("app_key")
    if not isinstance(app_key, str) or not app_key:
        raise SimError(400, "app_key must be a non-empty string")
    names = _permissions(body)
    try:
        state.set_key_permissions(app_key, names)
    except KeyError:
        raise SimError(404, "application key not found") from None
    return web.json_response({"permissions": None if names is None else sorted(names)})


async def sim_get_clock(request: web.Request) -> web.Response:
    """GET /_sim/clock: {"now": "<RFC 3339>"}."""
    return web.json_response({"now": rfc3339(state_of(request).clock.now())})


async def sim_put_clock(request: web.Request) -> web.Response:
    """PUT /_sim/clock {"now": "<RFC 3339>"} or {"advance_seconds": N}; answers {"now": ...}."""
    clock = state_of(request).clock
    body = need_obj(await read_json(request), "body")
    if set(body) == {"now"} and isinstance(body["now"], str):
        try:
            clock.set(parse_rfc3339(body["now"]))
        except ValueError:
            raise SimError(400, "now must be an RFC 3339 timestamp") from None
    elif set(body) == {"advance_seconds"} and isinstance(body["advance_seconds"], int | float) \
            and not isinstance(body["advance_seconds"], bool):
        clock.advance(float(body["advance_seconds"]))
    else:
        raise SimError(400, 'body must be {"now": "<RFC 3339>"} or {"advance_seconds": N}')
    return web.json_response({"now": rfc3339(clock.now())})


def register(app: web.Application) -> None:
    """Add the ``/_sim/`` routes to an app."""
    app.router.add_post("/_sim/faults", sim_add_fault)
    app.router.add_get("/_sim/faults", sim_list_faults)
    app.router.add_delete("/_sim/faults", sim_clear_faults)
    app.router.add_delete("/_sim/faults/{fault_id}", sim_delete_fault)
    app.router.add_get("/_sim/state", sim_state)
    app.router.add_get("/_sim/calls", sim_calls)
    app.router.add_delete("/_sim/calls", sim_reset_calls)
    app.router.add_put("/_sim/rate_limits", sim_rate_limits)
    app.router.add_get("/_sim/config", sim_get_config)
    app.router.add_put("/_sim/config", sim_put_config)
    app.router.add_put("/_sim/orgs/{public_id}", sim_put_org)
    app.router.add_put("/_sim/orgs/{public_id}/permissions", sim_put_org_permissions)
    app.router.add_put("/_sim/keys/permissions", sim_put_key_permissions)
    app.router.add_get("/_sim/clock", sim_get_clock)
    app.router.add_put("/_sim/clock", sim_put_clock)
