"""The cost and usage refresher: every interval, one view per partner, every client updated.

Clients are grouped by the partner whose keys serve them (``status.partner``); each group
costs one ``ViewReader.read`` (a handful of calls), never a call per client. Each client then
gets ``status.cost``, ``status.usage`` and, with a ``spec.budget``, ``status.budget``, the
``BudgetWarning``/``BudgetExceeded`` conditions and an event per threshold per month. Status
writes carry the object's resourceVersion (a conflict re-reads and retries), so the refresher
never overwrites what the reconciler wrote in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import kopf
from kubernetes import client

from ddmsp import clock, metrics
from ddmsp.config import OperatorSettings
from ddmsp.controllers import cost_metrics
from ddmsp.controllers.budget import BUDGET_EXCEEDED, BUDGET_WARNING, judge
from ddmsp.controllers.costs import PartnerView, ViewReader, client_cost, client_usage
from ddmsp.controllers.datadog_access import DatadogClients
from ddmsp.controllers.partners import PartnerChoice, credentials_for_key, resolve_partner
from ddmsp.datadog.retry import RATE_LIMIT_PATIENCE
from ddmsp.reconcile import conditions as cond
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.outcomes import ReconcileOutcome
from ddmsp.resources import CLIENT_ORG, PARTNER
from ddmsp.resources.clientorg import DatadogClientOrgSpec

log = logging.getLogger(__name__)

POKE_MIN_INTERVAL = 30.0  # a new client triggers a refresh at most this often
REFRESH_RATE_LIMIT_PATIENCE = 60.0  # seconds of a rate-limit reset waited out in a refresh


@dataclass
class Client:
    """One DatadogClientOrg with an org, as the refresher sees it."""

    body: dict[str, Any]
    public_id: str
    partner: PartnerChoice

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])


class CostRefresher:
    """Runs the refresh loop; ``poke()`` asks for an early refresh (a new client)."""

    def __init__(self, settings: OperatorSettings, kube: KubeAPI, clients: DatadogClients,
                 now: Callable[[], datetime] = clock.now) -> None:
        self.settings = settings
        self.kube = kube
        self.clients = clients
        self.now = now
        self.reader = ViewReader()
        self.series = cost_metrics.ClientSeries()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_run = 0.0
        self.last_views: dict[str, PartnerView] = {}
        # thresholds announced by this process, per client and month: a status write by the
        # reconciler that raced ours (and carried the older status.budget) cannot make a
        # threshold announce twice
        self._announced: dict[tuple[str, str, str], set[str]] = {}
        self._rejudging: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ the loop
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def poke(self) -> None:
        self._wake.set()

    def rejudge(self, namespace: str, name: str) -> None:
        """Judge one client's budget again now, from the last view read (no Datadog call):
        a budget added or changed is judged at once, not at the next hourly refresh. With
        no view yet (a restart), an early refresh is asked for instead."""
        task = asyncio.get_running_loop().create_task(self._rejudge(namespace, name))
        self._rejudging.add(task)
        task.add_done_callback(self._rejudging.discard)

    async def _rejudge(self, namespace: str, name: str) -> None:
        try:
            body = await self.kube.get_fresh(CLIENT_ORG, namespace, name)
            member = await self._client(body) if body is not None else None
            view = self.last_views.get(member.partner.key) if member is not None else None
            if member is None or view is None:
                self.poke()
                return
            await self._update_client(member, view)
        except Exception as exc:  # advisory: the next refresh judges it anyway
            log.info("%s/%s: budget not judged now (%s); the next cost refresh will",
                     namespace, name, type(exc).__name__)

    async def _loop(self) -> None:
        # This loop holds no reconcile worker: it may wait out a rate-limit reset (as it
        # always did), where a reconcile pass gives its worker back (datadog/retry.py).
        RATE_LIMIT_PATIENCE.set(REFRESH_RATE_LIMIT_PATIENCE)
        while True:
            started = time.monotonic()
            try:
                await self.refresh_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive anything: cost is advisory
                log.exception("cost refresh failed; next attempt in %.0fs",
                              self.settings.cost_refresh_interval)
            self._last_run = started
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.cost_refresh_interval)
            # a poke refreshes early, but never more often than POKE_MIN_INTERVAL
            floor = min(POKE_MIN_INTERVAL, self.settings.cost_refresh_interval)
            wait = floor - (time.monotonic() - started)
            if wait > 0:
                await asyncio.sleep(wait)

    # --------------------------------------------------------------- one refresh
    async def refresh_once(self) -> dict[str, PartnerView]:
        """Read every partner's view once and update every client; returns the views."""
        bodies = await self._list_client_orgs()
        groups: dict[tuple[str, str, str], list[Client]] = {}
        for body in bodies:
            found = await self._client(body)
            if found is None:
                continue
            site = str((body.get("spec") or {}).get("site") or "datadoghq.com")
            group = (found.partner.key, found.partner.credentials.fingerprint(),
                     found.partner.site or site)
            groups.setdefault(group, []).append(found)
        seen: set[tuple[str, str]] = set()
        views: dict[str, PartnerView] = {}
        for (key, _, site), members in groups.items():
            dd = self.clients.get(members[0].partner.credentials, site)
            view = await self.reader.read(dd, self.now())
            views[key] = view
            log.info("cost refresh for %s: %d clients, %d Datadog calls%s", key, len(members),
                     view.calls, f" ({'; '.join(view.problems)})" if view.problems else "")
            for member in members:
                seen.add((member.namespace, member.name))
                await self._update_client(member, view)
            await self._update_partner(key, view, len(members))
        for gone in self.series.known():
            if gone not in seen:
                self.series.remove(*gone)
        months = {v.month for v in views.values()}
        self._announced = {k: v for k, v in self._announced.items()
                           if k[2] in months and k[:2] in seen}
        self.last_views = views
        return views

    async def _client(self, body: dict[str, Any]) -> Client | None:
        status = body.get("status") or {}
        public_id = (status.get("clientOrg") or {}).get("publicId")
        if not public_id:
            return None
        namespace = body["metadata"]["namespace"]
        key = status.get("partner")
        try:
            if key:
                choice = await credentials_for_key(self.kube, self.settings, key, namespace)
            else:  # created before partners were recorded: resolve by today's policy
                spec = DatadogClientOrgSpec.model_validate(body.get("spec") or {})
                choice = await resolve_partner(self.kube, self.settings, namespace, spec)
        except ReconcileOutcome as outcome:
            log.info("%s/%s: no cost refresh: %s", namespace, body["metadata"]["name"],
                     outcome.reason)
            return None
        except Exception as exc:  # a bad spec or Secret: skip this client only
            log.info("%s/%s: no cost refresh: %s", namespace, body["metadata"]["name"],
                     type(exc).__name__)
            return None
        return None if choice is None else Client(body, str(public_id), choice)

    async def _update_client(self, member: Client, view: PartnerView) -> None:
        cost = client_cost(view, member.public_id)
        usage = client_usage(view, member.public_id)
        spec = member.body.get("spec") or {}
        budget_spec = spec.get("budget")
        display = str(spec.get("displayName") or member.name)
        for attempt in range(3):
            body = member.body if attempt == 0 else await self.kube.get_fresh(
                CLIENT_ORG, member.namespace, member.name)  # after a 409: the server's
            if body is None:
                return
            status = copy.deepcopy(body.get("status") or {})
            patch: dict[str, Any] = {}
            if cost is not None:
                patch["cost"] = _with_updated_at(cost, status.get("cost"))
            if usage is not None:
                patch["usage"] = usage
            conditions = copy.deepcopy(status.get("conditions") or [])
            announce: list[tuple[str, str]] = []
            ratios: dict[str, float] = {}
            effective = patch.get("cost") or status.get("cost")
            if budget_spec and effective and effective.get("month") == view.month:
                memory = self._announced.setdefault(
                    (member.namespace, member.name, view.month), set())
                previous = dict(status.get("budget") or {})
                if previous.get("month") != view.month:
                    previous = {"month": view.month, "notified": []}
                previous["notified"] = [*previous.get("notified", []),
                                        *sorted(memory - set(previous.get("notified", [])))]
                judged = judge(budget_spec, effective, previous)
                patch["budget"] = judged.status
                announce, ratios = judged.announce, judged.ratios
                for ctype, (value, reason, message) in judged.conditions.items():
                    cond.set_condition(conditions, ctype, value, reason, message)
            elif not budget_spec:
                if status.get("budget") is not None:
                    patch["budget"] = None  # merge patch: removes the key on the server
                conditions = [c for c in conditions
                              if c.get("type") not in (BUDGET_WARNING, BUDGET_EXCEEDED)]
            if conditions != (status.get("conditions") or []):
                patch["conditions"] = conditions
            if not patch or all(status.get(k) == v for k, v in patch.items()):
                break
            try:
                await self.kube.patch_status(
                    CLIENT_ORG, member.namespace, member.name, patch,
                    resource_version=body["metadata"].get("resourceVersion"))
            except client.ApiException as exc:
                if exc.status == 409:
                    continue  # the reconciler wrote meanwhile: re-read and redo
                if exc.status == 404:
                    return
                raise
            if budget_spec and "budget" in patch and patch["budget"]:
                self._announced[(member.namespace, member.name, view.month)] = set(
                    patch["budget"]["notified"])
            for reason, message in announce:  # after the write: never twice, even on a crash
                await self.kube.post_event(body, "Warning", reason, message)
            break
        budget = float(budget_spec["monthlyLimit"]) if budget_spec else None
        self.series.set(member.namespace, member.name, member.public_id, display, cost,
                        budget, ratios)

    async def _update_partner(self, key: str, view: PartnerView, clients: int) -> None:
        label = key
        totals = view.totals()
        if view.estimated is not None:
            metrics.PARTNER_ESTIMATED.labels(label).set(float(totals["estimatedTotal"]))
            metrics.PARTNER_REFRESHED.labels(label).set(time.time())
        if view.projected is not None:
            metrics.PARTNER_PROJECTED.labels(label).set(float(totals["projectedTotal"]))
        metrics.PARTNER_CALLS.labels(label).set(view.calls)
        kind, _, name = key.partition("/")
        if kind != PARTNER.kind:
            return
        from ddmsp.controllers.partner import merge_cost_status  # avoid an import cycle

        await merge_cost_status(self.kube, name, view, totals, clients)

    # --------------------------------------------------------------- kubernetes
    async def _list_client_orgs(self) -> list[dict[str, Any]]:
        return await self.kube.list_objects(CLIENT_ORG, self.settings.namespaces)


