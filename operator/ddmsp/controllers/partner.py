"""DatadogPartner: check the partner's keys and report what they may do.

Cluster-scoped, so it does not go through the namespaced engine: a small check on
create/update/resume and on a timer. The check asks Datadog whether the keys are valid
(``/api/v1/validate``) and whether they may manage orgs (the org listing needs
org_management); the cost refresher adds what it learns about usage_read/billing_read.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import kopf

from ddmsp.config import OperatorSettings
from ddmsp.controllers.costs import COST_PERMISSIONS, PartnerView
from ddmsp.controllers.datadog_access import DatadogClients
from ddmsp.controllers.partners import get_partner, list_partners, partner_from_object
from ddmsp.datadog import AuthenticationError, DatadogError
from ddmsp.datadog.errors import ForbiddenError
from ddmsp.reconcile import conditions as cond
from ddmsp.reconcile.conditions import now_rfc3339
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.outcomes import ReconcileOutcome
from ddmsp.reconcile.statuswrite import update_status
from ddmsp.resources.clientorg import CLIENT_ORG
from ddmsp.resources.partner import PARTNER, DatadogPartnerSpec

if TYPE_CHECKING:
    from ddmsp.controllers.costrefresh import CostRefresher

log = logging.getLogger(__name__)

ORG_MANAGEMENT = "org_management"


async def update_partner_status(kube: KubeAPI, name: str,
                                mutate: Callable[[dict[str, Any]], bool | None],
                                body: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Apply one writer's change to a DatadogPartner's status (cluster-scoped) under a
    resourceVersion precondition: the checker and the cost merge both write conditions
    and ``missingPermissions``, and neither may erase what the other wrote meanwhile
    (reconcile/statuswrite.py). Returns the status written, None when the object is gone."""
    written = await update_status(kube, PARTNER, "", name, mutate, body=body)
    return None if written is None else dict(written.get("status") or {})


class PartnerChecker:
    """Validates one DatadogPartner's keys and writes its status (never the keys)."""

    def __init__(self, settings: OperatorSettings, kube: KubeAPI, clients: DatadogClients,
                 on_change: Callable[[], Awaitable[None]] | None = None) -> None:
        self.settings = settings
        self.kube = kube
        self.clients = clients
        self.on_change = on_change

    async def check(self, name: str) -> dict[str, Any] | None:
        """One check; returns the status written (None when the object is gone)."""
        body = await get_partner(self.kube, name)
        if body is None:
            return None
        probed = copy.deepcopy(body.get("status") or {})
        generation = int(body["metadata"].get("generation", 0))
        spec = DatadogPartnerSpec.model_validate(body.get("spec") or {})
        ready, reason, message = await self._probe(body, spec, probed)
        others = [p["metadata"]["name"] for p in await list_partners(self.kube)
                  if (p.get("spec") or {}).get("default") and p["metadata"]["name"] != name]
        if spec.default and others:
            ready, reason = False, "DefaultConflict"
            message = (f"DatadogPartner {', '.join(others)} is also marked default: no default "
                       "is used until only one is; clients with spec.partnerRef are unaffected")
        org_management_missing = ORG_MANAGEMENT in (probed.get("missingPermissions") or [])

        def checked(status: dict[str, Any]) -> bool:
            """The check's own part, applied to the status as it is now (again after a
            conflict): the cost merge's permissions and condition stay."""
            old = copy.deepcopy(status)
            for key in ("keysValid", "orgPublicId"):
                if key in probed:
                    status[key] = probed[key]
            if "missingPermissions" in probed or "missingPermissions" in status:
                kept = {p for p in status.get("missingPermissions") or []
                        if p != ORG_MANAGEMENT}
                if org_management_missing:
                    kept.add(ORG_MANAGEMENT)
                status["missingPermissions"] = sorted(kept)
            conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
            cond.set_condition(conditions, cond.READY, ready, reason, message, generation)
            status["checkedAt"] = now_rfc3339()
            status["observedGeneration"] = generation
            return _without_times(status) != _without_times(old) or not old.get("checkedAt")

        return await update_partner_status(self.kube, name, checked, body)

    async def _probe(self, body: dict[str, Any], spec: DatadogPartnerSpec,
                     status: dict[str, Any]) -> tuple[bool, str, str]:
        name = body["metadata"]["name"]
        try:
            choice = await partner_from_object(self.kube, body)
        except ReconcileOutcome as outcome:
            status["keysValid"] = False
            return False, outcome.reason, outcome.message
        dd = self.clients.get(choice.credentials, spec.site)
        where = choice.where
        missing = [p for p in status.get("missingPermissions") or [] if p != ORG_MANAGEMENT]
        try:
            if not await dd.validate():
                status["keysValid"] = False
                return False, "KeysInvalid", (f"Datadog refused the API key in {where}: put "
                                              f"valid keys of the partner org there")
            orgs = await dd.list_orgs()
        except ForbiddenError:
            missing.append(ORG_MANAGEMENT)
            orgs = []
        except AuthenticationError:
            status["keysValid"] = False
            return False, "KeysInvalid", (f"Datadog refused the application key in {where}: "
                                          "put a valid application key of the partner org there")
        except DatadogError as exc:
            return False, "DatadogUnavailable", f"checking the keys failed: {exc}"
        status["keysValid"] = True
        if orgs:
            status["orgPublicId"] = orgs[0].public_id
        status["missingPermissions"] = sorted(set(missing))
        if ORG_MANAGEMENT in missing:
            return False, "MissingPermission", (
                f"the keys in {where} lack the Datadog permission {ORG_MANAGEMENT}: they cannot "
                "create or spin off orgs. Give the application key's user (or the scoped key) "
                f"that permission in the partner org, then the operator re-checks ({name})")
        lacking = [p for p in COST_PERMISSIONS if p in missing]
        if lacking:
            return True, "CostUnreadable", (
                f"keys valid; they lack {', '.join(lacking)}: cost and usage cannot be read "
                "(provisioning is unaffected)")
        return True, "KeysValid", f"keys in {where} are valid and may manage orgs"


