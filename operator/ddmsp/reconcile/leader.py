"""Leader election with a coordination.k8s.io Lease, as client-go's leaderelection does.

Why: org creates are not idempotent. Two operator processes against one cluster (a
rolling update gone wrong, a second release, a developer's laptop) must never both act.
kopf's peering is not leader election. The process that holds the Lease runs the
operator; another one waits and says so in its log. The holder renews every
``retry_period``; if it cannot renew within ``renew_deadline`` it stops acting at once
(``valid()`` turns False before anyone else can acquire) and the process exits.

Expiry is never judged by comparing this machine's clock with the ``renewTime`` another
machine wrote: skewed clocks would make a live holder look expired and give two leaders.
As client-go does, a candidate remembers when *it* last saw the record change (its own
monotonic clock) and takes over only after the lease duration has passed since then
without a change. The written times are informational (``kubectl get lease``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

log = logging.getLogger(__name__)

RELEASE_TIMEOUT = 1.0  # seconds per API call when giving the Lease up at shutdown


def default_identity() -> str:
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    """Acquire, renew and release one Lease; ``valid()`` says whether we may act now."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str,
        *,
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _now,
    ) -> None:
        self.api = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._clock = clock  # decisions: this process's monotonic time only
        self._wall = wall_clock  # only for the times written into the Lease
        self._renewed_at = 0.0  # monotonic time of our last successful acquire/renew
        self._observed: tuple[Any, ...] | None = None  # the record as last seen
        self._observed_at = 0.0  # when (our clock) it was seen to change
        self.lost = asyncio.Event()

    def valid(self) -> bool:
        """True while our last renewal is younger than the renew deadline."""
        return self._renewed_at > 0 and self._clock() - self._renewed_at < self.renew_deadline

    def _observe(self, spec: client.V1LeaseSpec | None) -> None:
        """Remember the record; a change restarts its expiry on our own clock."""
        record = None if spec is None else (
            spec.holder_identity, spec.acquire_time, spec.renew_time,
            spec.lease_duration_seconds, spec.lease_transitions)
        if record != self._observed:
            self._observed = record
            self._observed_at = self._clock()

    # --------------------------------------------------------------- one attempt
    def _try_acquire_or_renew(self) -> tuple[bool, str]:
        """One optimistic attempt (runs in a thread); returns (ours, current holder)."""
        now = self._wall()
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
                spec=client.V1LeaseSpec(acquire_time=now, renew_time=now,
                                        holder_identity=self.identity,
                                        lease_duration_seconds=int(self.lease_duration),
                                        lease_transitions=0),
            )
            try:
                self.api.create_namespaced_lease(self.namespace, body)
            except client.ApiException as create_exc:
                if create_exc.status == 409:
                    return False, "another process (just created)"
                raise
            self._observe(body.spec)
            return True, self.identity
        self._observe(lease.spec)
        if lease.spec is None:
            lease.spec = client.V1LeaseSpec()
        spec = lease.spec
        holder = spec.holder_identity or ""
        duration = spec.lease_duration_seconds or int(self.lease_duration)
        # Unchanged for a whole lease duration *as we saw it*: the writer's clock and ours
        # are never compared.
        expired = self._clock() - self._observed_at >= duration
        if holder and holder != self.identity and not expired:
            return False, holder
        transitions = spec.lease_transitions or 0
        spec.holder_identity = self.identity
        spec.lease_duration_seconds = int(self.lease_duration)
        spec.renew_time = now
        if holder != self.identity:
            spec.acquire_time = now
            spec.lease_transitions = transitions + 1
        try:  # replace carries resourceVersion: a compare-and-swap
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except client.ApiException as exc:
            if exc.status == 409:
                return False, holder or "another process"
            raise
        self._observe(spec)
        return True, self.identity

    async def _attempt(self) -> tuple[bool, str]:
        started = self._clock()
        ours, holder = await asyncio.to_thread(self._try_acquire_or_renew)
        if ours:
            self._renewed_at = started
        return ours, holder

    # --------------------------------------------------------------- lifecycle
    async def acquire(self) -> None:
        """Block until this process holds the Lease; log who holds it meanwhile."""
        last_holder = None
        while True:
            try:
                ours, holder = await self._attempt()
            except Exception as exc:  # the API server may be restarting
                ours, holder = False, f"unknown ({type(exc).__name__})"
            if ours:
                log.info("leader election: acquired Lease %s/%s as %s",
                         self.namespace, self.name, self.identity)
                return
            if holder != last_holder:
                log.info("leader election: waiting for Lease %s/%s, held by %s; this process "
                         "does nothing until it is released or expires",
                         self.namespace, self.name, holder)
                last_holder = holder
            await asyncio.sleep(self.retry_period)

    async def hold(self) -> None:
        """Renew until cancelled; on failure past the deadline set ``lost`` and return."""
        while True:
            await asyncio.sleep(self.retry_period)
            try:
                ours, holder = await self._attempt()
            except Exception as exc:
                ours, holder = False, f"unknown ({type(exc).__name__})"
            if ours:
                continue
            if not self.valid():
                log.error("leader election: lost Lease %s/%s (now held by %s); stopping",
                          self.namespace, self.name, holder)
                self.lost.set()
                return

    async def release(self) -> None:
        """Give the Lease up at a clean shutdown so a successor starts at once."""
        if not self.valid():
            return

        def _release() -> None:
            # bounded: a shutdown must not hang on a slow API server (the Lease then
            # simply expires, as after a crash)
            lease = self.api.read_namespaced_lease(self.name, self.namespace,
                                                   _request_timeout=RELEASE_TIMEOUT)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            self.api.replace_namespaced_lease(self.name, self.namespace, lease,
                                              _request_timeout=RELEASE_TIMEOUT)

        try:  # the thread may wait for a free executor slot too: the whole is bounded
            await asyncio.wait_for(asyncio.to_thread(_release), timeout=2 * RELEASE_TIMEOUT)
        except Exception as exc:
            log.warning("leader election: could not release the Lease (%s)",
                        type(exc).__name__)
        self._renewed_at = 0.0
