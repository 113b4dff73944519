"""The races of issue 18, each pinned by a test that failed before its fix.

Faked where named: the Lease API (an in-memory store with resourceVersion compare-and-swap),
the Datadog API (an httpx MockTransport answering 429 for one key pair), the Kubernetes
status calls of the engine. The work queue, the leader elector, the Datadog client and
its shared limiter, and the engine are the real ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ddmsp.reconcile.queue import WorkQueue

# --------------------------------------------------------------------- the queue


async def test_queue_never_runs_a_key_twice_at_once_while_it_waits_for_a_worker() -> None:
    """A key taken off the due list but still waiting for a worker, added again meanwhile,
    used to go back onto the heap and be dispatched a second time next to the first."""
    gates = {k: asyncio.Event() for k in ("x", "z", "y")}
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    runs: list[str] = []

    async def process(key: tuple[str, str]) -> float | None:
        name = key[1]
        running[name] = running.get(name, 0) + 1
        most[name] = max(most.get(name, 0), running[name])
        runs.append(name)
        await gates[name].wait()
        running[name] -= 1
        return None

    queue = WorkQueue("test", process, asyncio.Semaphore(2))
    task = asyncio.create_task(queue.run())
    try:
        queue.add(("ns", "x"))
        queue.add(("ns", "z"))
        await asyncio.sleep(0.05)  # x and z hold both workers
        queue.add(("ns", "y"))
        await asyncio.sleep(0.05)  # y is taken off the due list, waits for a worker
        queue.add(("ns", "y"))  # a change while it waits
        await asyncio.sleep(0.05)
        gates["x"].set()  # y's first pass starts
        await asyncio.sleep(0.05)
        gates["z"].set()  # a second worker is free while y's first pass runs
        await asyncio.sleep(0.05)
        assert most["y"] == 1, "key y ran twice at once"
        gates["y"].set()
        await asyncio.sleep(0.1)
        assert runs.count("y") == 2  # the change still got its own pass, afterwards
    finally:
        task.cancel()


# ------------------------------------------------------------ leader election


class FakeLeaseAPI:
    """An in-memory Lease store (faked): reads are copies, replace is a compare-and-swap
    on resourceVersion and create refuses an existing name, as the API server does."""

    def __init__(self) -> None:
        self.lease: Any = None
        self.version = 0

    def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        import copy

        from kubernetes import client

        if self.lease is None:
            raise client.ApiException(status=404)
        return copy.deepcopy(self.lease)

    def _store(self, lease: Any) -> None:
        import copy

        self.version += 1
        self.lease = copy.deepcopy(lease)
        self.lease.metadata.resource_version = str(self.version)

    def create_namespaced_lease(self, namespace: str, body: Any) -> None:
        from kubernetes import client

        if self.lease is not None:
            raise client.ApiException(status=409)
        self._store(body)

    def replace_namespaced_lease(self, name: str, namespace: str, body: Any) -> None:
        from kubernetes import client

        if body.metadata.resource_version != self.lease.metadata.resource_version:
            raise client.ApiException(status=409)
        self._store(body)


def _elector(api: FakeLeaseAPI, identity: str, now: list[float], mono_offset: float,
             wall_skew: float) -> Any:
    from datetime import UTC, datetime, timedelta

    from kubernetes import client

    from ddmsp.reconcile.leader import LeaderElector

    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    elector = LeaderElector(
        client.ApiClient(), "ddmsp-system", "ddmsp-leader", identity=identity,
        lease_duration=15, renew_deadline=10, retry_period=2,
        clock=lambda: now[0] + mono_offset,
        wall_clock=lambda: epoch + timedelta(seconds=now[0] + wall_skew))
    elector.api = api
    return elector


async def test_two_electors_with_skewed_clocks_never_both_lead() -> None:
    """B's wall clock runs 90 s ahead of A's: compared with A's renewTime, A's live Lease
    looked expired to B at once (two leaders for up to the renew deadline). Expiry measured
    from when B saw the record change cannot be fooled by skew; B still takes over once A
    stops renewing, after A has stopped acting."""
    api = FakeLeaseAPI()
    now = [0.0]
    a = _elector(api, "a", now, mono_offset=5_000.0, wall_skew=-30.0)
    b = _elector(api, "b", now, mono_offset=17.0, wall_skew=60.0)
    assert (await a._attempt())[0]
    both: list[float] = []
    b_led_at = None
    while now[0] < 60:
        now[0] += 0.5
        if now[0] < 20 and now[0] % 2 == 0:  # A renews until it dies at t=20
            await a._attempt()
        if now[0] % 2 == 1:
            ours, _ = await b._attempt()
            if ours and b_led_at is None:
                b_led_at = now[0]
        if a.valid() and b.valid():
            both.append(now[0])
    assert not both, f"both led at t={both[:3]}"
    assert b_led_at is not None and b_led_at >= 30  # A's deadline (t=18+10) had passed
    assert api.lease.spec.holder_identity == "b"


# ------------------------------------------------------- rate limits off the worker


class TwoObjectKube:
    """Kubernetes faked for the engine: objects by name, status merge patches applied as
    the API server does (lists replaced), resourceVersion bumped per write and honoured
    as a precondition (409)."""

    def __init__(self, names: list[str]) -> None:
        self.bodies = {n: {"apiVersion": "ddmsp.io/v1alpha1", "kind": "DatadogRole",
                           "metadata": {"name": n, "namespace": "ns", "uid": f"u-{n}",
                                        "generation": 1, "resourceVersion": "1"},
                           "spec": {"orgRef": {"name": "org"}}}
                       for n in names}
        self.writes = 0

    async def get(self, info: Any, ns: str, name: str) -> dict[str, Any]:
        import copy

        return copy.deepcopy(self.bodies[name])

    get_fresh = get

    async def patch_status(self, info: Any, ns: str, name: str, patch: dict[str, Any],
                           resource_version: str | None = None) -> dict[str, Any]:
        import copy

        from kubernetes import client

        from ddmsp.reconcile.statuswrite import apply_merge_patch

        body = self.bodies[name]
        self.writes += 1
        if resource_version and resource_version != body["metadata"]["resourceVersion"]:
            raise client.ApiException(status=409)
        body["status"] = apply_merge_patch(body.get("status") or {}, patch)
        body["metadata"]["resourceVersion"] = str(int(body["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(body)

    async def post_event(self, *args: Any) -> None:
        return None


async def test_a_rate_limited_org_does_not_hold_a_worker_from_another_org() -> None:
    """Org A's keys are rate limited for 30 s, org B's are not, one worker between them.
    A's pass used to sleep out the reset inside the worker (waits up to 60 s were done
    in the call), so B waited 30 s; now A's pass ends Waiting/RateLimited, requeued at
    the reset, and B runs at once."""
    import httpx

    from ddmsp.controllers.datadog_access import translate_datadog_error
    from ddmsp.datadog import Credentials, DatadogClient, RateLimitRegistry
    from ddmsp.reconcile.conditions import get_condition
    from ddmsp.reconcile.engine import Reconciler
    from ddmsp.reconcile.external import Observation
    from ddmsp.resources import ROLE

    observed: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["DD-API-KEY"] == "a" * 32:
            return httpx.Response(429, json={"errors": ["Too many requests"]}, headers={
                "X-RateLimit-Limit": "10", "X-RateLimit-Period": "60",
                "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30",
                "X-RateLimit-Name": "validate"})
        return httpx.Response(200, json={"valid": True})

    registry = RateLimitRegistry()
    transport = httpx.MockTransport(answer)
    clients = {n: DatadogClient(Credentials.of(n * 32, n * 40, f"Secret ns/{n}"),
                                base_url="http://dd.test", transport=transport,
                                rate_limits=registry) for n in ("a", "b")}

    class External:
        def __init__(self, name: str) -> None:
            self.name = name

        async def observe(self) -> Observation:
            await clients[self.name].validate()
            observed.append(self.name)
            return Observation(exists=True, message="fine")

    class Connector:
        applied_keys: tuple[str, ...] = ()
        identity_keys: tuple[str, ...] = ()
        async def connect(self, ctx: Any) -> External:
            return External(ctx.obj.name)

        def translate_error(self, exc: BaseException) -> Any:
            return translate_datadog_error(exc)

    kube = TwoObjectKube(["a", "b"])
    rec = Reconciler(ROLE, Connector(), kube)  # type: ignore[arg-type]
    queue = WorkQueue("roles", rec.process, asyncio.Semaphore(1))
    task = asyncio.create_task(queue.run())
    try:
        queue.add(("ns", "a"))
        await asyncio.sleep(0.01)
        queue.add(("ns", "b"))
        for _ in range(300):
            if "b" in observed:
                break
            await asyncio.sleep(0.01)
        assert observed == ["b"], "org B's pass waited for org A's rate limit"
        ready = get_condition(kube.bodies["a"]["status"]["conditions"], "Ready") or {}
        assert ready["reason"] == "RateLimited"
        assert "validate" in ready["message"] and "30s" in ready["message"]
        assert "Secret ns/a" in ready["message"]
        due = queue.scheduled(("ns", "a"))
        assert due is not None and 29 <= due <= 33.5  # at the reset, not before
        stalled = get_condition(kube.bodies["a"]["status"]["conditions"], "Stalled") or {}
        assert stalled["status"] == "False"
    finally:
        task.cancel()
        for dd in clients.values():
            await dd.aclose()


# ------------------------------------------------------------ status writers


async def test_a_condition_another_writer_adds_during_a_pass_survives_the_pass() -> None:
    """The cost refresher writes BudgetWarning while an engine pass is observing; the pass's
    merge patch, computed from its first read and sent without a precondition, used to
    replace the whole conditions list and drop it. Now: a 409, a fresh read, the engine's
    own changes applied on top (conditions by type), one more write."""
    from ddmsp.reconcile.conditions import get_condition, set_condition
    from ddmsp.reconcile.engine import Reconciler
    from ddmsp.reconcile.external import Observation
    from ddmsp.resources import ROLE

    kube = TwoObjectKube(["r"])

    class External:
        async def observe(self) -> Observation:
            body = kube.bodies["r"]  # another writer, between our read and our write
            status = body.setdefault("status", {})
            set_condition(status.setdefault("conditions", []), "BudgetWarning", True,
                          "ThresholdReached", "80% of the budget")
            status["budget"] = {"month": "2026-12"}
            body["metadata"]["resourceVersion"] = "7"
            return Observation(exists=True, message="fine")

    class Connector:
        applied_keys: tuple[str, ...] = ()
        identity_keys: tuple[str, ...] = ()
        async def connect(self, ctx: Any) -> External:
            return External()

        def translate_error(self, exc: BaseException) -> None:
            return None

    rec = Reconciler(ROLE, Connector(), kube)  # type: ignore[arg-type]
    await rec.reconcile("ns", "r")
    status = kube.bodies["r"]["status"]
    assert (get_condition(status["conditions"], "Ready") or {}).get("status") == "True"
    warning = get_condition(status["conditions"], "BudgetWarning") or {}
    assert warning.get("reason") == "ThresholdReached", status["conditions"]
    assert status["budget"] == {"month": "2026-12"} and status["observedGeneration"] == 1
    assert kube.writes == 2  # the conflicting write and the rebased one


def test_rebase_applies_only_this_writers_changes_by_condition_type() -> None:
    from ddmsp.reconcile.statuswrite import rebase

    base = {"phase": "Creating", "roleId": "r1",
            "conditions": [{"type": "Ready", "status": "False"},
                           {"type": "Old", "status": "True"}]}
    mine = {"phase": "Ready", "conditions": [{"type": "Ready", "status": "True"},
                                             {"type": "Synced", "status": "True"}]}
    server = {"phase": "Creating", "roleId": "r1", "cost": {"total": 3},
              "conditions": [{"type": "BudgetWarning", "status": "True"},
                             {"type": "Ready", "status": "False"},
                             {"type": "Old", "status": "True"}]}
    assert rebase(server, base, mine) == {
        "phase": "Ready", "cost": {"total": 3},  # roleId removed by us, cost kept
        "conditions": [{"type": "BudgetWarning", "status": "True"},
                       {"type": "Ready", "status": "True"},
                       {"type": "Synced", "status": "True"}]}  # Old removed by us


# ------------------------------------------------------------------ lost answers


def test_a_lost_answer_the_next_observe_settles_is_waiting_an_org_create_stays_stalled() -> None:
    """A lost answer to a SAML mapping create or to the spin-off call used to stall the
    object (Blocked/OutcomeUnknown) although the next observe finds or repeats the step;
    an org create's lost answer must stay a stall (never a second org)."""
    from ddmsp.controllers.datadog_access import translate_datadog_error
    from ddmsp.datadog.errors import OutcomeUnknownError
    from ddmsp.reconcile.outcomes import Blocked, Waiting

    def lost(route: str) -> Any:
        exc = OutcomeUnknownError("response lost after the request was sent (ReadTimeout)",
                                  method="POST", path="/x")
        exc.route = route
        return translate_datadog_error(exc)

    for route in ("POST /api/v2/authn_mappings", "POST /api/v1/org/{public_id}/downgrade"):
        outcome = lost(route)
        assert isinstance(outcome, Waiting) and outcome.reason == "AnswerLost", route
        assert outcome.delay and "next pass" in outcome.message
    for route in ("POST /api/v1/org", "POST /api/v2/user_invitations"):
        assert isinstance(lost(route), Blocked), route


