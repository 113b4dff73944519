"""kopf wiring for any kind: kopf watches and finalizes; the engine's queues reconcile.

kopf's create/update/resume handlers only put the object on its kind's ``WorkQueue`` and
return (so kopf never stores retry progress in annotations). The queue runs the
level-based reconcile and schedules the next pass: the drift interval when Ready, a
capped, jittered backoff when the object waits or failed for a reason time can fix, and
nothing when only a change can help (Stalled, a human step). Two kopf indexes feed the
engine: what each object claims (conflicts) and which DatadogClientOrg it depends on
(an org becoming ready wakes its dependents at once, instead of them polling).
Deletion stays a kopf handler with a finalizer, so the deletion policy always runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import kopf

from ddmsp import metrics
from ddmsp.reconcile.conditions import READY, get_condition
from ddmsp.reconcile.engine import Reconciler
from ddmsp.reconcile.managed import (
    CREATE_PENDING_ANNOTATION,
    CREATE_SUCCEEDED_ANNOTATION,
    ManagedObject,
)
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.reconcile.queue import Key, WorkQueue
from ddmsp.resources.kinds import KindInfo

log = logging.getLogger(__name__)

CLAIMS_INDEX = "ddmsp_claims_{plural}"
BOOKKEEPING = frozenset({CREATE_PENDING_ANNOTATION, CREATE_SUCCEEDED_ANNOTATION})
ORGREF_INDEX = "ddmsp_orgrefs_{plural}"


def jitter(uid: str, interval: float) -> float:
    """A stable per-object offset in [0, 20%) of the interval: spreads periodic work."""
    digest = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16)
    return (digest / 0xFFFFFFFF) * interval * 0.2


@dataclass(frozen=True)
class Holder:
    """One object holding a claim; the oldest holder of a claim owns it."""

    created: str
    uid: str
    namespace: str
    name: str

    def ref(self, kind: str) -> str:
        return f"{kind} {self.namespace}/{self.name}"


@dataclass
class Runtime:
    """The queues, the shared worker budget and kopf's indexes for every kind."""

    worker_limit: int
    restart_spread: float = 60.0
    reconcilers: dict[str, Reconciler] = field(default_factory=dict)
    queues: dict[str, WorkQueue] = field(default_factory=dict)
    indexes: dict[str, Any] = field(default_factory=dict)
    dependents: dict[str, list[str]] = field(default_factory=dict)  # org plural -> plurals
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _org_state: dict[Key, tuple[Any, ...]] = field(default_factory=dict)
    _dependent_ready: dict[tuple[str, Key], bool] = field(default_factory=dict)

    def capture(self, kwargs: dict[str, Any]) -> None:
        """kopf hands every handler all indexes; keep live references to ours."""
        if len(self.indexes) < sum(1 for k in kwargs if k.startswith("ddmsp_")):
            self.indexes.update({k: v for k, v in kwargs.items() if k.startswith("ddmsp_")})

    def holders(self, plural: str, claim: str) -> list[Holder]:
        index = self.indexes.get(CLAIMS_INDEX.format(plural=plural))
        if index is None or claim not in index:
            return []
        return sorted(index[claim], key=lambda h: (h.created, h.uid))

    def enqueue(self, plural: str, key: Key, delay: float = 0.0) -> None:
        queue = self.queues.get(plural)
        if queue is not None:
            queue.add(key, delay)

    def wake_dependents(self, org_plural: str, namespace: str, name: str) -> None:
        for plural in self.dependents.get(org_plural, []):
            index = self.indexes.get(ORGREF_INDEX.format(plural=plural))
            if index is None or (namespace, name) not in index:
                continue
            for dependent in index[(namespace, name)]:
                self.enqueue(plural, (namespace, dependent))

    def wake_waiting_siblings(self, org_plural: str, namespace: str, org: str,
                              plural: str) -> None:
        """A dependent of an org became Ready: its org's dependents of other kinds that
        wait (e.g. a SAML config for a role's ID) try again now instead of after their
        backoff. Ready ones are left alone: nothing changed for them."""
        for other in self.dependents.get(org_plural, []):
            index = self.indexes.get(ORGREF_INDEX.format(plural=other))
            reconciler = self.reconcilers.get(other)
            if other == plural or index is None or reconciler is None \
                    or (namespace, org) not in index:
                continue
            for dependent in index[(namespace, org)]:
                if reconciler.is_waiting((namespace, dependent)):
                    self.enqueue(other, (namespace, dependent))

    def start(self) -> None:
        workers = asyncio.Semaphore(self.worker_limit)
        for plural, reconciler in self.reconcilers.items():
            queue = WorkQueue(plural, reconciler.process, workers)
            reconciler.runtime = self
            self.queues[plural] = queue
            self._tasks.append(asyncio.create_task(queue.run(), name=f"ddmsp-queue-{plural}"))

    async def stop(self, timeout: float) -> None:
        """Stop dispatching, then wait (bounded) for passes in flight, creates included."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for queue in self.queues.values():
            await queue.drain(timeout)


def _only_bookkeeping(diff: Iterable[Any]) -> bool:
    """True when a change touched nothing but the engine's own create markers."""
    changes = list(diff)
    return bool(changes) and all(
        len(change) > 1 and tuple(change[1])[:2] == ("metadata", "annotations")
        and ((len(tuple(change[1])) == 3 and tuple(change[1])[2] in BOOKKEEPING)
             or (len(tuple(change[1])) == 2 and _marker_only(change)))
        for change in changes)


def _marker_only(change: Any) -> bool:
    """A whole-annotations change (added or removed map) that holds only markers."""
    old, new = dict(change[2] or {}), dict(change[3] or {})
    keys = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    return keys <= BOOKKEEPING


