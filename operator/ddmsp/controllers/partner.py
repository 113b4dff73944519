"""DatadogPartner: check the partner's keys and report what they may do.

Reconciled by the engine like every kind (reconcile/engine.py), cluster-scoped, as an
observe-only kind: its observation *is* the check, and it never creates, changes or deletes
anything in Datadog (the partner org exists by definition: it is what the keys belong to),
so it holds no finalizer and its deletion is immediate. The check asks Datadog whether the
keys are valid (``/api/v1/validate``) and whether they may manage orgs (the org listing
needs org_management); the cost refresher adds what it learns about usage_read/billing_read
(``merge_cost_status``). Both write conditions and ``missingPermissions``: the engine's
status write merges conditions by type and ``missingPermissions`` as a set
(``set_status_keys``), so neither erases the other's part. A Ready partner is checked again
every ``--cost-refresh-interval`` seconds (its drift interval); a failed check waits and is
retried with the engine's backoff, Datadog's errors read by the one shared translation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from ddmsp.config import OperatorSettings
from ddmsp.controllers.costs import COST_PERMISSIONS, PartnerView
from ddmsp.controllers.datadog_access import DatadogClients, DatadogConnector
from ddmsp.controllers.partners import list_partners, partner_from_object
from ddmsp.datadog import AuthenticationError
from ddmsp.datadog.errors import ForbiddenError
from ddmsp.reconcile import conditions as cond
from ddmsp.reconcile.conditions import now_rfc3339
from ddmsp.reconcile.external import ExternalClient, Observation, ReconcileContext
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.outcomes import ReconcileOutcome, Waiting
from ddmsp.reconcile.statuswrite import update_status
from ddmsp.resources.partner import PARTNER, DatadogPartnerSpec

if TYPE_CHECKING:
    from ddmsp.controllers.costrefresh import CostRefresher

ORG_MANAGEMENT = "org_management"


async def update_partner_status(kube: KubeAPI, name: str,
                                mutate: Callable[[dict[str, Any]], bool | None],
                                body: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Apply one writer's change to a DatadogPartner's status (cluster-scoped) under a
    resourceVersion precondition: the cost merge must not erase what the engine's check
    wrote meanwhile (reconcile/statuswrite.py). Returns the status written, None when the
    object is gone."""
    written = await update_status(kube, PARTNER, "", name, mutate, body=body)
    return None if written is None else dict(written.get("status") or {})


class PartnerConnector(DatadogConnector):
    """The engine's view of a DatadogPartner: one check per pass, nothing ever written in
    Datadog. A new generation seen (create, a spec change, the first pass after a start)
    pokes the cost refresher, whose groups follow the partners."""

    # The cost refresher writes usage_read/billing_read into the same list (merge_cost_status)
    set_status_keys: tuple[str, ...] = ("missingPermissions",)

    def __init__(self, settings: OperatorSettings, clients: DatadogClients,
                 refresher: CostRefresher | None = None) -> None:
        super().__init__(settings, clients)
        self.refresher = refresher
        self._poked: dict[str, int] = {}  # uid -> generation the refresher was poked for

    async def connect(self, ctx: ReconcileContext) -> ExternalClient:
        obj = ctx.obj
        if self.refresher is not None and self._poked.get(obj.uid) != obj.generation:
            self._poked[obj.uid] = obj.generation
            self.refresher.poke()
        return PartnerCheck(self, ctx)