# --------------------------------------------------------- supervised dispatchers


async def test_a_crashed_dispatcher_is_logged_restarted_and_fails_readiness_meanwhile(
    monkeypatch: Any, caplog: Any
) -> None:
    """A kind's dispatcher used to be a bare task: one crash and that kind stopped
    reconciling, silently. Now the crash is logged, /readyz names the kind until the
    dispatcher is back, and the key that was being dispatched is not lost. The crash is
    injected (faked) into the real queue; the readiness API checks are faked to pass."""
    import logging

    from kubernetes import client

    from ddmsp.readiness import Readiness
    from ddmsp.reconcile.handlers import Runtime

    processed: list[tuple[str, str]] = []

    class Stub:  # a reconciler as the Runtime sees it (its prefill LIST fails: logged)
        runtime: Any = None
        kube: Any = None
        info: Any = None

        async def process(self, key: tuple[str, str]) -> float | None:
            processed.append(key)
            return None

    real_next_due = WorkQueue._next_due
    crashes = [1]
    crashed = asyncio.Event()

    async def next_due_crashing_once(self: WorkQueue) -> tuple[str, str]:
        key = await real_next_due(self)
        if crashes:
            crashes.pop()
            self.add(key)  # (a crash after taking a key: the next test)
            crashed.set()
            raise RuntimeError("injected dispatcher crash")
        return key

    monkeypatch.setattr(WorkQueue, "_next_due", next_due_crashing_once)
    runtime = Runtime(worker_limit=2, restart_backoff=0.3)
    runtime.reconcilers["datadogroles"] = Stub()  # type: ignore[assignment]
    readiness = Readiness(client.ApiClient(), [], checks=[runtime.problems])
    monkeypatch.setattr(readiness, "_check", lambda: [])
    readiness.started.set()
    await runtime.start()
    try:
        assert (await readiness.handle(None)).status == 200  # type: ignore[arg-type]
        with caplog.at_level(logging.ERROR):
            runtime.queues["datadogroles"].add(("ns", "r1"))
            await asyncio.wait_for(crashed.wait(), 5)
            await asyncio.sleep(0.05)
        assert "dispatcher crashed" in caplog.text
        answer = await readiness.handle(None)  # type: ignore[arg-type]
        assert answer.status == 503 and "datadogroles" in (answer.text or "")
        assert not processed
        for _ in range(100):
            if processed:
                break
            await asyncio.sleep(0.05)
        assert processed == [("ns", "r1")]  # the restarted dispatcher reconciles again
        assert (await readiness.handle(None)).status == 200  # type: ignore[arg-type]
    finally:
        await runtime.stop(1)