def _with_updated_at(cost: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """``updatedAt`` moves only when a figure changes (read times move every refresh)."""
    figures = ("month", "estimatedTotal", "projectedTotal", "lastMonthTotal", "topProducts")
    prev = previous or {}
    changed = any(prev.get(k) != cost.get(k) for k in figures)
    stamp = cond.now_rfc3339() if changed or not prev.get("updatedAt") else prev["updatedAt"]
    out = {k: v for k, v in cost.items() if v is not None}
    out["updatedAt"] = stamp
    # a field that disappeared (projection not yet published) must be removed on the server
    for k in ("projectedTotal", "projectedAt", "lastMonth", "lastMonthTotal", "lastMonthAt"):
        if k in prev and k not in out:
            out[k] = None
    return out


def register_cost_refresher(registry: kopf.OperatorRegistry, refresher: CostRefresher) -> None:
    """Run the refresher with the operator, and forget a deleted client's cost series."""

    @kopf.on.startup(registry=registry)
    async def start_refresher(**_: Any) -> None:
        refresher.start()

    @kopf.on.cleanup(registry=registry)
    async def stop_refresher(**_: Any) -> None:
        await refresher.stop()

    @kopf.on.delete(CLIENT_ORG.group, CLIENT_ORG.version, CLIENT_ORG.plural,
                    registry=registry, id="cost-series", optional=True)
    async def forget_series(**kwargs: Any) -> None:
        refresher.series.remove(kwargs["namespace"], kwargs["name"])
