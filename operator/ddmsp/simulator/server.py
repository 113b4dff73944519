"""Running the simulator: in a background thread for tests, or in the foreground for the CLI.

Why: tests (sync or async) need a real HTTP server on a free port without blocking their own
event loop, so the aiohttp app gets its own loop in a daemon thread. This module's names are a
stable API that other code and tests build on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from aiohttp import web

from ddmsp.simulator.app import build_app
from ddmsp.simulator.config import org_listing_from_env
from ddmsp.simulator.state import SimState, new_api_key, new_app_key


class _RedactingFilter(logging.Filter):
    """aiohttp logs a malformed request with its raw header lines, which may hold a key: keep
    only the summary line and drop the exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            exc = record.exc_info[1]
            summary = record.getMessage()
            record.msg = "%s (%s)"
            record.args = (summary, type(exc).__name__)
            record.exc_info = None
            record.exc_text = None
        return True


HTTP_LOG = logging.getLogger("ddmsp.simulator.http")
HTTP_LOG.addFilter(_RedactingFilter())


class RunningSimulator:
    """A simulator serving in a background thread; stop() shuts it down."""

    def __init__(
        self,
        base_url: str,
        partner_api_key: str,
        partner_app_key: str,
        partner_public_id: str,
        state: SimState,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread,
        runner: web.AppRunner,
    ) -> None:
        self.base_url = base_url
        self.partner_api_key = partner_api_key
        self.partner_app_key = partner_app_key
        self.partner_public_id = partner_public_id
        self.state = state
        self._loop = loop
        self._thread = thread
        self._runner = runner
        self._stopped = False

    def __repr__(self) -> str:
        return f"RunningSimulator(base_url={self.base_url!r}, partner={self.partner_public_id!r})"

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        with contextlib.suppress(Exception):
            fut.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # ---------------------------------------------------------------- conveniences for tests
    def add_fault(self, spec: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Add a fault (see ddmsp.simulator.faults for the schema); returns its id."""
        return self.state.add_fault(spec, **kwargs)

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.state.clear_faults()

    def calls(self) -> dict[str, dict[int, int]]:
        """Counts per ``"METHOD /route/template"`` and status (0 = response dropped)."""
        return self.state.calls()

    def call_count(self, route: str, status: int | None = None) -> int:
        """How many times a route was called (optionally with one status)."""
        by_status = self.state.calls().get(route, {})
        return by_status.get(status, 0) if status is not None else sum(by_status.values())

    def request_count(self, request: str) -> int:
        """How many times one concrete request (``"GET /api/v2/roles/<id>"``) was answered:
        the passes over one object, where a route template counts every object's."""
        return self.state.request_count(request)

    def snapshot(self) -> dict[str, Any]:
        """The GET /_sim/state view."""
        return self.state.snapshot()

    def set_rate_limit(self, name: str, limit: int, period: int = 60) -> None:
        """Change one rate-limit bucket."""
        self.state.set_rate_limit(name, limit, period)

    def set_config(self, **fields: Any) -> dict[str, Any]:
        """``PUT /_sim/config``: e.g. ``set_config(org_listing="own")``; returns the config."""
        with self.state.lock:
            self.state.config.update(fields)
            return self.state.config.as_dict()

    def set_org(self, public_id: str, **fields: Any) -> None:
        """``PUT /_sim/orgs/{public_id}``: e.g. ``set_org(pid, saml_can_be_enabled=False)``."""
        self.state.set_org_fields(public_id, fields)

    def set_org_permissions(self, public_id: str, permissions: list[str] | None) -> None:
        """Every key pair of the org gets exactly these permissions (None = all)."""
        self.state.set_org_permissions(
            public_id, None if permissions is None else frozenset(permissions)
        )

    def set_key_permissions(self, app_key: str, permissions: list[str] | None) -> None:
        """One application key's permissions (None = all)."""
        self.state.set_key_permissions(
            app_key, None if permissions is None else frozenset(permissions)
        )

    def set_clock(self, now: datetime) -> datetime:
        """Move the simulator's clock to ``now`` (naive = UTC); it keeps running from there."""
        return self.state.clock.set(now)

    def advance_clock(self, seconds: float) -> datetime:
        """Move the simulator's clock forward by ``seconds``."""
        return self.state.clock.advance(seconds)

    def now(self) -> datetime:
        """The simulator's current time."""
        return self.state.clock.now()

    def headers(self, api_key: str | None = None, app_key: str | None = None) -> dict[str, str]:
        """Auth headers for the partner (or the given) keys."""
        return {
            "DD-API-KEY": api_key or self.partner_api_key,
            "DD-APPLICATION-KEY": app_key or self.partner_app_key,
        }

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _resolve_keys(api_key: str | None, app_key: str | None) -> tuple[str, str]:
    api = api_key or os.environ.get("DDMSP_SIM_API_KEY") or new_api_key()
    app = app_key or os.environ.get("DDMSP_SIM_APP_KEY") or new_app_key()
    return api, app


def _new_state(state_file: str | None, latency_ms: int, org_listing: str | None) -> SimState:
    """A fresh state; ``org_listing`` (or ``DDMSP_SIM_ORG_LISTING``) sets that switch, so a
    whole test suite can run under either listing behaviour."""
    state = SimState(state_file=state_file)
    state.latency_ms = latency_ms
    listing = org_listing or org_listing_from_env()
    if listing is not None:
        state.config.update({"org_listing": listing})
    return state


def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    app_key: str | None = None,
    latency_ms: int = 0,
    state_file: str | None = None,
    org_listing: str | None = None,
) -> RunningSimulator:
    """Start a simulator in a background thread with its own loop; port 0 picks a free port.

    ``org_listing`` (``"own"`` | ``"children"``) overrides ``DDMSP_SIM_ORG_LISTING``, which
    overrides ``ddmsp.simulator.config.DEFAULT_ORG_LISTING``."""
    api, app = _resolve_keys(api_key, app_key)
    state = _new_state(state_file, latency_ms, org_listing)
    partner = state.bootstrap(api, app)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False, logger=HTTP_LOG)
    ready: dict[str, Any] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, host, port)
            loop.run_until_complete(site.start())
            server = site._server
            assert server is not None
            sockets = getattr(server, "sockets", None) or []
            ready["port"] = sockets[0].getsockname()[1]
        except BaseException as exc:
            ready["error"] = exc
            started.set()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="ddmsp-simulator", daemon=True)
    thread.start()
    started.wait(timeout=30)
    if "error" in ready:
        raise RuntimeError(f"simulator failed to start: {ready['error']!r}")
    if "port" not in ready:
        raise RuntimeError("simulator did not start in time")
    shown_host = f"[{host}]" if ":" in host else host
    return RunningSimulator(
        base_url=f"http://{shown_host}:{ready['port']}",
        partner_api_key=api,
        partner_app_key=app,
        partner_public_id=partner.public_id,
        state=state,
        loop=loop,
        thread=thread,
        runner=runner,
    )


@contextlib.contextmanager
def running_simulator(**kwargs: Any) -> Iterator[RunningSimulator]:
    """``with running_simulator() as sim:`` starts a simulator and always stops it."""
    sim = start_simulator(**kwargs)
    try:
        yield sim
    finally:
        sim.stop()


async def serve_forever(
    host: str,
    port: int,
    api_key: str | None,
    app_key: str | None,
    latency_ms: int,
    state_file: str | None,
) -> None:
    """Serve in the current loop until cancelled (the CLI); prints generated keys once."""
    generated = not (api_key or os.environ.get("DDMSP_SIM_API_KEY")) or not (
        app_key or os.environ.get("DDMSP_SIM_APP_KEY")
    )
    api, app = _resolve_keys(api_key, app_key)
    state = _new_state(state_file, latency_ms, None)
    partner = state.bootstrap(api, app)
    runner = web.AppRunner(build_app(state), access_log=None, logger=HTTP_LOG)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    print(f"ddmsp simulator listening on http://{host}:{bound}", flush=True)
    print(f"partner public id: {partner.public_id}", flush=True)
    if generated:
        # Printed once, on stdout, so a human can copy them; never logged.
        print(f"partner api key: {api}", flush=True)
        print(f"partner app key: {app}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
