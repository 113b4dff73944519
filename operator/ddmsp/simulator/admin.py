"""The simulator's own control surface under ``/_sim/`` (not part of Datadog's API).

Why: tests and demos steer the simulator over HTTP (faults, rate limits, inspection) the same way
they would steer it in another process; the Python helpers on ``RunningSimulator`` mirror these.
"""

from __future__ import annotations

from aiohttp import web

from ddmsp.simulator.faults import FaultSpecError
from ddmsp.simulator.http import need_obj, read_json, state_of
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
