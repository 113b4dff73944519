"""The crash-safe create protocol for non-idempotent creates whose result is shown once.

1. ``recover`` first: if the result is already stored (a Secret holding the keys), use
   it and never call the API again; this also re-attaches a re-applied resource.
2. A ``create-pending`` annotation newer than ``create-succeeded`` means an earlier
   attempt's outcome is unknown. Unless ``nothing_created`` proves that no object came
   of it (e.g. a crash before the request was sent, checked after a settle time), never
   create again: raise ``Blocked`` (``CreationResultUnknown``) naming the candidates a
   human can adopt.
3. Otherwise persist ``create-pending`` *before* the call, ``persist`` the result right
   after it (Secret first, then status), then set ``create-succeeded``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.managed import (
    CREATE_PENDING_ANNOTATION,
    CREATE_SUCCEEDED_ANNOTATION,
    ManagedObject,
)
from ddmsp.reconcile.outcomes import Blocked

R = TypeVar("R")
log = logging.getLogger(__name__)

CREATION_RESULT_UNKNOWN = "CreationResultUnknown"


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

    @property
    def unresolved(self) -> bool:
        ann = self.obj.annotations
        pending = ann.get(CREATE_PENDING_ANNOTATION, "")
        return bool(pending) and pending > ann.get(CREATE_SUCCEEDED_ANNOTATION, "")

    async def _annotate(self, key: str) -> None:
        updated = await self.kube.patch_annotations(
            self.obj.info, self.obj.namespace, self.obj.name, {key: precise_now()}
        )
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
    ) -> R | None:
        """Create ``what`` at most once; returns None when an earlier result was recovered."""
        if await recover():
            if self.unresolved:
                await self._annotate(CREATE_SUCCEEDED_ANNOTATION)
            return None
        if self.unresolved and nothing_created is not None and await nothing_created(
            self.obj.annotations[CREATE_PENDING_ANNOTATION]
        ):
            await self._clear_pending()
        if self.unresolved:
            raise Blocked(
                CREATION_RESULT_UNKNOWN,
                f"an earlier attempt to create {what} (started "
                f"{self.obj.annotations[CREATE_PENDING_ANNOTATION]}) may have succeeded, but "
                f"its result was lost; the operator will not create it again. "
                f"{await candidates()} {how_to_resolve}",
            )
        await self._annotate(CREATE_PENDING_ANNOTATION)
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
        await self._annotate(CREATE_SUCCEEDED_ANNOTATION)
        return result

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
