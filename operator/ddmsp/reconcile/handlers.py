"""kopf wiring for any kind: kopf watches and finalizes; the engine's queues reconcile.

kopf's watch handler (``on.event``) feeds the engine's object cache, then puts the object on
its kind's ``WorkQueue`` when something the engine acts on changed: first sight, the
generation (the spec), an annotation (pause, retry, metadata source), or deletion. Our own
status writes and create markers change none of these, so they never re-run a pass (kopf's
create/update handlers used to, and kopf wrote a last-handled annotation for each). The
queue runs the level-based reconcile and schedules the next pass: the drift interval when
Ready, a capped, jittered backoff when the object waits or failed for a reason time can
fix, and nothing when only a change can help (Stalled, a human step). Two indexes feed the
engine: what each object claims (conflicts) and which DatadogClientOrg it depends on (an
org becoming ready wakes its dependents at once, instead of them polling). They are the
Runtime's own, filled by one LIST per kind before the queues start and kept by the watch
handler: kopf's indexes make every object wait at startup until every object of every
kind is indexed, through a toggle per object that wakes every waiting object, which took
138 s before the first pass at 5,000 objects (bench/README.md).
Deletion is a pass of the same queue: the engine holds its own finalizer and runs the
deletion policy on the object read under its lock (reconcile/deletion.py); kopf registers
no change or deletion handler for these kinds, so it never adds or removes a finalizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import kopf

from ddmsp import metrics
from ddmsp.reconcile import deletion
from ddmsp.reconcile.conditions import READY, STALLED, get_condition
from ddmsp.reconcile.createguard import CREATION_RESULT_UNKNOWN
from ddmsp.reconcile.engine import Reconciler
from ddmsp.reconcile.managed import (
    CREATE_PENDING_ANNOTATION,
    CREATE_SUCCEEDED_ANNOTATION,
    ManagedObject,
)
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.reconcile.queue import Key, WorkQueue
from ddmsp.reconcile.refindex import RefIndex
from ddmsp.resources.kinds import KindInfo

log = logging.getLogger(__name__)

BOOKKEEPING = frozenset({CREATE_PENDING_ANNOTATION, CREATE_SUCCEEDED_ANNOTATION})
KOPF_ANNOTATIONS = "kopf."  # kopf's own bookkeeping (deletion handler progress)


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
    """The queues, the shared worker budget and the claim and org-reference indexes."""

    worker_limit: int
    restart_spread: float = 60.0
    namespaces: list[str] = field(default_factory=list)  # watched ones; empty: all
    reconcilers: dict[str, Reconciler] = field(default_factory=dict)
    queues: dict[str, WorkQueue] = field(default_factory=dict)
    dependents: dict[str, list[str]] = field(default_factory=dict)  # org plural -> plurals
    engine_kinds: set[tuple[str, str]] = field(default_factory=set)  # (group, kind)
    restart_backoff: float = 1.0  # first wait before a crashed dispatcher restarts
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _dispatching: set[str] = field(default_factory=set)  # kinds whose dispatcher runs
    _org_state: dict[Key, tuple[Any, ...]] = field(default_factory=dict)
    _dependent_ready: dict[tuple[str, Key], bool] = field(default_factory=dict)
    _triggers: dict[tuple[str, Key], tuple[Any, ...]] = field(default_factory=dict)
    _identity: dict[tuple[str, Key], tuple[Any, ...]] = field(default_factory=dict)
    _claims: dict[str, tuple[tuple[Any, ...], list[str]]] = field(
        default_factory=dict)  # uid -> (what the claims follow, the claims)
    # plural -> claim -> uid -> holder; and what each object holds, to move it on change
    _holders: dict[str, dict[str, dict[str, Holder]]] = field(default_factory=dict)
    _held: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # dependent plural -> which of its objects point at which org (namespace, name)
    _orgrefs: dict[str, RefIndex[Key]] = field(default_factory=dict)

    def holders(self, plural: str, claim: str) -> list[Holder]:
        found = self._holders.get(plural, {}).get(claim)
        return sorted(found.values(), key=lambda h: (h.created, h.uid)) if found else []

    def index(self, plural: str, body: dict[str, Any]) -> None:
        """Record what the object claims (its spec and declared status parts) and which
        orgs it depends on (its spec)."""
        reconciler = self.reconcilers[plural]
        meta = body.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        holder = Holder(str(meta.get("creationTimestamp") or ""), uid,
                        str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        claims = _claims(reconciler.info, reconciler, body, self._claims)
        held = self._held.get((plural, uid))
        if held != claims:
            self._drop_claims(plural, uid)
            for claim in claims:
                self._holders.setdefault(plural, {}).setdefault(claim, {})[uid] = holder
            self._held[(plural, uid)] = claims
            # A claim this object did not hold before (an org its status now records): the
            # other holders re-check at once, a younger one already Ready included.
            for claim in claims:
                if held is not None and claim not in held:
                    for other in self.holders(plural, claim):
                        if other.uid != uid:
                            self.enqueue(plural, (other.namespace, other.name))
        orgrefs = self._orgrefs.get(plural)
        if orgrefs is not None:
            orgrefs.point_all(holder.namespace, holder.name,
                              [(holder.namespace, org)
                               for org in deletion.org_refs(reconciler.info, body)])

    def unindex(self, plural: str, body: dict[str, Any]) -> list[str]:
        """Forget a deleted object; returns the claims it held."""
        meta = body.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        claims = self._held.get((plural, uid), [])
        self._drop_claims(plural, uid)
        self._claims.pop(uid, None)
        orgrefs = self._orgrefs.get(plural)
        if orgrefs is not None:
            orgrefs.point(str(meta.get("namespace") or ""), str(meta.get("name") or ""), None)
        return claims

    def _drop_claims(self, plural: str, uid: str) -> None:
        for claim in self._held.pop((plural, uid), []):
            holders = self._holders.get(plural, {}).get(claim)
            if holders is not None:
                holders.pop(uid, None)
                if not holders:
                    del self._holders[plural][claim]

    def dependents_of(self, plural: str, namespace: str, org: str) -> set[str]:
        orgrefs = self._orgrefs.get(plural)
        return orgrefs.pointing_at((namespace, org)) if orgrefs is not None else set()

    def enqueue(self, plural: str, key: Key, delay: float = 0.0) -> None:
        queue = self.queues.get(plural)
        if queue is not None:
            queue.add(key, delay)

    def wake_dependents(self, org_plural: str, namespace: str, name: str) -> None:
        for plural in self.dependents.get(org_plural, []):
            for dependent in self.dependents_of(plural, namespace, name):
                self.enqueue(plural, (namespace, dependent))

    def wake_siblings(self, org_plural: str, namespace: str, org: str, plural: str) -> None:
        """An object of an org was deleted or its Datadog identity changed (a role's ID or
        name): every object of the other kinds in that org re-checks at once, Ready ones
        too (a user or SAML mapping naming that role no longer matches)."""
        for other in self.dependents.get(org_plural, []):
            if other != plural:
                for dependent in self.dependents_of(other, namespace, org):
                    self.enqueue(other, (namespace, dependent))

    def wake_waiting_siblings(self, org_plural: str, namespace: str, org: str,
                              plural: str) -> None:
        """A dependent of an org became Ready: its org's dependents of other kinds that
        wait (e.g. a SAML config for a role's ID) try again now instead of after their
        backoff. Ready ones are left alone: nothing changed for them."""
        for other in self.dependents.get(org_plural, []):
            reconciler = self.reconcilers.get(other)
            if other == plural or reconciler is None:
                continue
            for dependent in self.dependents_of(other, namespace, org):
                if reconciler.is_waiting((namespace, dependent)):
                    self.enqueue(other, (namespace, dependent))

    async def prefill(self) -> None:
        """Index every object before the first pass, so that a claim's oldest holder is
        known before any holder acts (a paged LIST per kind; the watch keeps it current)."""
        patterns = [n for n in self.namespaces if any(c in n for c in "*?[!")]
        for plural, reconciler in self.reconcilers.items():
            try:  # kopf's namespace patterns ("team-*") can only be listed cluster-wide
                # A cluster-scoped kind (DatadogPartner) has no namespace to list by.
                cluster = reconciler.info.scope == "Cluster"
                async for page in reconciler.kube.list_pages(
                        reconciler.info, [] if patterns or cluster else self.namespaces):
                    for body in page:
                        namespace = str((body.get("metadata") or {}).get("namespace") or "")
                        if patterns and not cluster and not _watched(namespace,
                                                                     self.namespaces):
                            continue
                        self.index(plural, body)
                        reconciler.kube.cache.offer(plural, body)
            except Exception as exc:  # the watch will index them anyway
                log.warning("could not list %s before starting (%s): claims are known "
                            "as the watch delivers objects", plural, type(exc).__name__)

    async def start(self) -> None:
        await self.prefill()
        workers = asyncio.Semaphore(self.worker_limit)
        for plural, reconciler in self.reconcilers.items():
            queue = WorkQueue(plural, reconciler.process, workers)
            reconciler.runtime = self
            self.queues[plural] = queue
            self._tasks.append(asyncio.create_task(self._supervise(plural, queue),
                                                   name=f"ddmsp-queue-{plural}"))

    async def _supervise(self, plural: str, queue: WorkQueue) -> None:
        """Run one kind's dispatcher; a crash is logged and the dispatcher restarted (with
        a capped backoff), and ``problems`` names the kind meanwhile (``/readyz`` fails):
        a dead dispatcher used to stop that kind's reconciling without a word."""
        delay = self.restart_backoff
        while True:
            self._dispatching.add(plural)
            started = time.monotonic()
            try:
                await queue.run()
                log.error("the %s dispatcher returned; restarting it", plural)
            except asyncio.CancelledError:
                self._dispatching.discard(plural)
                raise
            except Exception:
                log.exception("the %s dispatcher crashed; %s are not reconciled until it "
                              "restarts in %.0fs", plural, plural, delay)
            self._dispatching.discard(plural)
            metrics.DISPATCHER_RESTARTS.labels(plural).inc()
            if time.monotonic() - started > 60:
                delay = self.restart_backoff  # it ran a while: not a crash loop
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def problems(self) -> list[str]:
        """Kinds that are not reconciling now (for ``/readyz``): empty when all are."""
        if not self.queues:
            return ["the work queues have not started"]
        return [f"{plural} are not reconciled: their dispatcher is restarting after a crash"
                for plural in self.queues if plural not in self._dispatching]

    async def stop(self, timeout: float) -> None:
        """Stop dispatching, then wait (bounded) for passes in flight, creates included."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for queue in self.queues.values():
            await queue.drain(timeout)


def _watched(namespace: str, patterns: list[str]) -> bool:
    """kopf's rule: a namespace is watched if it matches a pattern and no ``!`` pattern."""
    included = any(fnmatch.fnmatch(namespace, p) for p in patterns if not p.startswith("!"))
    excluded = any(fnmatch.fnmatch(namespace, p[1:]) for p in patterns if p.startswith("!"))
    return included and not excluded


