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
