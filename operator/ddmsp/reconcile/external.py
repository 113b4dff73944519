"""The contract between the engine and a kind: connect, then observe/create/update/delete.

Modelled on crossplane-runtime's managed reconciler. A kind supplies a ``Connector``
that builds an ``ExternalClient`` for one object (resolving credentials); the engine
owns conditions, events, policies, pause, retries and status writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ddmsp.reconcile.createguard import CreateGuard
    from ddmsp.reconcile.kube import KubeAPI
    from ddmsp.reconcile.managed import ManagedObject
    from ddmsp.reconcile.outcomes import ReconcileOutcome


@dataclass
class Observation:
    """What the external system holds compared with the spec."""

    exists: bool
    up_to_date: bool = True
    diff: list[str] = field(default_factory=list)
    phase: str | None = None
    message: str = ""
    # The differences found in the external system itself (not a spec change waiting to
    # be applied): the engine records them as ``status.drift`` once the generation was
    # applied (reconcile/drift.py), so no kind writes drift itself.
    drift: list[str] = field(default_factory=list)
    # The Ready reason when this observation settles the object ("Available" when empty):
    # an observe-only kind names what it found (a DatadogPartner's KeysValid).
    reason: str = ""


class ExternalClient(Protocol):
    async def observe(self) -> Observation: ...

    async def create(self) -> None: ...

    async def update(self, observation: Observation) -> None: ...

    async def delete(self) -> None: ...


@dataclass
class ReconcileContext:
    """What an external client may use while reconciling one object."""

    obj: ManagedObject
    kube: KubeAPI
    guard: CreateGuard
    save_status: Callable[[], Awaitable[None]]
    event: Callable[[str, str, str], Awaitable[None]]
    drift_check: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    """What a kind gives the engine: a client per pass, one translation of its external
    system's errors, and two declarations the engine acts on.

    Optional: ``async explain(ctx, exc)``, called when a pass ends, with its error (None
    when it succeeded): an outcome it returns replaces ``translate_error``'s, for causes
    only a further look at the external system tells apart (a refused key or a missing
    permission: both are Datadog's 403; controllers/datadog_access.py). And
    ``set_status_keys``: status lists another writer shares, merged as sets on each status
    write (reconcile/statuswrite.py ``rebase``)."""

    @property
    def applied_keys(self) -> tuple[str, ...]:
        """Status keys proving the object already acted on the external system: drift is
        recorded only after one is set (reconcile/drift.py). Empty: the kind reports none."""
        ...

    @property
    def identity_keys(self) -> tuple[str, ...]:
        """Status keys naming the external object: a change of any wakes the kind's
        dependents (handlers.py; a role's ID and name for its SAML configs and users)."""
        ...

    async def connect(self, ctx: ReconcileContext) -> ExternalClient: ...

    def translate_error(self, exc: BaseException) -> ReconcileOutcome | None:
        """Map an external-system error to Waiting/Blocked, or None to treat it as a bug."""
        ...
