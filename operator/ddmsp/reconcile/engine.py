"""The generic managed-resource reconciler shared by every kind.

One pass: read the object (from the watch-fed cache, reconcile/objectcache.py), honour
pause and management policy, connect, observe, then create or update when needed, and
write conditions, phase and observedGeneration.
Kinds only supply a ``Connector``; nothing in here knows about Datadog.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import time
import weakref
from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiException

from ddmsp import metrics
from ddmsp.reconcile import conditions as cond
from ddmsp.reconcile import deletion
from ddmsp.reconcile.claims import describe as describe_claim
from ddmsp.reconcile.claims import fix_for
from ddmsp.reconcile.createguard import CreateGuard
from ddmsp.reconcile.drift import record_drift
from ddmsp.reconcile.external import Connector, ExternalClient, Observation, ReconcileContext
from ddmsp.reconcile.kube import KubeAPI, ObjectChanged, secrets_read_once
from ddmsp.reconcile.kubeerrors import refusal
from ddmsp.reconcile.managed import ManagedObject
from ddmsp.reconcile.objectcache import resource_version
from ddmsp.reconcile.outcomes import Blocked, ReconcileOutcome, Waiting
from ddmsp.reconcile.scrub import scrub
from ddmsp.reconcile.statuswrite import merge_patch, rebase, update_status
from ddmsp.resources.kinds import KindInfo

log = logging.getLogger(__name__)

# The reason of a Waiting outcome for a Datadog rate limit (controllers/datadog_access.py):
# the object goes back to the queue until the limit's reset, never waits in a worker.
RATE_LIMITED = "RateLimited"


@dataclass(frozen=True)
class Result:
    """What the caller (a kopf handler) should do next."""

    requeue_after: float | None = None
    stalled: bool = False
    message: str = ""
    settled: bool = False  # Ready (or ObserveOnly drift reported): next pass is a drift check
    reason: str = ""
    gone: bool = False


DONE = Result()
GONE = Result(gone=True)


class Reconciler:
    """Reconciles objects of one kind through its connector."""

    def __init__(
        self,
        info: KindInfo,
        connector: Connector,
        kube: KubeAPI,
        *,
        error_backoff: float = 10.0,
        ready_phase: str = "Ready",
        drift_interval: float = 600.0,
        backoff_cap: float = 300.0,
        message_refresh: float = 30.0,
    ) -> None:
        self.info = info
        self.connector = connector
        self.kube = kube
        self.error_backoff = error_backoff
        self.ready_phase = ready_phase
        self.drift_interval = drift_interval
        self.backoff_cap = backoff_cap
        self.message_refresh = message_refresh
        self.runtime: Any = None  # the handlers' Runtime (claims, wakes); None in unit tests
        # Whether the engine holds ddmsp.io/finalizer (reconcile/deletion.py): register_kind
        # sets it for every kind it wires; a bare Reconciler (unit tests) does not.
        self.finalizer = False
        self._failures: dict[tuple[str, str], tuple[str, int]] = {}
        self._written: dict[tuple[str, str], float] = {}  # last status write, monotonic
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _lock(self, namespace: str, name: str) -> asyncio.Lock:
        key = f"{namespace}/{name}"
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    # ---------------------------------------------------------------- scheduling
    async def process(self, key: tuple[str, str]) -> float | None:
        """One queued pass; returns when the next pass is due (None: on change only)."""
        namespace, name = key
        result = await self.reconcile(namespace, name)
        return self.next_delay(key, result)

    def is_waiting(self, key: tuple[str, str]) -> bool:
        """Whether the object's last pass waited or failed (it is on a backoff)."""
        return key in self._failures

    def next_delay(self, key: tuple[str, str], result: Result) -> float | None:
        """Drift interval when settled; capped, jittered exponential backoff while waiting
        or failing for a reason time can fix (reset when the reason changes); never when
        only a change can help."""
        if result.gone:
            self._failures.pop(key, None)
            self._written.pop(key, None)
            return None
        if result.settled:
            self._failures.pop(key, None)
            return self.drift_interval * random.uniform(0.9, 1.1)
        if result.stalled or result.requeue_after is None:
            self._failures.pop(key, None)
            return None
        if result.reason == RATE_LIMITED:
            # Requeued at the reset, spread a little so one org's objects do not all go at
            # the same instant; no backoff growth (the reset is known, not guessed).
            self._failures[key] = (result.reason, 0)
            return max(0.5, result.requeue_after) * random.uniform(1.0, 1.1)
        reason, count = self._failures.get(key, ("", 0))
        count = count + 1 if reason == result.reason else 0
        self._failures[key] = (result.reason, count)
        base = max(0.5, result.requeue_after)
        delay = min(max(self.backoff_cap, base), base * (2 ** min(count, 16)))
        return float(delay * random.uniform(0.8, 1.0) if count else delay)

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, namespace: str, name: str, *, drift_check: bool = False) -> Result:
        """One serialized pass over the object's latest state (handlers and timers share it)."""
        with metrics.RECONCILE_SECONDS.labels(self.info.kind).time():
            return await self._reconcile(namespace, name, drift_check)

    async def _reconcile(self, namespace: str, name: str, drift_check: bool) -> Result:
        async with self._lock(namespace, name):
            with secrets_read_once():  # a pass reads each Secret once (reconcile/kube.py)
                return await self._locked_pass(namespace, name, drift_check)

    async def _locked_pass(self, namespace: str, name: str, drift_check: bool) -> Result:
        """The pass itself, under the object's lock."""
        body = await self.kube.get(self.info, namespace, name)
        if body is None:
            return GONE
        if body["metadata"].get("deletionTimestamp"):
            return await self._delete(body)
        if self.finalizer and not deletion.has_finalizer(body):
            body = await self._add_finalizer(body)
            if body is None:
                return Result(requeue_after=0.5, reason="ObjectChanged")
        try:
            obj = ManagedObject.from_body(self.info, body)
        except Blocked as blocked:
            obj = ManagedObject(self.info, body, None, copy.deepcopy(body.get("status") or {}),
                                copy.deepcopy(body.get("status") or {}))
            return await self._finish(obj, self._stalled(obj, blocked))
        # A pass over a generation already applied and Ready is a drift check: what
        # differs now changed in Datadog, not in the spec.
        ready = cond.get_condition(obj.conditions, cond.READY)
        settled = (obj.original_status.get("observedGeneration") == obj.generation
                   and ready is not None and ready.get("status") == "True")
        return await self._finish(obj, await self._pass(obj, drift_check or settled))

    async def _observe(self, obj: ManagedObject, external: ExternalClient) -> Observation:
        """Observe, and record what differs in Datadog as drift (the engine's job)."""
        observation = await external.observe()
        record_drift(obj, observation, self.connector.applied_keys)
        return observation

    async def _pass(self, obj: ManagedObject, drift_check: bool) -> Result:
        if obj.paused:
            self._set(obj, synced=(False, "ReconcilePaused",
                                   "the ddmsp.io/paused annotation is \"true\": no changes "
                                   "are made until it is removed"),
                      reconciling=(False, "ReconcilePaused", ""))
            obj.status["phase"] = "Paused"
            obj.handled = False  # the spec was not applied: observedGeneration stays
            return DONE
        ctx = self._context(obj, drift_check)
        try:
            return await self._apply(obj, ctx, drift_check)
        finally:
            await ctx.guard.flush()  # a create's success marker left for the pass's end

    async def _apply(self, obj: ManagedObject, ctx: ReconcileContext,
                     drift_check: bool) -> Result:
        """Observe, create or update, observe again; the outcome in conditions."""
        try:
            self._check_claims(obj)
            external = await self.connector.connect(ctx)
            observation = await self._observe(obj, external)
            if not observation.exists:
                if obj.management_policy == "ObserveOnly":
                    raise Waiting(
                        "NotFound",
                        f"managementPolicy is ObserveOnly and nothing exists to observe "
                        f"({observation.message or 'not found'}); the operator never creates "
                        "in this mode",
                        delay=60,
                    )
                await external.create()
                observation = await self._observe(obj, external)
                if not observation.exists:
                    raise Waiting("Creating", observation.message or "creation in progress",
                                  delay=1, phase=observation.phase)
            if not observation.up_to_date:
                drift = "; ".join(observation.diff) or "differs from the spec"
                if obj.management_policy == "ObserveOnly":
                    message = f"ObserveOnly: drift reported, not corrected: {drift}"
                    await self._event_once(obj, "Warning", "DriftDetected", message)
                    self._set(obj, ready=(False, "DriftDetected", message),
                              synced=(True, "ReconcileSuccess", ""),
                              reconciling=(False, "DriftDetected", ""),
                              stalled=(False, "DriftDetected", ""))
                    obj.status["phase"] = observation.phase or "Drifted"
                    return Result(settled=True, reason="DriftDetected")
                # A claim learnt in this pass (an org a create re-attached from its Secret
                # that an older object manages now) stops the update before any write.
                self._check_claims(obj)
                await ctx.event("Normal", "Updating" if not drift_check else "DriftCorrected",
                                drift)
                await external.update(observation)
                observation = await self._observe(obj, external)
                if not observation.up_to_date:
                    raise Waiting("Updating", "; ".join(observation.diff), delay=5)
        except ReconcileOutcome as outcome:
            return await self._outcome(obj, outcome)
        except Exception as exc:
            translated = await self._explain(ctx, exc)
            if translated is None:
                translated = self.connector.translate_error(exc)
            if translated is None:
                log.error("%s: reconcile failed: %s", obj.ref(), _safe_message(exc))
                self._set(obj, synced=(False, "ReconcileError", _safe_message(exc)),
                          reconciling=(True, "ReconcileError", ""))
                obj.handled = False  # the pass did not get to a verdict on this generation
                return Result(requeue_after=self.error_backoff, message=_safe_message(exc),
                              reason="ReconcileError")
            return await self._outcome(obj, translated)
        await self._explain(ctx, None)
        self._set(obj, ready=(True, observation.reason or "Available", observation.message),
                  synced=(True, "ReconcileSuccess", ""),
                  reconciling=(False, "Available", ""),
                  stalled=(False, "Available", ""))
        obj.status["phase"] = observation.phase or self.ready_phase
        return Result(settled=True, reason="Available")

    async def _explain(self, ctx: ReconcileContext,
                       exc: BaseException | None) -> ReconcileOutcome | None:
        """The kind's own look at how a pass ended (optional ``Connector.explain``): an
        outcome for its error that replaces ``translate_error``'s, or None."""
        explain = getattr(self.connector, "explain", None)
        if explain is None:
            return None
        try:
            found = await explain(ctx, exc)
        except Exception as err:  # the look itself failed: the plain translation stands
            log.warning("%s: explaining the pass's end failed: %s", ctx.obj.ref(),
                        _safe_message(err))
            return None
        return found if isinstance(found, ReconcileOutcome) else None

    def _check_claims(self, obj: ManagedObject) -> None:
        """The oldest object claiming an external thing owns it; later ones wait, named."""
        claims = getattr(self.connector, "claims", None)
        if claims is None or self.runtime is None:
            return
        for claim in claims(obj):
            holders = self.runtime.holders(self.info.plural, claim)
            owner = holders[0] if holders else None
            if owner is not None and owner.uid != obj.uid:
                raise Waiting(
                    "Conflict",
                    f"{owner.ref(self.info.kind)} already manages {describe_claim(claim)} "
                    f"(it is older); this object changes nothing while it does. "
                    f"{fix_for(claim)}",
                    delay=30, event=True,
                )

    async def _outcome(self, obj: ManagedObject, outcome: ReconcileOutcome) -> Result:
        if isinstance(outcome, Waiting):
            if outcome.event:
                await self._event_once(obj, "Normal", outcome.reason, outcome.message)
            self._set(obj, ready=(False, outcome.reason, outcome.message),
                      synced=(True, "ReconcileSuccess", ""),
                      reconciling=(True, outcome.reason, outcome.message),
                      stalled=(False, outcome.reason, ""))
            if outcome.phase:
                obj.status["phase"] = outcome.phase
            elif obj.status.get("phase") in (None, "Ready", self.ready_phase):
                obj.status["phase"] = "Pending"  # never Ready while Ready is False
            return Result(requeue_after=outcome.delay, message=outcome.message,
                          reason=outcome.reason)
        await self._event_once(obj, "Warning", outcome.reason, outcome.message)
        return self._stalled(obj, outcome)

    def _stalled(self, obj: ManagedObject, outcome: ReconcileOutcome) -> Result:
        self._set(obj, ready=(False, outcome.reason, outcome.message),
                  synced=(False, outcome.reason, outcome.message),
                  reconciling=(False, outcome.reason, ""),
                  stalled=(True, outcome.reason, outcome.message))
        obj.status["phase"] = outcome.phase or "Stalled"
        return Result(stalled=True, message=outcome.message, reason=outcome.reason)

    # ------------------------------------------------------------------- deletion
    async def _add_finalizer(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Put the engine's finalizer on before anything exists in Datadog; None when the
        object changed meanwhile (the pass runs again on the newer body)."""
        meta = body["metadata"]
        try:
            return await self.kube.patch_finalizers(
                self.info, meta.get("namespace") or "", meta["name"],
                [*deletion.finalizers(body), deletion.FINALIZER], meta["resourceVersion"])
        except ObjectChanged:
            return None

    async def _delete(self, body: dict[str, Any]) -> Result:
        """The deletion pass, on the body read under the object's lock: wait for the objects
        that act through this one, apply the deletion policy (observe, delete, observe
        again), let the kind release what it holds, then drop the finalizer as a
        compare-and-swap. Only ``Orphan`` (or ObserveOnly) and a proven-unreachable org
        leave anything in Datadog; every other obstacle waits and is retried."""
        meta = body["metadata"]
        with contextlib.suppress(KeyError):  # a gauge per live object only
            metrics.READY.remove(self.info.kind, meta.get("namespace") or "", meta["name"])
        if not self.finalizer or not deletion.has_finalizer(body):
            # Not ours to hold (or already released). A kind without the engine's finalizer
            # owns nothing outside Kubernetes: a finalizer of that name on it is another's
            # (kopf's old one on a DatadogPartner, runner.py), never a deletion to run.
            return GONE
        try:
            obj = ManagedObject.from_body(self.info, body)
        except Blocked:  # an unparseable spec names nothing this object could have made
            obj = ManagedObject(self.info, body, None, copy.deepcopy(body.get("status") or {}),
                                copy.deepcopy(body.get("status") or {}))
            await self._event(obj, "Warning", "Orphaned",
                              "the spec does not validate: nothing to delete is known")
            return await self._release(obj)
        try:
            await self._wait_for_dependents(obj)
            await self._apply_deletion_policy(obj)
            release = getattr(self.connector, "release", None)
            if release is not None:
                await release(self._context(obj, False))
        except deletion.OrgGone as gone:
            await self._event(obj, "Warning", "Orphaned", gone.message)
        except ReconcileOutcome as outcome:
            return await self._deletion_waits(obj, outcome)
        except Exception as exc:
            translated = self.connector.translate_error(exc)
            if translated is None:
                log.error("%s: deletion failed: %s", obj.ref(), _safe_message(exc))
                translated = Waiting("DeletionError", _safe_message(exc),
                                     delay=self.error_backoff)
            return await self._deletion_waits(obj, translated)
        return await self._release(obj)

    async def _wait_for_dependents(self, obj: ManagedObject) -> None:
        kinds = [self.runtime.reconcilers[p].info
                 for p in (self.runtime.dependents.get(self.info.plural) or [])
                 if p in self.runtime.reconcilers] if self.runtime is not None else []
        if not kinds:
            return
        users = await deletion.referencing(self.kube, kinds, obj.namespace, obj.name)
        started: list[deletion.Referrer] = []
        for user in users:
            if user.owned_by(obj.uid) and not user.deleting:
                await self.kube.delete_object(user.info, obj.namespace,
                                              str(user.meta.get("name")),
                                              str(user.meta.get("uid")))
                await self._event(obj, "Normal", "DeletingOwned",
                                  f"deleting {user.info.kind} {user.meta.get('name')}, which "
                                  "this object owns, before this object's keys go")
                started.append(user)
        if users:
            named = [u.words(deleting=u in started or None) for u in users]
            raise Waiting(
                "WaitingForDependents",
                f"deletion waits until {len(users)} object(s) using this org have finished "
                f"their own deletion policy (its keys and record stay until then): "
                f"{', '.join(named[:10])}{' ...' if len(named) > 10 else ''}. Objects not "
                "being deleted must be deleted or pointed at another org",
                delay=10, phase="Deleting")

    async def _apply_deletion_policy(self, obj: ManagedObject) -> None:
        if obj.deletion_policy != "Delete" or obj.management_policy == "ObserveOnly":
            what = (f"deletionPolicy {obj.deletion_policy}"
                    if obj.deletion_policy != "Delete" else "managementPolicy ObserveOnly")
            await self._event(obj, "Normal", "Orphaned", f"{what}: left in Datadog")
            return
        if obj.paused:
            raise Waiting(
                "DeletionPaused",
                "deletion waits: the ddmsp.io/paused annotation is \"true\" and "
                "deletionPolicy is Delete. Remove the annotation to delete in Datadog, or "
                "set spec.deletionPolicy: Orphan to leave it there",
                delay=None, phase="Deleting")
        external = await self.connector.connect(self._context(obj, False))
        observation = await external.observe()
        if not observation.exists:
            return
        await external.delete()
        observation = await external.observe()
        if observation.exists:
            raise Waiting("Deleting", observation.message or "still present in Datadog after "
                          "the delete; checking again", delay=5, phase="Deleting")
        await self._event(obj, "Normal", "Deleted", "deleted from Datadog")

    async def _deletion_waits(self, obj: ManagedObject, outcome: ReconcileOutcome) -> Result:
        """A deletion that cannot finish now keeps its finalizer and says why; it is retried
        with the engine's backoff (a Blocked one needs a human, but Datadog may change too,
        so it is retried at the backoff cap)."""
        fix = ("" if outcome.reason in ("WaitingForDependents", "DeletionPaused")
               else " (to give up and leave it in Datadog: set spec.deletionPolicy: Orphan)")
        message = f"deleting: {outcome.message}{fix}"
        stalled = isinstance(outcome, Blocked)
        if stalled:
            await self._event_once(obj, "Warning", outcome.reason, message)
        self._set(obj, ready=(False, outcome.reason, message),
                  synced=(not stalled, outcome.reason, message if stalled else ""),
                  reconciling=(not stalled, outcome.reason, "" if stalled else message),
                  stalled=(stalled, outcome.reason, message if stalled else ""))
        obj.status["phase"] = "Deleting"
        obj.handled = False
        await self._write_status(obj)
        delay: float | None = outcome.delay if isinstance(outcome, Waiting) else self.backoff_cap
        return Result(requeue_after=delay, message=message, reason=outcome.reason)

    async def _release(self, obj: ManagedObject) -> Result:
        """Drop the finalizer, as a compare-and-swap on the version this pass started from
        (or its own last write): a change meanwhile means another pass, never a release
        decided on an outdated object."""
        rest = [f for f in deletion.finalizers(obj.body) if f != deletion.FINALIZER]
        try:
            await self.kube.patch_finalizers(self.info, obj.namespace, obj.name, rest,
                                             str(obj.metadata.get("resourceVersion") or ""))
        except ObjectChanged:
            return Result(requeue_after=0.5, reason="ObjectChanged")
        except ApiException as exc:
            if exc.status == 404:
                return GONE
            raise
        return GONE

    # -------------------------------------------------------------------- helpers
    def _context(self, obj: ManagedObject, drift_check: bool) -> ReconcileContext:
        async def save_status() -> None:
            await self._write_status(obj)

        async def event(type_: str, reason: str, message: str) -> None:
            await self._event(obj, type_, reason, message)

        return ReconcileContext(
            obj=obj, kube=self.kube, guard=CreateGuard(obj, self.kube),
            save_status=save_status, event=event, drift_check=drift_check,
        )

    def _set(self, obj: ManagedObject, **updates: tuple[bool, str, str]) -> None:
        names = {"ready": cond.READY, "synced": cond.SYNCED,
                 "reconciling": cond.RECONCILING, "stalled": cond.STALLED}
        for key, (status, reason, message) in updates.items():
            cond.set_condition(obj.conditions, names[key], status, reason, message,
                               obj.generation)

    async def _finish(self, obj: ManagedObject, result: Result) -> Result:
        before = cond.get_condition(obj.original_status.get("conditions") or [], cond.READY)
        if obj.handled:
            obj.status["observedGeneration"] = obj.generation
        if not self._message_only_refresh(obj, result):
            await self._write_status(obj)
        _log_ready_change(obj, before)
        ready = cond.is_true(obj.conditions, cond.READY)
        metrics.READY.labels(self.info.kind, obj.namespace, obj.name).set(1 if ready else 0)
        metrics.RECONCILES.labels(self.info.kind, _outcome_label(obj, result, ready)).inc()
        return result

    def _message_only_refresh(self, obj: ManagedObject, result: Result) -> bool:
        """True when this waiting pass changed nothing but condition messages and the
        object's status was written less than ``message_refresh`` seconds ago: the write
        waits. A waiting message often names the dependency's own progress ("the org is
        Creating", "role r1 has no ID yet"): rewriting it on every step of a dependency
        would cost a status write (and a watch event to every watcher) per step, at a
        thousand clients a good part of the API server's work. Reasons, statuses, phases
        and every other status field are always written at once."""
        key = (obj.namespace, obj.name)
        last = self._written.get(key)
        if (last is None or result.settled or result.stalled or result.requeue_after is None
                or time.monotonic() - last >= self.message_refresh):
            return False
        return _only_messages_differ(obj.original_status, obj.status)

    async def _write_status(self, obj: ManagedObject) -> None:
        """Write this pass's changes to the status (since its read or its last write),
        under a resourceVersion precondition: what another writer (the cost refresher's
        BudgetWarning) wrote since is kept, conditions merged by type
        (reconcile/statuswrite.py)."""
        if obj.status == obj.original_status:
            return
        self._written[(obj.namespace, obj.name)] = time.monotonic()
        base, mine = obj.original_status, obj.status
        sets: tuple[str, ...] = getattr(self.connector, "set_status_keys", ())

        def ours(status: dict[str, Any]) -> None:
            rebased = rebase(status, base, mine, sets)
            status.clear()
            status.update(rebased)

        updated = await update_status(self.kube, self.info, obj.namespace, obj.name, ours,
                                      body=self._newest_known(obj))
        obj.original_status = copy.deepcopy(obj.status)
        if updated is None:
            return
        obj.server_status = copy.deepcopy(updated.get("status") or {})
        version = (updated.get("metadata") or {}).get("resourceVersion")
        if version:  # our own write: the next compare-and-swap starts from here
            obj.status_version = version
            obj.metadata["resourceVersion"] = version

    def _newest_known(self, obj: ManagedObject) -> dict[str, Any]:
        """The base of a status write: the status at ``status_version``, or the watch-fed
        cache's body when it is newer (our own annotation writes, kopf's finalizer patch,
        another writer's change already seen). Every such body is the server's real state
        at its version, so the precondition fails only on a write nobody here has seen
        yet; without this, each create marker written mid-pass cost a 409, a GET and a
        second PATCH (the small convergence bench: 2 per org)."""
        known = {"metadata": {"resourceVersion": obj.status_version},
                 "status": obj.server_status}
        cache = getattr(self.kube, "cache", None)
        newest: dict[str, Any] | None = (
            cache.get(self.info.plural, obj.namespace, obj.name) if cache else None)
        if newest is not None and (resource_version(newest) or 0) > (
                resource_version(known) or 0):
            return newest
        return known

    async def _event(self, obj: ManagedObject, type_: str, reason: str, message: str) -> None:
        log.log(logging.WARNING if type_ == "Warning" else logging.INFO, "%s: %s: %s",
                _who(obj), reason, message)
        await self.kube.post_event(obj.body, type_, reason, message)

    async def _event_once(self, obj: ManagedObject, type_: str, reason: str, message: str) -> None:
        """Emit only when the Ready reason or message changes: no event storms on retries."""
        ready = cond.get_condition(obj.original_status.get("conditions") or [], cond.READY)
        if ready and ready.get("reason") == reason and ready.get("message") == message:
            return
        await self._event(obj, type_, reason, message)


def _who(obj: ManagedObject) -> str:
    """``DatadogRole team-a/sre (org o1abc)``: kind, namespace/name and, when known, the org."""
    status = obj.status
    org = ((status.get("clientOrg") or {}).get("publicId") or status.get("orgPublicId")
           or ((obj.body.get("spec") or {}).get("orgRef") or {}).get("name"))
    where = f"{obj.namespace}/" if obj.namespace else ""
    return f"{obj.info.kind} {where}{obj.name}" + (f" (org {org})" if org else "")


def _log_ready_change(obj: ManagedObject, before: dict[str, Any] | None) -> None:
    """One INFO line when the Ready condition's status or reason changed in this pass;
    a pass that changed neither (a drift check, a retry of the same wait) logs at DEBUG."""
    before = before or {}
    after = cond.get_condition(obj.conditions, cond.READY) or {}
    level = logging.INFO if (before.get("status"), before.get("reason")) != \
        (after.get("status"), after.get("reason")) else logging.DEBUG
    if log.isEnabledFor(level):
        log.log(level, "%s: Ready=%s %s%s", _who(obj), after.get("status"), after.get("reason"),
                f": {after['message']}" if after.get("message") else "")


def _only_messages_differ(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two statuses differ at most in their conditions' messages."""
    if {k: v for k, v in old.items() if k != "conditions"} != \
            {k: v for k, v in new.items() if k != "conditions"}:
        return False
    before = old.get("conditions") or []
    after = new.get("conditions") or []
    if len(before) != len(after):
        return False
    return all({k: v for k, v in a.items() if k != "message"}
               == {k: v for k, v in b.items() if k != "message"}
               for a, b in zip(before, after, strict=True))


def _outcome_label(obj: ManagedObject, result: Result, ready: bool) -> str:
    if result.stalled:
        return "stalled"
    if ready:
        return "ready"
    phase = obj.status.get("phase")
    if phase in ("Paused", "Drifted"):
        return str(phase).lower()
    synced = cond.get_condition(obj.conditions, cond.SYNCED)
    if synced and synced.get("reason") == "ReconcileError":
        return "error"
    return "waiting"


def _safe_message(exc: BaseException) -> str:
    """Exception text for status and logs: scrubbed of anything key-like, capped. A
    Kubernetes refusal is its status and the API server's message, not headers and body."""
    if isinstance(exc, ApiException):
        return scrub(f"the Kubernetes API answered {refusal(exc)}")[:800]
    text = str(exc) or type(exc).__name__
    return scrub(f"{type(exc).__name__}: {text}")[:800]


__all__ = ["DONE", "GONE", "Observation", "Reconciler", "Result", "merge_patch"]