def _without_times(status: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in status.items() if k != "checkedAt"}
    out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                         for c in status.get("conditions") or []]
    return out


def register_partner(registry: kopf.OperatorRegistry, checker: Callable[[], PartnerChecker],
                     interval: float) -> None:
    """Handlers for DatadogPartner: check on create/update/resume and every ``interval``."""
    group, version, plural = PARTNER.group, PARTNER.version, PARTNER.plural

    async def check(**kwargs: Any) -> None:
        await checker().check(cast(str, kwargs["name"]))
        on_change = checker().on_change
        if on_change is not None and kwargs.get("reason") in ("create", "update", "resume"):
            await on_change()

    for decorator in (kopf.on.resume, kopf.on.create, kopf.on.update):
        decorator(group, version, plural, registry=registry, id="check", backoff=30)(check)

    async def timer(**kwargs: Any) -> None:
        await checker().check(cast(str, kwargs["name"]))

    kopf.timer(group, version, plural, registry=registry, id="recheck",
               interval=interval, initial_delay=interval)(timer)


def register_partner_kind(registry: kopf.OperatorRegistry, settings: OperatorSettings,
                          kube: KubeAPI, clients: DatadogClients,
                          refresher: CostRefresher | None = None) -> PartnerChecker:
    """Wire the DatadogPartner checks and the cost refresher into the operator's registry."""
    on_change = None
    if refresher is not None:
        cost_refresher = refresher

        async def poke() -> None:
            cost_refresher.poke()

        on_change = poke

        @kopf.on.startup(registry=registry)
        async def start_refresher(**_: Any) -> None:
            cost_refresher.start()

        @kopf.on.cleanup(registry=registry)
        async def stop_refresher(**_: Any) -> None:
            await cost_refresher.stop()

        @kopf.on.delete(CLIENT_ORG.group, CLIENT_ORG.version, CLIENT_ORG.plural,
                        registry=registry, id="cost-series", optional=True)
        async def forget_series(**kwargs: Any) -> None:
            cost_refresher.series.remove(kwargs["namespace"], kwargs["name"])

    partner_checker = PartnerChecker(settings, kube, clients, on_change)
    register_partner(registry, lambda: partner_checker, settings.cost_refresh_interval)
    return partner_checker


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
