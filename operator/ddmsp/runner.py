"""`ddmsp run`: the operator process (kopf underneath, with ddmsp's settings)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from typing import Any, cast

import kopf
from kubernetes import client, config

from ddmsp import API_GROUP, logsetup
from ddmsp.config import OperatorSettings
from ddmsp.controllers import build_controllers
from ddmsp.controllers.costrefresh import CostRefresher, register_cost_refresher
from ddmsp.controllers.datadog_access import DatadogClients
from ddmsp.controllers.metadata_sources import register_metadata_watch
from ddmsp.peering_identity import peering_identity
from ddmsp.reconcile.createguard import set_leadership
from ddmsp.reconcile.handlers import EngineDiffBase, Runtime, register_kind
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.leader import LeaderElector
from ddmsp.resources import PARTNER

log = logging.getLogger(__name__)

# kopf's own bookkeeping lives under kopf.ddmsp.io/, so that user-facing annotations
# under ddmsp.io/ (paused, create-pending) stay in kopf's diff and trigger handlers.
KOPF_PREFIX = f"kopf.{API_GROUP}"
# ddmsp.io/finalizer is the engine's (reconcile/deletion.py). kopf's own (its timers) must
# have another name: kopf drops its finalizer from any object it sees being deleted once its
# own handlers are done, which would cut the engine's deletion short. DatadogPartners, on
# the engine without a finalizer now, lose the one kopf put on them at their next event
# (kopf drops its finalizer where no handler of its needs it).
FINALIZER = f"{KOPF_PREFIX}/finalizer"
LEGACY_FINALIZER = f"{API_GROUP}/finalizer"  # kopf's, on DatadogPartners made before


def kube_api_client(settings: OperatorSettings) -> client.ApiClient:
    if settings.kubeconfig or os.environ.get("KUBECONFIG") or not os.environ.get(
        "KUBERNETES_SERVICE_HOST"
    ):
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=settings.kubeconfig
        )
        return cast(client.ApiClient, api)
    config.load_incluster_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


def build_registry(
    settings: OperatorSettings,
) -> tuple[kopf.OperatorRegistry, DatadogClients, Runtime]:
    registry = kopf.OperatorRegistry()
    kube = KubeAPI(kube_api_client(settings), settings.kube_threads,
                   cluster_events_namespace=settings.lease_namespace)
    clients = DatadogClients(settings)
    refresher = CostRefresher(settings, kube, clients)  # cost/usage for every client
    runtime = Runtime(worker_limit=settings.worker_limit, restart_spread=settings.restart_spread,
                      namespaces=list(settings.namespaces or []))
    for controller in build_controllers(settings, kube, clients, refresher):
        rec = controller.reconciler
        rec.drift_interval = controller.drift_interval or settings.drift_interval
        rec.backoff_cap = settings.backoff_cap
        register_kind(registry, runtime, rec.info, rec,
                      needs_finalizer=controller.needs_finalizer,
                      depends_on_org=controller.depends_on_org,
                      wakes_peers=controller.wakes_peers)
    # DatadogSAMLConfig: wake a config when the ConfigMap/Secret it reads changes (labelled
    # sources watched, others polled by name: never a cluster-wide Secret watch).
    register_metadata_watch(registry, kube, runtime, settings.metadata_poll)
    register_cost_refresher(registry, refresher)

    @kopf.on.event(PARTNER.group, PARTNER.version, PARTNER.plural, registry=registry,
                   id="legacy-finalizer")
    async def drop_legacy_finalizer(body: Any, **_: Any) -> None:
        """kopf put ddmsp.io/finalizer on partners before it took its own name: a partner
        being deleted lets it go once kopf's own finalizer is gone (its handlers done)."""
        meta = body.get("metadata") or {}
        held = list(meta.get("finalizers") or [])
        if not meta.get("deletionTimestamp") or LEGACY_FINALIZER not in held \
                or FINALIZER in held:
            return
        rest = [f for f in held if f != LEGACY_FINALIZER]
        with contextlib.suppress(client.ApiException):
            await asyncio.to_thread(
                kube.custom.patch_cluster_custom_object, PARTNER.group, PARTNER.version,
                PARTNER.plural, meta["name"],
                {"metadata": {"finalizers": rest or None,
                              "resourceVersion": meta.get("resourceVersion")}})

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
            prefix=KOPF_PREFIX)
        settings.persistence.diffbase_storage = EngineDiffBase(
            runtime.engine_kinds, prefix=KOPF_PREFIX, key="last-handled-configuration")
        settings.posting.enabled = False  # ddmsp posts its own events, once per change
        # No kopf worker limit: kopf's handlers only enqueue (the engine's queues bound the
        # work), and a kopf worker waits, holding its slot, until every indexed object was
        # listed: more objects of a kind than slots at startup deadlocked (bench/README.md).
        settings.queueing.worker_limit = None
        # kopf's initial listing in pages: thousands of objects parsed at once (SAML
        # configs carry their IdP metadata) were a good part of the restart's memory peak.
        settings.watching.chunk_size = 100
        # A kopf worker keeps its object's last event until it idles out: at a restart, five
        # seconds (kopf's default) held every listed object at once.
        settings.queueing.idle_timeout = 1.0
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.inactivity_timeout = 600  # re-list if a watch goes silent
        settings.execution.max_workers = 8

    @kopf.on.startup(registry=registry)
    async def start_queues(**_: Any) -> None:
        await runtime.start()  # on kopf's own event loop, before kopf's watches start

    shutdown_timeout = settings.shutdown_timeout

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        await runtime.stop(shutdown_timeout)  # creates in flight finish and store keys
        await clients.aclose()

    return registry, clients, runtime


