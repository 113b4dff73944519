"""Two operators whose clocks disagree never both lead, on the real Lease API (issue 18).

Each elector gets its own clocks (injected): B's wall clock is 90 s ahead of A's, and
their monotonic clocks have unrelated origins, as on two machines. Time is stepped by the
test so the scenario (A leads, renews, dies; B takes over) takes seconds; every Lease
read and compare-and-swap write goes to the real kube-apiserver.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client

from ddmsp.reconcile.leader import LeaderElector
from tests.support.kube import Cluster

pytestmark = pytest.mark.kube


def _elector(cluster: Cluster, namespace: str, identity: str, now: list[float],
             mono_offset: float, wall_skew: float) -> LeaderElector:
    epoch = datetime.now(UTC)
    return LeaderElector(
        cluster.api_client(), namespace, "ddmsp-leader", identity=identity,
        lease_duration=15, renew_deadline=10, retry_period=2,
        clock=lambda: now[0] + mono_offset,
        wall_clock=lambda: epoch + timedelta(seconds=now[0] + wall_skew))


async def test_two_operators_with_skewed_clocks_never_both_lead(
    cluster: Cluster, api: client.ApiClient, namespace: str
) -> None:
    now = [0.0]
    a = _elector(cluster, namespace, "operator-a", now, mono_offset=9_000.0, wall_skew=-30.0)
    b = _elector(cluster, namespace, "operator-b", now, mono_offset=3.0, wall_skew=60.0)
    assert (await a._attempt())[0]
    both: list[float] = []
    b_led_at = None
    while now[0] < 45:
        now[0] += 0.5
        if now[0] < 20 and now[0] % 2 == 0:  # A renews until it dies at t=20
            assert (await a._attempt())[0]
        if now[0] % 2 == 1:
            ours, _ = await b._attempt()
            if ours and b_led_at is None:
                b_led_at = now[0]
        if a.valid() and b.valid():
            both.append(now[0])
    assert not both, f"both led at t={both[:3]}"
    assert b_led_at is not None and b_led_at >= 28  # only once A's renew deadline passed
    lease = client.CoordinationV1Api(api).read_namespaced_lease("ddmsp-leader", namespace)
    assert lease.spec.holder_identity == "operator-b"
    assert lease.spec.lease_transitions == 1