def trigger_state(body: dict[str, Any]) -> tuple[Any, ...]:
    """What a pass must follow: the generation (spec), annotations other than the engine's
    and kopf's bookkeeping (pause, retry, metadata source), and deletion. Status is not in
    it: our own status writes must not re-run a pass."""
    meta = body.get("metadata") or {}
    annotations = tuple(sorted(
        (k, str(v)) for k, v in (meta.get("annotations") or {}).items()
        if k not in BOOKKEEPING and not k.startswith(KOPF_ANNOTATIONS)))
    # The uid: an object deleted and re-created under its name while the watch was away
    # (no DELETED event seen) is a new object, whatever its generation.
    return (meta.get("uid"), meta.get("generation"), hash(annotations),
            bool(meta.get("deletionTimestamp")), _awaits_create_decision(body))


def _awaits_create_decision(body: dict[str, Any]) -> bool:
    """Stalled on a lost create's answer with its pending marker still set. The documented
    way out is removing the marker (``kubectl annotate ... ddmsp.io/create-pending-``): that
    flips this to False and so starts a pass. The operator's own marker writes happen in
    passes of objects not stalled this way, so they start none."""
    meta = body.get("metadata") or {}
    if CREATE_PENDING_ANNOTATION not in (meta.get("annotations") or {}):
        return False
    stalled = get_condition(list((body.get("status") or {}).get("conditions") or []), STALLED)
    return bool(stalled and stalled.get("status") == "True"
                and stalled.get("reason") == CREATION_RESULT_UNKNOWN)


class EngineDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf's last-handled-configuration, kept only for kinds that would still use kopf's
    change handlers (none today). The engine's kinds react to watch events
    (``trigger_state``), so for them kopf computes no essence, stores nothing and patches
    nothing."""

    def __init__(self, engine_kinds: set[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine_kinds = engine_kinds

    def _engine(self, body: Any) -> bool:
        group = str(body.get("apiVersion") or "").partition("/")[0]
        return (group, str(body.get("kind") or "")) in self.engine_kinds

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        if self._engine(body):
            return None
        return super().build(body=body, extra_fields=extra_fields)

    def fetch(self, *, body: Any) -> Any:
        return None if self._engine(body) else super().fetch(body=body)

    def store(self, *, body: Any, patch: Any, essence: Any) -> None:
        if not self._engine(body):
            super().store(body=body, patch=patch, essence=essence)


def _settled(body: dict[str, Any]) -> bool:
    """Ready at the current generation: a restart may re-check it later, not at once."""
    status = body.get("status") or {}
    ready = get_condition(list(status.get("conditions") or []), READY)
    generation = (body.get("metadata") or {}).get("generation")
    return bool(ready and ready.get("status") == "True"
                and status.get("observedGeneration") == generation)


def _identity(reconciler: Reconciler, body: dict[str, Any]) -> tuple[Any, ...]:
    """What other objects of the same org may name a dependent by, as its kind declares
    (``identity_keys`` on its connector: a role's ID and name). Empty for a kind that
    declares none: a change of theirs wakes nobody."""
    status = body.get("status") or {}
    return tuple(status.get(k) for k in reconciler.connector.identity_keys)


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


def _claim_stamp(reconciler: Reconciler, body: dict[str, Any]) -> tuple[Any, ...]:
    """What an object's claims follow: its generation (the spec) and the status parts its
    connector declares (``claim_status_keys``: a DatadogClientOrg's org records)."""
    status = body.get("status") or {}
    generation = int((body.get("metadata") or {}).get("generation") or 0)
    keys = getattr(reconciler.connector, "claim_status_keys", ())
    return (generation, *(repr(status.get(k)) for k in keys))


def _claims(info: KindInfo, reconciler: Reconciler, body: dict[str, Any],
            memo: dict[str, tuple[tuple[Any, ...], list[str]]] | None = None) -> list[str]:
    """The object's claims; they follow its spec and the declared status parts, so they
    are parsed once per change of those (the watch calls the index on every event, status
    writes included)."""
    claims = getattr(reconciler.connector, "claims", None)
    if claims is None:
        return []
    uid = str((body.get("metadata") or {}).get("uid") or "")
    stamp = _claim_stamp(reconciler, body)
    if memo is not None and uid and uid in memo and memo[uid][0] == stamp:
        return memo[uid][1]
    try:
        obj = ManagedObject.from_body(info, body)
    except Blocked:
        found: list[str] = []
    else:
        found = list(claims(obj))
    if memo is not None and uid:
        memo[uid] = (stamp, found)
    return found


def register_kind(
    registry: kopf.OperatorRegistry,
    runtime: Runtime,
    info: KindInfo,
    reconciler: Reconciler,
    *,
    needs_finalizer: bool,
    depends_on_org: str | None = None,
    wakes_peers: bool = False,
) -> None:
    """Register one kind's handlers and indexes. ``needs_finalizer``: the engine holds
    ``ddmsp.io/finalizer`` on its objects (deletion runs as one of its passes).
    ``depends_on_org``: the plural of the org kind whose readiness this kind waits for
    (through the spec fields its ``KindInfo.org_refs`` declares); such an org's deletion
    waits for these objects. ``wakes_peers``: objects of the kind judge each other (one
    default DatadogPartner), so a change or deletion of one wakes the others at once."""
    group, version, plural = info.group, info.version, info.plural
    runtime.reconcilers[plural] = reconciler
    runtime.engine_kinds.add((group, info.kind))
    reconciler.finalizer = needs_finalizer
    reconciler.kube.cache.watched.add(plural)

    def key_of(kwargs: dict[str, Any]) -> Key:
        return (kwargs.get("namespace") or "", kwargs["name"])

    def wake_peers(key: Key) -> None:
        if wakes_peers:
            for plural_, peer in list(runtime._triggers):
                if plural_ == plural and peer != key:
                    runtime.enqueue(plural, peer)

    if depends_on_org is not None:
        runtime.dependents.setdefault(depends_on_org, []).append(plural)
        runtime._orgrefs[plural] = RefIndex()

    async def watched(**kwargs: Any) -> None:
        """Every watch event: feed the cache; queue a pass when the spec, an annotation or
        deletion changed (or on first sight); wake dependents when an org's readiness
        changes; forget deleted objects (cache, queue entry, metric series) and wake the
        next claim holder."""
        event = kwargs.get("event") or {}
        event_type = event.get("type")
        body = dict(kwargs["body"])
        key = key_of(kwargs)
        cache = reconciler.kube.cache
        if event_type == "DELETED":
            cache.forget(plural, key[0], key[1])
            queue = runtime.queues.get(plural)
            if queue is not None:
                queue.forget(key)
            metrics.forget(info.kind, key[0], key[1])
            runtime._org_state.pop(key, None)
            runtime._dependent_ready.pop((plural, key), None)
            runtime._triggers.pop((plural, key), None)
            for claim in runtime.unindex(plural, body):
                for holder in runtime.holders(plural, claim):
                    runtime.enqueue(plural, (holder.namespace, holder.name))
            if depends_on_org is not None:
                for org in deletion.org_refs(info, body):  # an org being deleted waits for it
                    runtime.enqueue(depends_on_org, (key[0], org))
                    if any(_identity(reconciler, body)[:1]):  # users and SAML naming a role
                        runtime.wake_siblings(depends_on_org, key[0], org, plural)  # now
            runtime._identity.pop((plural, key), None)
            wake_peers(key)
            return
        cache.offer(plural, dict(event.get("object") or body))
        runtime.index(plural, body)
        trigger = trigger_state(body)
        seen = runtime._triggers.get((plural, key))
        if seen != trigger:
            runtime._triggers[(plural, key)] = trigger
            # First sight at startup (kopf's listing has no event type): a Ready object is
            # re-checked later, spread out; anything else, and every change, now.
            settled_at_start = seen is None and event_type is None and _settled(body)
            delay = jitter(kwargs["uid"], runtime.restart_spread * 5) if settled_at_start \
                else 0.0
            runtime.enqueue(plural, key, delay)
            if seen is not None or event_type is not None:  # not the start's listing:
                wake_peers(key)  # a change or a new object (a restart wakes nobody)
        if plural in runtime.dependents:
            state = _org_fingerprint(body)
            before = runtime._org_state.get(key)
            if before != state:
                runtime._org_state[key] = state
                if before is not None:  # first sight (a restart) wakes nobody: dependents
                    runtime.wake_dependents(plural, key[0], key[1])  # have their own pass
        if depends_on_org is not None:
            identity = _identity(reconciler, body)
            before_identity = runtime._identity.get((plural, key))
            runtime._identity[(plural, key)] = identity
            orgs = deletion.org_refs(info, body)
            # A first ID is news only to those waiting for it (wake_waiting_siblings below).
            if before_identity and before_identity[0] and before_identity != identity:
                for org in orgs:
                    runtime.wake_siblings(depends_on_org, key[0], org, plural)
            now_ready = _settled(body)
            was_ready = runtime._dependent_ready.get((plural, key), False)
            runtime._dependent_ready[(plural, key)] = now_ready
            if now_ready and not was_ready:
                for org in orgs:
                    runtime.wake_waiting_siblings(depends_on_org, key[0], org, plural)

    kopf.on.event(group, version, plural, registry=registry, id="watch")(watched)
