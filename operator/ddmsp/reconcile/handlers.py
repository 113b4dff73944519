"""kopf wiring for any kind: the same handlers, timer and deletion for every kind.

create/update/resume all run one level-based reconcile; a jittered timer re-checks Ready
objects for drift; deletion applies the policy. Outcomes map onto kopf's retry model:
``Waiting`` -> ``TemporaryError(delay)``, ``Blocked`` -> ``PermanentError`` (re-handled
when the object changes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import kopf

from ddmsp.reconcile.conditions import READY, get_condition
from ddmsp.reconcile.engine import Reconciler, Result
from ddmsp.resources.kinds import KindInfo


def _raise_for(result: Result) -> None:
    if result.stalled:
        raise kopf.PermanentError(result.message)
    if result.requeue_after is not None:
        raise kopf.TemporaryError(result.message or "requeue", delay=result.requeue_after)


def jitter(uid: str, interval: float) -> float:
    """A stable per-object offset in [0, 20%) of the interval: spreads drift checks."""
    digest = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16)
    return (digest / 0xFFFFFFFF) * interval * 0.2


def register_kind(
    registry: kopf.OperatorRegistry,
    info: KindInfo,
    reconciler: Callable[[], Reconciler],
    *,
    drift_interval: float,
    needs_finalizer: bool,
) -> None:
    """Register the handlers of one kind; ``reconciler`` is resolved at call time."""
    group, version, plural = info.group, info.version, info.plural

    async def reconcile(**kwargs: Any) -> None:
        _raise_for(await reconciler().reconcile(kwargs["namespace"], kwargs["name"]))

    for decorator in (kopf.on.resume, kopf.on.create, kopf.on.update):
        decorator(group, version, plural, registry=registry, id="reconcile",
                  backoff=10)(reconcile)

    async def drift(**kwargs: Any) -> None:
        status, uid, stopped = kwargs["status"], kwargs["uid"], kwargs["stopped"]
        ready = get_condition(list((status or {}).get("conditions") or []), READY)
        if ready is None or (ready.get("status") != "True"
                             and ready.get("reason") != "DriftDetected"):
            return  # not settled yet: the create/update handler owns progress
        await stopped.wait(jitter(uid, drift_interval))
        if stopped:
            return
        await reconciler().reconcile(kwargs["namespace"], kwargs["name"], drift_check=True)

    kopf.timer(group, version, plural, registry=registry, id="drift",
               interval=drift_interval, initial_delay=drift_interval * 0.1)(drift)

    async def delete(**kwargs: Any) -> None:
        _raise_for(await reconciler().finalize(dict(kwargs["body"])))

    kopf.on.delete(group, version, plural, registry=registry, id="finalize",
                   optional=not needs_finalizer, backoff=10)(delete)
