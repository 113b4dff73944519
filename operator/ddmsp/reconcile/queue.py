"""A delayed work queue per kind, as controller-runtime's: every reconcile goes through it.

Why not kopf's own retries and timers: a handler that raises ``TemporaryError`` makes kopf
PATCH its progress annotations on every retry (a thousand waiting objects would cost etcd
hundreds of writes a second), and a per-object timer task that skips objects that are not
Ready leaves a transiently failed object wedged. Here each object is one entry: kopf's
handlers only ``add`` it; the earliest due time wins; an object being processed that is
added again runs once more afterwards; a bounded set of workers (shared across kinds)
processes what is due. The outcome of a pass decides the next due time (drift interval,
a backoff, or never), which the engine computes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
Process = Callable[[Key], Awaitable[float | None]]


class WorkQueue:
    """Due-time ordered, de-duplicated queue of object keys with bounded workers.

    ``process(key)`` returns the delay until the object's next pass, or None for "only
    when something changes". ``add`` can only bring a due time forward.
    """

    def __init__(self, name: str, process: Process, workers: asyncio.Semaphore,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._process = process
        self._workers = workers
        self._clock = clock
        self._heap: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}
        self._active: set[Key] = set()
        self._again: dict[Key, float] = {}  # added while active: due time for after
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ public
    def add(self, key: Key, delay: float = 0.0) -> None:
        """Schedule ``key`` in ``delay`` seconds, unless it is already due sooner."""
        due = self._clock() + max(0.0, delay)
        if key in self._active:
            self._again[key] = min(due, self._again.get(key, due))
            return
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._seq), key))
        self._wake.set()

    def forget(self, key: Key) -> None:
        """Drop a scheduled entry (the object is gone)."""
        self._due.pop(key, None)
        self._again.pop(key, None)

    def scheduled(self, key: Key) -> float | None:
        """Seconds until the key's next pass (None when not scheduled): for tests/metrics."""
        due = self._due.get(key)
        return None if due is None else max(0.0, due - self._clock())

    def __len__(self) -> int:
        return len(self._due)

    async def run(self) -> None:
        """Dispatch due keys until cancelled; in-flight passes finish on their own."""
        while True:
            key = await self._next_due()
            # Active before waiting for a worker: an ``add`` while we wait must go to
            # ``_again`` (one more pass afterwards), not back onto the heap, or the loop
            # would take the key again and run it twice at once on two workers.
            self._active.add(key)
            acquired = False
            try:
                await self._workers.acquire()
                acquired = True
                task = asyncio.create_task(self._run_one(key), name=f"ddmsp-{self.name}")
            except BaseException:
                # Cancelled (shutdown) or crashed: the key is not lost and no worker leaks;
                # a restarted dispatcher (handlers.Runtime) takes it again.
                self._active.discard(key)
                if acquired:
                    self._workers.release()
                self._requeue_again(key)
                self.add(key)
                raise
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for passes in progress: used at shutdown."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    # ----------------------------------------------------------------- private
    async def _next_due(self) -> Key:
        while True:
            while self._heap:
                due, _, key = self._heap[0]
                if self._due.get(key) != due:  # superseded or forgotten
                    heapq.heappop(self._heap)
                    continue
                wait = due - self._clock()
                if wait <= 0:
                    heapq.heappop(self._heap)
                    del self._due[key]
                    return key
                break
            else:
                wait = None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _run_one(self, key: Key) -> None:
        next_delay: float | None = None
        try:
            next_delay = await self._process(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s %s/%s: reconcile crashed; retrying in 30s", self.name, *key)
            next_delay = 30.0
        finally:
            self._active.discard(key)
            self._workers.release()
        self._requeue_again(key)
        if next_delay is not None:
            self.add(key, next_delay)

    def _requeue_again(self, key: Key) -> None:
        """Schedule what was added while the key was active (or waiting for a worker)."""
        again = self._again.pop(key, None)
        if again is not None:
            self.add(key, max(0.0, again - self._clock()))
