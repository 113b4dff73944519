"""The crash-safe create protocol for non-idempotent creates whose result is shown once.

1. ``recover`` first: if the result is already stored (a Secret holding the keys), use
   it and never call the API again; this also re-attaches a re-applied resource.
2. A ``create-pending`` annotation newer than ``create-succeeded`` means an earlier
   attempt's outcome is unknown. Unless ``nothing_created`` proves that no object came
   of it (e.g. a crash before the request was sent, checked after a settle time), never
   create again: raise ``Blocked`` (``CreationResultUnknown``) naming the candidates a
   human can adopt.
3. Otherwise ``reserve`` the place the result goes (prove the Secret is ours and
   writable: a result that cannot be stored is a lost key), persist ``create-pending``
   *before* the call as a compare-and-swap on the object's resourceVersion (a second
   process that read the same version fails here), ``persist`` the result right after
   the call (Secret first, then status), then set ``create-succeeded``. A create whose
   ``recover`` recognises its stored result (``success_recoverable``) may leave that
   marker to the next write: the next create's ``create-pending`` of the same pass
   supersedes it (one object write less per create), else ``flush`` writes it when the
   pass ends. A crash in between leaves the marker pending, and ``recover`` settles it.
4. Only the leader creates (``set_leadership``), and the call, the persist and the
   success marker run shielded from cancellation: a shutdown waits for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from ddmsp.reconcile.kube import KubeAPI, ObjectChanged
from ddmsp.reconcile.managed import (
    CREATE_PENDING_ANNOTATION,
    CREATE_SUCCEEDED_ANNOTATION,
    ManagedObject,
)
from ddmsp.reconcile.outcomes import Blocked, Waiting

R = TypeVar("R")
log = logging.getLogger(__name__)

CREATION_RESULT_UNKNOWN = "CreationResultUnknown"

_leadership: Callable[[], bool] = lambda: True  # noqa: E731 - replaced by the runner


def set_leadership(check: Callable[[], bool]) -> None:
    """Install the leader-election check consulted right before every create call."""
    global _leadership
    _leadership = check


# Creates in progress (shielded tasks): the runner's shutdown waits for these.
IN_FLIGHT: set[asyncio.Future[Any]] = set()


def precise_now() -> str:
    """Microsecond timestamps in one fixed format, so string order is time order."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CreateGuard:
    """Runs one guarded create for one object; see the module docstring."""

    def __init__(
        self, obj: ManagedObject, kube: KubeAPI, persist_attempts: int = 8,
        persist_backoff: float = 0.5,
    ) -> None:
        self.obj = obj
        self.kube = kube
        self.persist_attempts = persist_attempts
        self.persist_backoff = persist_backoff
        self.key = ""  # which of the object's creates this run guards ("" = the only one)
        self._defer_success = False  # this run's success marker may wait (``run``)
        self._success_unwritten = False  # create-succeeded known here, not yet stored

    def pending(self) -> tuple[str, str] | None:
        """(started, create key) of a create whose outcome is not recorded, or None.

        The marker is "<timestamp> <key>": an object that makes two orgs (SpinOff) must not
        take the parent's unresolved marker for the client's, nor the reverse. A marker
        without a key (written by older versions) counts for every create.
        """
        ann = self.obj.annotations
        value = ann.get(CREATE_PENDING_ANNOTATION, "")
        if not value or value <= ann.get(CREATE_SUCCEEDED_ANNOTATION, ""):
            return None
        stamp, _, key = value.partition(" ")
        return stamp, key

    @property
    def unresolved(self) -> bool:
        found = self.pending()
        return found is not None and found[1] in ("", self.key)

    async def _annotate(self, key: str, *, compare_and_swap: bool = False) -> None:
        version = self.obj.metadata.get("resourceVersion") if compare_and_swap else None
        value = precise_now()
        if key == CREATE_PENDING_ANNOTATION and self.key:
            value = f"{value} {self.key}"
        try:
            updated = await self.kube.patch_annotations(
                self.obj.info, self.obj.namespace, self.obj.name, {key: value},
                resource_version=version,
            )
            # a stored pending marker supersedes an unwritten success (another key's), and
            # a stored success includes it
            self._success_unwritten = False
        except ObjectChanged:
            raise Waiting(
                "ObjectChanged",
                "the object changed while a create was being prepared (another writer, or "
                "a second operator process); re-reading it before trying again",
                delay=1, phase=self.obj.status.get("phase"),
            ) from None
        self.obj.metadata["annotations"] = updated["metadata"].get("annotations", {})
        self.obj.metadata["resourceVersion"] = updated["metadata"].get("resourceVersion")

    async def run(
        self,
        *,
        what: str,
        call: Callable[[], Awaitable[R]],
        persist: Callable[[R], Awaitable[None]],
        recover: Callable[[], Awaitable[bool]],
        candidates: Callable[[], Awaitable[str]],
        definitely_failed: Callable[[BaseException], bool],
        how_to_resolve: str,
        nothing_created: Callable[[str], Awaitable[bool]] | None = None,
        reserve: Callable[[], Awaitable[None]] | None = None,
        key: str = "",
        success_recoverable: bool = False,
    ) -> R | None:
        """Create ``what`` at most once; returns None when an earlier result was recovered.
        ``key`` names this create among several of one object (e.g. "parent", "client").
        ``success_recoverable``: ``recover`` finds the stored result whatever happened
        after ``persist``, so the success marker may wait for the pass's next marker."""
        self.key = key
        self._defer_success = success_recoverable
        if await recover():
            if self.unresolved:
                await self._annotate(CREATE_SUCCEEDED_ANNOTATION)
            return None
        found = self.pending()
        if self.unresolved and found and nothing_created is not None and await nothing_created(
            found[0]
        ):
            await self._clear_pending()
        if self.unresolved and found:
            raise Blocked(
                CREATION_RESULT_UNKNOWN,
                f"an earlier attempt to create {what} (started "
                f"{found[0]}) may have succeeded, but "
                f"its result was lost; the operator will not create it again. "
                f"{await candidates()} {how_to_resolve}",
            )
        if reserve is not None:
            await reserve()
        if not _leadership():
            raise Waiting("NotLeader", "this operator process does not hold the leader Lease "
                          "(anymore); only the leader creates", delay=5,
                          phase=self.obj.status.get("phase"))
        await self._annotate(CREATE_PENDING_ANNOTATION, compare_and_swap=True)
        task = asyncio.ensure_future(self._call_and_persist(
            what, call, persist, candidates, definitely_failed, how_to_resolve))
        IN_FLIGHT.add(task)
        task.add_done_callback(IN_FLIGHT.discard)
        # A cancelled reconcile (shutdown, a timeout) must not cut a create in half: the
        # create, the Secret write and the marker go on; the shutdown waits for them.
        return await asyncio.shield(task)

    async def _call_and_persist(
        self,
        what: str,
        call: Callable[[], Awaitable[R]],
        persist: Callable[[R], Awaitable[None]],
        candidates: Callable[[], Awaitable[str]],
        definitely_failed: Callable[[BaseException], bool],
        how_to_resolve: str,
    ) -> R:
        try:
            result = await call()
        except BaseException as exc:
            if definitely_failed(exc):
                # Nothing was created: withdraw the marker so a later attempt may proceed.
                await self._clear_pending()
                raise
            raise Blocked(
                CREATION_RESULT_UNKNOWN,
                f"the request to create {what} got no usable answer "
                f"({type(exc).__name__}); it may have succeeded. The operator will not "
                f"create it again. {await candidates()} {how_to_resolve}",
            ) from None
        await self._persist(what, result, persist)
        if self._defer_success:
            # known here at once (``pending`` reads it), stored with the next marker
            self.obj.metadata.setdefault("annotations", {})[CREATE_SUCCEEDED_ANNOTATION] = \
                precise_now()
            self._success_unwritten = True
        else:
            await self._annotate(CREATE_SUCCEEDED_ANNOTATION)
        return result

    async def flush(self) -> None:
        """Store a success marker still unwritten when the pass ends. Failing is harmless:
        the marker stays pending and the next pass's ``recover`` settles it."""
        if not self._success_unwritten:
            return
        try:
            await self._annotate(CREATE_SUCCEEDED_ANNOTATION)
        except Exception as exc:
            log.warning("%s: storing a create's success marker failed (%s); the next pass "
                        "recovers the stored result", self.obj.ref(), type(exc).__name__)

    async def _clear_pending(self) -> None:
        await self.kube.patch_annotations(
            self.obj.info, self.obj.namespace, self.obj.name, {CREATE_PENDING_ANNOTATION: None}
        )
        self.obj.metadata.setdefault("annotations", {}).pop(CREATE_PENDING_ANNOTATION, None)

    async def _persist(self, what: str, result: R, persist: Callable[[R], Awaitable[None]]) -> None:
        """Store the once-shown result, retrying hard: losing it is the worst failure."""
        delay = self.persist_backoff
        for attempt in range(1, self.persist_attempts + 1):
            try:
                await persist(result)
                return
            except Exception as exc:
                log.error(
                    "storing the result of creating %s failed (attempt %d/%d): %s",
                    what, attempt, self.persist_attempts, type(exc).__name__,
                )
                if attempt == self.persist_attempts:
                    raise Blocked(
                        CREATION_RESULT_UNKNOWN,
                        f"{what} was created but its result could not be stored "
                        f"({type(exc).__name__}); fix access to Secrets, then adopt it.",
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