def _report_lingering_tasks(preexisting: set[asyncio.Task[Any]]) -> None:
    """A second after cleanup, name the tasks started since kopf began that still run:
    kopf waits up to 5 s for them before it cancels them, so each delays every shutdown."""
    lingering = sorted(
        f"{t.get_name()} ({getattr(t.get_coro(), '__qualname__', '?')})"
        for t in asyncio.all_tasks() if t not in preexisting and not t.done())
    if lingering:
        logging.getLogger(__name__).info("shutdown: still running after cleanup: %s",
                                         ", ".join(lingering))


async def run_operator(settings: OperatorSettings) -> None:
    if settings.kubeconfig:
        os.environ["KUBECONFIG"] = settings.kubeconfig
    registry, _, runtime = build_registry(settings)
    if settings.metrics_port:
        from ddmsp import metrics_server

        await metrics_server.serve(
            settings.metrics_port,
            kube_api_client(settings) if settings.metrics_secure else None,
            settings.metrics_cert_dir)
    ready_flag: asyncio.Event | None = None
    if settings.readiness_port:  # served first: not ready while waiting for the Lease
        from ddmsp.readiness import Readiness, serve

        readiness = Readiness(kube_api_client(settings), settings.namespaces,
                              checks=[runtime.problems])  # every kind is reconciling
        ready_flag = readiness.started
        await serve(readiness, settings.readiness_port)
    elector: LeaderElector | None = None
    stop = asyncio.Event()
    if settings.leader_election:
        elector = LeaderElector(kube_api_client(settings), settings.lease_namespace,
                                settings.leader_election_id,
                                lease_duration=settings.lease_duration,
                                renew_deadline=settings.lease_duration * 2 / 3,
                                retry_period=max(0.5, settings.lease_duration / 7))
        set_leadership(elector.valid)
        await elector.acquire()
    holder = asyncio.create_task(elector.hold()) if elector else None

    async def stop_when_lost() -> None:
        if elector is not None:
            await elector.lost.wait()
            stop.set()

    watcher = asyncio.create_task(stop_when_lost())

    @kopf.on.cleanup(registry=registry)
    async def end_stop_flag_wait(**_: Any) -> None:
        """kopf waits on ``stop`` in a task of its own and, at a SIGTERM, gives such tasks
        5 s before cancelling them: setting it once kopf is stopping anyway saves those 5 s
        of every shutdown (a rollout, every test)."""
        stop.set()
        asyncio.get_running_loop().call_later(1.0, _report_lingering_tasks, preexisting)

    preexisting = asyncio.all_tasks()  # what kopf ignores at its end, as it does
    try:
        await kopf.operator(
            registry=registry,
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces or [],
            liveness_endpoint=settings.liveness,
            standalone=True,
            identity=peering_identity(),  # never kopf's getpass lookup (issue 20)
            ready_flag=ready_flag,
            stop_flag=stop,
        )
    finally:
        log.info("shutdown: kopf has stopped%s", "; releasing the Lease" if elector else "")
        watcher.cancel()
        if holder is not None:
            holder.cancel()
        if elector is not None:
            await elector.release()
    if elector is not None and elector.lost.is_set():
        raise SystemExit(1)  # as client-go does: a deposed leader exits and restarts


def main(settings: OperatorSettings) -> int:
    """Run until stopped; a missing or broken kubeconfig is a one-line error, not a trace."""
    try:
        kube_api_client(settings)
    except (config.ConfigException, OSError) as exc:
        print(f"ddmsp run: cannot load Kubernetes credentials: {exc}. Set KUBECONFIG or "
              "run in a Pod with a ServiceAccount.", file=sys.stderr)
        return 2
    logsetup.configure(settings.log_format, verbose=settings.verbose)
    code = _run_until_stopped(settings)
    # Exit without joining threads: a thread blocked in a Kubernetes API call (a Lease
    # renew cancelled mid-request, the kube pool, kopf's watch streams) would otherwise
    # hold the exit for as long as a slow API server takes to answer (CI measured 7 s
    # under load; kopf's own hung-task grace is 5 s). Everything that must finish did
    # inside run_operator: creates in flight, their Secret writes, the Lease release.
    log.info("shutdown: done")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run_until_stopped(settings: OperatorSettings) -> int:
    """run_operator on a fresh event loop, returning its exit code; unlike asyncio.run, no
    wait for the default executor's threads at the end (see ``main``)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(run_operator(settings))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0