class PartnerCheck:
    """One pass's check of a partner's keys; writes the status (never the keys)."""

    def __init__(self, connector: PartnerConnector, ctx: ReconcileContext) -> None:
        self.connector = connector
        self.ctx = ctx

    async def observe(self) -> Observation:
        """The check; a second default partner names itself before any other finding."""
        obj = self.ctx.obj
        obj.status["checkedAt"] = now_rfc3339()
        failure: BaseException | None = None
        try:
            found = await self._probe()
        except Exception as exc:  # judged after the default check below
            failure, found = exc, None
        spec: DatadogPartnerSpec = obj.spec
        others = [p["metadata"]["name"] for p in await list_partners(self.ctx.kube)
                  if (p.get("spec") or {}).get("default") and p["metadata"]["name"] != obj.name]
        if spec.default and others:
            raise Waiting(
                "DefaultConflict",
                f"DatadogPartner {', '.join(others)} is also marked default: no default is "
                "used until only one is; clients with spec.partnerRef are unaffected",
                delay=self.connector.settings.wait_poll)
        if failure is not None or found is None:
            raise failure or RuntimeError("the check found nothing")
        return found

    async def _probe(self) -> Observation:
        obj = self.ctx.obj
        status = obj.status
        try:
            choice = await partner_from_object(self.ctx.kube, obj.body)
        except ReconcileOutcome:
            status["keysValid"] = False
            raise
        dd = self.connector.clients.get(choice.credentials, obj.spec.site)
        where = choice.where
        missing = {p for p in status.get("missingPermissions") or [] if p != ORG_MANAGEMENT}
        delay = max(self.connector.settings.wait_poll, self.connector.settings.permission_recheck)
        if not await dd.validate():
            status["keysValid"] = False
            raise Waiting("KeysInvalid", f"Datadog refused the API key in {where}: put valid "
                          "keys of the partner org there", delay=delay)
        try:
            orgs = await dd.list_orgs()
        except ForbiddenError:
            # Valid keys without org_management: recorded, then the shared translation
            # names the permission and its fix (MissingPermission).
            status["keysValid"] = True
            status["missingPermissions"] = sorted(missing | {ORG_MANAGEMENT})
            raise
        except AuthenticationError:
            status["keysValid"] = False
            raise Waiting("KeysInvalid", f"Datadog refused the application key in {where}: "
                          "put a valid application key of the partner org there",
                          delay=delay) from None
        status["keysValid"] = True
        if orgs:
            status["orgPublicId"] = orgs[0].public_id
        status["missingPermissions"] = sorted(missing)
        lacking = [p for p in COST_PERMISSIONS if p in missing]
        if lacking:
            return Observation(exists=True, reason="CostUnreadable", message=(
                f"keys valid; they lack {', '.join(lacking)}: cost and usage cannot be read "
                "(provisioning is unaffected)"))
        return Observation(exists=True, reason="KeysValid",
                           message=f"keys in {where} are valid and may manage orgs")

    async def create(self) -> NoReturn:
        raise _observe_only()

    async def update(self, observation: Observation) -> NoReturn:
        raise _observe_only()

    async def delete(self) -> NoReturn:
        raise _observe_only()


def _observe_only() -> Exception:
    """The engine calls none of these: every observation exists and is up to date."""
    return NotImplementedError("a DatadogPartner is observed only: nothing is written in "
                               "Datadog")


COST_READABLE = "CostReadable"


async def merge_cost_status(kube: KubeAPI, name: str, view: PartnerView,
                            totals: dict[str, Any], clients: int) -> None:
    """Write a refresh's partner-wide figures and cost permissions into the partner's status."""
    lacking = [p for p in COST_PERMISSIONS if p in view.missing_permissions]

    def merged(status: dict[str, Any]) -> None:
        """The refresh's own part, applied to the status as it is now: the checker's
        Ready condition and its org_management finding stay."""
        status["clients"] = clients
        kept = [p for p in status.get("missingPermissions") or [] if p not in COST_PERMISSIONS]
        status["missingPermissions"] = sorted({*kept, *view.missing_permissions})
        conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
        if lacking:
            cond.set_condition(conditions, COST_READABLE, False, "MissingPermission",
                               f"the partner's keys lack {', '.join(lacking)}: cost and usage "
                               "cannot be read (provisioning is unaffected); grant them to the "
                               "application key's user or scope")
        elif view.estimated is None:
            cond.set_condition(conditions, COST_READABLE, False, "CostUnavailable",
                               "; ".join(view.problems)[:800] or "cost could not be read")
        else:
            cond.set_condition(conditions, COST_READABLE, True, "CostRead",
                               f"{totals.get('orgs', 0)} customer orgs in the partner's view")
        if view.estimated is not None:
            status["cost"] = {**{k: v for k, v in totals.items() if v is not None},
                              "refreshedAt": now_rfc3339(), "calls": view.calls}

    await update_partner_status(kube, name, merged)