def _settled(body: dict[str, Any]) -> bool:
    """Ready at the current generation: a restart may re-check it later, not at once."""
    status = body.get("status") or {}
    ready = get_condition(list(status.get("conditions") or []), READY)
    generation = (body.get("metadata") or {}).get("generation")
    return bool(ready and ready.get("status") == "True"
                and status.get("observedGeneration") == generation)


def _org_fingerprint(body: dict[str, Any]) -> tuple[Any, ...]:
    """What dependents of an org care about: readiness and the orgs' IDs and Secrets."""
    status = body.get("status") or {}
    ready = get_condition(list(status.get("conditions") or []), READY) or {}
    records = tuple(
        tuple(sorted((k, str(v)) for k, v in (status.get(key) or {}).items()
                     if k in ("publicId", "credentialsSecret", "spunOff")))
        for key in ("clientOrg", "parentOrg")
    )
    return (ready.get("status"), *records)


def _claims(info: KindInfo, reconciler: Reconciler, body: dict[str, Any]) -> Iterable[str]:
    claims = getattr(reconciler.connector, "claims", None)
    if claims is None:
        return ()
    try:
        obj = ManagedObject.from_body(info, body)
    except Blocked:
        return ()
    return list(claims(obj))


def register_kind(
    registry: kopf.OperatorRegistry,
    runtime: Runtime,
    info: KindInfo,
    reconciler: Reconciler,
    *,
    needs_finalizer: bool,
    depends_on_org: str | None = None,
) -> None:
    """Register one kind's handlers and indexes. ``depends_on_org``: the plural of the
    org kind whose readiness this kind waits for (through ``spec.orgRef``)."""
    group, version, plural = info.group, info.version, info.plural
    runtime.reconcilers[plural] = reconciler

    def key_of(kwargs: dict[str, Any]) -> Key:
        return (kwargs.get("namespace") or "", kwargs["name"])

    async def changed(**kwargs: Any) -> None:
        runtime.capture(kwargs)
        if _only_bookkeeping(kwargs.get("diff") or ()):
            return  # our own create markers: re-running on them would loop
        runtime.enqueue(plural, key_of(kwargs))

    async def resumed(**kwargs: Any) -> None:
        runtime.capture(kwargs)
        body = dict(kwargs["body"])
        delay = jitter(kwargs["uid"], runtime.restart_spread * 5) if _settled(body) else 0.0
        runtime.enqueue(plural, key_of(kwargs), delay)

    kopf.on.resume(group, version, plural, registry=registry, id="reconcile")(resumed)
    for decorator in (kopf.on.create, kopf.on.update):
        decorator(group, version, plural, registry=registry, id="reconcile")(changed)

    def claims_index(body: kopf.Body, **_: Any) -> dict[str, Holder]:
        raw = dict(body)
        meta = raw.get("metadata") or {}
        holder = Holder(str(meta.get("creationTimestamp") or ""), str(meta.get("uid") or ""),
                        str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        return {claim: holder for claim in _claims(info, reconciler, raw)}

    kopf.index(group, version, plural, registry=registry,
               id=CLAIMS_INDEX.format(plural=plural))(claims_index)

    if depends_on_org is not None:
        def orgref_index(**kwargs: Any) -> dict[Key, str] | None:
            namespace, name = str(kwargs.get("namespace") or ""), str(kwargs["name"])
            ref = dict(kwargs.get("spec") or {}).get("orgRef") or {}
            return {(namespace, str(ref["name"])): name} if ref.get("name") else None

        kopf.index(group, version, plural, registry=registry,
                   id=ORGREF_INDEX.format(plural=plural))(orgref_index)
        runtime.dependents.setdefault(depends_on_org, []).append(plural)

    async def watched(**kwargs: Any) -> None:
        """Every watch event: wake dependents when an org's readiness changes; forget
        deleted objects (queue entry, metric series) and wake the next claim holder."""
        runtime.capture(kwargs)
        event_type = (kwargs.get("event") or {}).get("type")
        body = dict(kwargs["body"])
        key = key_of(kwargs)
        if event_type == "DELETED":
            queue = runtime.queues.get(plural)
            if queue is not None:
                queue.forget(key)
            metrics.forget(info.kind, key[0], key[1])
            runtime._org_state.pop(key, None)
            runtime._dependent_ready.pop((plural, key), None)
            for claim in _claims(info, reconciler, body):
                for holder in runtime.holders(plural, claim):
                    runtime.enqueue(plural, (holder.namespace, holder.name))
            return
        if plural in runtime.dependents:
            state = _org_fingerprint(body)
            if runtime._org_state.get(key) != state:
                runtime._org_state[key] = state
                runtime.wake_dependents(plural, key[0], key[1])
        if depends_on_org is not None:
            now_ready = _settled(body)
            was_ready = runtime._dependent_ready.get((plural, key), False)
            runtime._dependent_ready[(plural, key)] = now_ready
            org = ((body.get("spec") or {}).get("orgRef") or {}).get("name")
            if now_ready and not was_ready and org:
                runtime.wake_waiting_siblings(depends_on_org, key[0], str(org), plural)

    kopf.on.event(group, version, plural, registry=registry, id="watch")(watched)

    async def delete(**kwargs: Any) -> None:
        runtime.capture(kwargs)
        result = await reconciler.finalize(dict(kwargs["body"]))
        if result.requeue_after is not None:
            raise kopf.TemporaryError(result.message or "requeue", delay=result.requeue_after)

    kopf.on.delete(group, version, plural, registry=registry, id="finalize",
                   optional=not needs_finalizer, backoff=10)(delete)