async def test_a_key_taken_by_a_dispatcher_that_crashes_is_not_lost(monkeypatch: Any) -> None:
    """The crash hits between taking a key and starting its pass (faked: the worker
    semaphore's acquire raises once): the key goes back to the queue, no worker leaks."""
    processed: list[tuple[str, str]] = []

    async def process(key: tuple[str, str]) -> float | None:
        processed.append(key)
        return None

    workers = asyncio.Semaphore(1)
    real_acquire = workers.acquire
    crashes = [1]

    async def acquire_crashing_once() -> bool:
        if crashes:
            crashes.pop()
            raise RuntimeError("injected crash")
        return await real_acquire()

    monkeypatch.setattr(workers, "acquire", acquire_crashing_once)
    queue = WorkQueue("test", process, workers)
    queue.add(("ns", "a"))
    first = asyncio.create_task(queue.run())
    await asyncio.sleep(0.05)
    assert first.done() and isinstance(first.exception(), RuntimeError)
    assert queue.scheduled(("ns", "a")) is not None  # back in the queue
    second = asyncio.create_task(queue.run())  # what the supervisor does
    await asyncio.sleep(0.05)
    second.cancel()
    assert processed == [("ns", "a")] and not workers.locked()


async def test_only_a_loop_that_holds_no_worker_waits_out_a_long_reset() -> None:
    """A reconcile pass gives up on a 5 s reset at once (RateLimitedError, limit and reset
    named); the cost refresher's task, which holds no worker, still waits it out. The
    Datadog API is faked (MockTransport), the sleep recorded instead of slept."""
    import httpx
    import pytest

    from ddmsp.datadog import Credentials, DatadogClient, RateLimitedError, RateLimitRegistry
    from ddmsp.datadog.retry import RATE_LIMIT_PATIENCE

    calls = [0]

    def answer(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        if calls[0] in (1, 2):
            return httpx.Response(429, headers={"X-RateLimit-Reset": "5",
                                                "X-RateLimit-Name": "usage"})
        return httpx.Response(200, json={"valid": True})

    slept: list[float] = []
    registry = RateLimitRegistry()

    async def sleep(seconds: float) -> None:  # the reset passes at once
        slept.append(round(seconds))
        for limiter in registry._limiters.values():
            limiter.blocked_until, limiter.remaining = 0.0, None

    dd = DatadogClient(Credentials.of("c" * 32, "c" * 40), base_url="http://dd.test",
                       transport=httpx.MockTransport(answer), rate_limits=registry,
                       sleep=sleep)
    try:
        with pytest.raises(RateLimitedError) as info:
            await dd.validate()
        assert info.value.limit_name == "usage" and info.value.reset_seconds == 5
        assert slept == []

        async def refresher() -> bool:
            RATE_LIMIT_PATIENCE.set(60.0)
            await sleep(0)  # the first reset has passed
            slept.clear()
            return await dd.validate()

        assert await asyncio.create_task(refresher())
        assert slept == [5]
    finally:
        await dd.aclose()


async def test_the_partners_cost_merge_keeps_what_the_checker_wrote_meanwhile() -> None:
    """DatadogPartner has two writers: the key checker (Ready, org_management) and the cost
    merge (CostReadable, cost permissions). The merge used to send its conditions list from
    its own read without a precondition: a checker verdict written in between vanished.
    The API server is faked (merge patch with lists replaced, resourceVersion enforced)."""
    import copy

    from kubernetes import client

    from ddmsp.controllers.costs import PartnerView
    from ddmsp.controllers.partner import merge_cost_status
    from ddmsp.reconcile.conditions import get_condition, set_condition
    from ddmsp.reconcile.statuswrite import apply_merge_patch

    body: dict[str, Any] = {
        "metadata": {"name": "p", "resourceVersion": "1", "generation": 1},
        "status": {"missingPermissions": [],
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KeysValid"}]}}
    raced = [False]

    def checker_writes() -> None:  # the checker's verdict, between the merge's read and write
        raced[0] = True
        status = body["status"]
        set_condition(status["conditions"], "Ready", False, "MissingPermission", "no org_mgmt")
        status["missingPermissions"] = ["org_management"]
        body["metadata"]["resourceVersion"] = "2"

    def patch(patch_body: dict[str, Any]) -> dict[str, Any]:
        if not raced[0]:
            checker_writes()
        version = (patch_body.get("metadata") or {}).get("resourceVersion")
        if version and version != body["metadata"]["resourceVersion"]:
            raise client.ApiException(status=409)
        body["status"] = apply_merge_patch(body["status"], patch_body["status"])
        body["metadata"]["resourceVersion"] = str(int(body["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(body)

    class Custom:  # what get_partner and an unconditional status patch call
        def get_cluster_custom_object(self, *args: Any) -> dict[str, Any]:
            return copy.deepcopy(body)

        def patch_cluster_custom_object_status(self, *args: Any) -> dict[str, Any]:
            return patch(args[-1])

    class Kube:  # the KubeAPI calls of reconcile/statuswrite.py
        custom = Custom()

        async def get_fresh(self, *args: Any) -> dict[str, Any]:
            return copy.deepcopy(body)

        async def patch_status(self, info: Any, ns: str, name: str, status: dict[str, Any],
                               *, resource_version: str | None = None) -> dict[str, Any]:
            meta = {"resourceVersion": resource_version} if resource_version else {}
            return patch({"metadata": meta, "status": status})

    view = PartnerView(month="2026-12", missing_permissions={"usage_read"})
    await merge_cost_status(Kube(), "p", view, view.totals(), 3)  # type: ignore[arg-type]
    status = body["status"]
    assert (get_condition(status["conditions"], "Ready") or {}).get("reason") \
        == "MissingPermission", status["conditions"]
    assert (get_condition(status["conditions"], "CostReadable") or {}).get("reason") \
        == "MissingPermission"
    assert status["missingPermissions"] == ["org_management", "usage_read"]
    assert status["clients"] == 3
