"""`/readyz`: the operator is ready once kopf has started its watches, every ddmsp kind
is served by the API server and readable with the operator's own credentials, and every
kind is being reconciled (its work-queue dispatcher runs: reconcile/handlers.py restarts a
crashed one, and the kind is named here until it is back).

kopf's own `/healthz` says the process is alive; it stays green when the CRDs are missing
or RBAC forbids the watches (kopf then only logs). Readiness checks exactly those: each
kind's list call (``limit=1``, in each watched namespace or cluster-wide) must succeed.
A 404 means the CRD is not installed or not served yet; a 403 means RBAC is missing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import web
from kubernetes import client

from ddmsp.resources import ALL_KINDS

log = logging.getLogger(__name__)
CACHE_SECONDS = 5.0


class Readiness:
    """The answer to `/readyz`, recomputed at most every ``CACHE_SECONDS``."""

    def __init__(self, api: client.ApiClient, namespaces: list[str],
                 clock: Callable[[], float] = time.monotonic,
                 checks: list[Callable[[], list[str]]] | None = None) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespaces = namespaces
        self.checks = list(checks or [])  # cheap, in-process: asked on every probe
        self.started = asyncio.Event()  # kopf's ready_flag: startup done, watchers spawned
        self.clock = clock
        self._checked_at = -CACHE_SECONDS
        self._problems: list[str] = ["not checked yet"]

    def _check(self) -> list[str]:
        problems: list[str] = []
        for info in ALL_KINDS:
            cluster_scoped = getattr(info, "scope", "Namespaced") == "Cluster"
            for ns in ([*self.namespaces] if self.namespaces and not cluster_scoped
                       else [None]):
                try:
                    if ns is None:
                        self.custom.list_cluster_custom_object(
                            info.group, info.version, info.plural, limit=1)
                    else:
                        self.custom.list_namespaced_custom_object(
                            info.group, info.version, ns, info.plural, limit=1)
                except client.ApiException as exc:
                    where = f"in namespace {ns}" if ns else "cluster-wide"
                    why = {404: "CRD not installed or not served yet",
                           403: "forbidden by RBAC"}.get(exc.status, f"HTTP {exc.status}")
                    problems.append(f"cannot list {info.plural} {where}: {why}")
        return problems

    async def problems(self) -> list[str]:
        if not self.started.is_set():
            return ["kopf has not started its watches yet"]
        if self.clock() - self._checked_at >= CACHE_SECONDS:
            try:
                self._problems = await asyncio.to_thread(self._check)
            except Exception as exc:
                self._problems = [f"API server unreachable: {type(exc).__name__}"]
            self._checked_at = self.clock()
        return [*self._problems, *(p for check in self.checks for p in check())]

    async def handle(self, _: web.Request) -> web.Response:
        problems = await self.problems()
        if problems:
            return web.Response(status=503, text="not ready: " + "; ".join(problems) + "\n")
        return web.Response(text="ok\n")


async def serve(readiness: Readiness, port: int) -> web.AppRunner:
    """Serve `GET /readyz` on ``port`` (all interfaces: the kubelet probes the Pod IP)."""
    app = web.Application()
    app.router.add_get("/readyz", readiness.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    log.info("readiness endpoint on :%d/readyz", port)
    return runner
