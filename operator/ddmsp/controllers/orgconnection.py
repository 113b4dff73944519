"""DatadogOrgConnection: the external client for one cross-org visibility connection.

The connection is made with the source org's keys and names the sink by its v2 org UUID;
each org's keys learn their own v2 UUID from ``GET /api/v2/current_user`` (its
``relationships.org``), cached per process (an org's UUID never changes). Datadog has no
GET for one connection: reading is the source's listing filtered by the sink.

Ownership is explicit, as for every kind: ``status.connectionId`` is set only by a create
or by ``spec.adopt``; a connection for the same pair that this object did not make stalls it
(``ConnectionExists``, naming the ID to adopt); Datadog itself answers 409 to a second one.
Datadog requires both orgs in one account and on one site: a spun-off client (its own
account) or a client on another site stalls with ``NotSameAccount`` / ``SiteMismatch``
before any write, and Datadog's own 400 "is not allowed" becomes ``NotSameAccount`` too.
"""

from __future__ import annotations

from typing import Any

from ddmsp.config import OperatorSettings
from ddmsp.controllers.datadog_access import (
    DatadogClients,
    DatadogConnector,
    failed_create,
)
from ddmsp.controllers.orgref import OrgTarget, act_in_org, resolve_org
from ddmsp.controllers.partners import credentials_for_key
from ddmsp.datadog import (
    ConflictError,
    DatadogClient,
    DatadogError,
    NotFoundError,
    OrgConnection,
    ValidationError,
)
from ddmsp.datadog.sites import DEFAULT_SITE
from ddmsp.reconcile.conditions import now_rfc3339
from ddmsp.reconcile.external import Observation, ReconcileContext
from ddmsp.reconcile.outcomes import Blocked, Waiting
from ddmsp.resources import CLIENT_ORG
from ddmsp.resources.orgconnection import DatadogOrgConnectionSpec
from ddmsp.resources.orgref import OrgReference, OrgTargetFields


def _spun_off(body: dict[str, Any]) -> bool:
    """A SpinOff client's org is its own account (once spun off, or on the way)."""
    spec = body.get("spec") or {}
    record = (body.get("status") or {}).get("clientOrg") or {}
    return spec.get("provisioning") == "SpinOff" or bool(record.get("spunOff"))


def _site(body: dict[str, Any]) -> str:
    return str((body.get("spec") or {}).get("site") or DEFAULT_SITE)


def not_same_account(which: str, name: str) -> Blocked:
    return Blocked(
        "NotSameAccount",
        f"the {which} DatadogClientOrg {name} is a SpinOff client: its org is its own Datadog "
        "account, and Datadog connects only orgs of one account (cross-organization "
        "visibility). Nothing was sent to Datadog. Connect orgs of one account, or set up "
        "the connection inside the spun-off account")


class OrgConnectionConnector(DatadogConnector):
    def __init__(self, settings: OperatorSettings, clients: DatadogClients) -> None:
        super().__init__(settings, clients)
        self.uuids: dict[str, str] = {}  # credentials source + site -> v2 org UUID

    async def org_uuid(self, dd: DatadogClient, key: str) -> str:
        """The v2 UUID of the org whose keys ``dd`` holds (cached: it never changes)."""
        found = self.uuids.get(key)
        if found is None:
            found = await dd.current_org_v2_id()
            self.uuids[key] = found
        return found

    async def connect(self, ctx: ReconcileContext) -> OrgConnectionExternal:
        spec: DatadogOrgConnectionSpec = ctx.obj.spec
        source_name = spec.source_org_ref.name
        body: dict[str, Any] = {}
        if not ctx.obj.deleting:  # the account checks come first: a SpinOff never gets Ready
            body = await ctx.kube.get(CLIENT_ORG, ctx.obj.namespace, source_name) or {}
            if _spun_off(body) and spec.sink_org_uuid is None:
                raise not_same_account("source", source_name)
            sink_ref = spec.sink_org_ref
            sink_body = await ctx.kube.get(CLIENT_ORG, ctx.obj.namespace, sink_ref.name) \
                if sink_ref is not None else None
            if sink_ref is not None and sink_body is not None and _spun_off(sink_body):
                raise not_same_account("sink", sink_ref.name)
        fields = OrgTargetFields(org_ref=OrgReference(name=source_name))
        target = await act_in_org(ctx, fields, self.settings, self.clients)
        ctx.obj.status["source"] = source_name
        external = OrgConnectionExternal(ctx, target)
        if ctx.obj.deleting:
            return external  # only status.connectionId matters: no sink, no checks
        external.source_uuid = await self.org_uuid(
            target.dd, f"{target.public_id}@{target.site}")
        external.sink_uuid = await self._sink(ctx, spec, body, target)
        ctx.obj.status["sourceOrgUuid"] = external.source_uuid
        ctx.obj.status["sinkOrgUuid"] = external.sink_uuid
        return external

    async def _sink(self, ctx: ReconcileContext, spec: DatadogOrgConnectionSpec,
                    source: dict[str, Any], target: OrgTarget) -> str:
        """The sink's v2 org UUID, after the same-account and same-site checks."""
        if spec.sink_org_uuid is not None:
            ctx.obj.status["sink"] = spec.sink_org_uuid
            return spec.sink_org_uuid.lower()
        if spec.sink_org_ref is not None:
            name = spec.sink_org_ref.name
            ctx.obj.status["sink"] = name
            body = await ctx.kube.get(CLIENT_ORG, ctx.obj.namespace, name)
            if body is not None and _site(body) != target.site:
                raise Blocked("SiteMismatch",
                              f"the source org is on {target.site} and the sink "
                              f"DatadogClientOrg {name} on {_site(body)}: Datadog connects "
                              "only orgs on the same site. Nothing was sent to Datadog")
            sink = await resolve_org(ctx, OrgTargetFields(org_ref=OrgReference(name=name)),
                                     self.settings, self.clients)
            return await self.org_uuid(sink.dd, f"{sink.public_id}@{sink.site}")
        ctx.obj.status["sink"] = "partner"
        key = str((source.get("status") or {}).get("partner") or "")
        choice = await credentials_for_key(ctx.kube, self.settings, key, ctx.obj.namespace) \
            if key else None
        if choice is None:
            raise Waiting("PartnerUnknown",
                          f"DatadogClientOrg {spec.source_org_ref.name} names no usable "
                          "partner yet (status.partner); waiting for it",
                          delay=self.settings.wait_poll, phase="Pending")
        site = choice.site or target.site
        if site != target.site:
            raise Blocked("SiteMismatch",
                          f"the source org is on {target.site} and the partner's org "
                          f"({choice.key}) on {site}: Datadog connects only orgs on the same "
                          "site. Nothing was sent to Datadog")
        return await self.org_uuid(self.clients.get(choice.credentials, site),
                                   f"{choice.key}@{site}")


class OrgConnectionExternal:
    def __init__(self, ctx: ReconcileContext, target: OrgTarget) -> None:
        self.ctx = ctx
        self.obj = ctx.obj
        self.spec: DatadogOrgConnectionSpec = ctx.obj.spec
        self.dd = target.dd
        self.org = target.public_id or target.label
        self.source_uuid = ""
        self.sink_uuid = ""
        self.conn: OrgConnection | None = None

    @property
    def wanted(self) -> list[str]:
        return sorted(self.spec.connection_types)

    def _pair(self, conn: OrgConnection) -> bool:
        return (conn.source_org_id or "").lower() == self.source_uuid.lower() and \
            (conn.sink_org_id or "").lower() == self.sink_uuid.lower()

    def _record(self, conn: OrgConnection, *, owned: bool = True) -> None:
        types = sorted(conn.connection_types)
        self.obj.status.update(connectionTypes=types, types=",".join(types))
        if owned:
            self.obj.status["connectionId"] = conn.id

    async def _for_pair(self) -> list[OrgConnection]:
        found = await self.dd.list_org_connections(sink_org_id=self.sink_uuid)
        return [c for c in found if self._pair(c)]

    async def _by_id(self, conn_id: str) -> OrgConnection | None:
        found = await self.dd.list_org_connections()
        return next((c for c in found if c.id == conn_id), None)

    async def _find(self) -> tuple[OrgConnection | None, list[str]]:
        gone: list[str] = []
        conn_id = str(self.obj.status.get("connectionId") or "")
        if conn_id:
            conn = await self._by_id(conn_id)
            if conn is not None and not self._pair(conn):
                raise Blocked("AdoptionMismatch",
                              f"this resource manages connection {conn_id}, which joins "
                              f"{conn.source_org_id} to {conn.sink_org_id}, not the spec's "
                              "pair; the sink of a connection cannot be changed in place. "
                              "Create a new DatadogOrgConnection for the new pair")
            if conn is not None:
                return conn, gone
            self.obj.clear_status("connectionId", "adopted")
            gone.append(f"connection {conn_id} was deleted in Datadog")
        adopt = self.spec.adopt
        if adopt is not None:
            conn = await self._by_id(adopt.connection_id.lower())
            if conn is None or not self._pair(conn):
                raise Blocked("AdoptTargetNotFound",
                              f"spec.adopt.connectionId {adopt.connection_id}: no connection "
                              f"with that ID from org {self.org} to sink {self.sink_uuid}. "
                              "Fix the ID, or remove spec.adopt to create the connection")
            self.obj.status["adopted"] = True
            await self.ctx.event("Normal", "Adopted",
                                 f"adopted the existing connection {conn.id}")
            return conn, gone
        pair = await self._for_pair()
        started = self.obj.status.get("createStartedAt")
        self.obj.clear_status("createStartedAt")
        if not pair:
            return None, gone
        if started or self.obj.management_policy == "ObserveOnly":
            return pair[0], gone  # our lost create, or a read-only report
        raise self._exists(pair[0].id)

    def _exists(self, conn_id: str | None) -> Blocked:
        which = f" ({conn_id})" if conn_id else ""
        fix = f"spec.adopt.connectionId: {conn_id}" if conn_id else "spec.adopt.connectionId"
        return Blocked("ConnectionExists",
                       f"a connection from org {self.org} to sink {self.sink_uuid} already "
                       f"exists{which} and this resource did not create it (Datadog allows "
                       f"one per pair): nothing was changed. To manage it, set {fix}")

    async def observe(self) -> Observation:
        if self.obj.deleting:
            conn_id = str(self.obj.status.get("connectionId") or "")
            self.conn = await self._by_id(conn_id) if conn_id else None
            return Observation(exists=self.conn is not None)
        conn, gone = await self._find()
        if conn is None:
            return Observation(exists=False, phase="Pending", diff=gone,
                               message=f"no connection from org {self.org} to sink "
                               f"{self.sink_uuid}")
        self.conn = conn
        owned = self.obj.management_policy != "ObserveOnly" or self.spec.adopt is not None \
            or bool(self.obj.status.get("connectionId"))
        self._record(conn, owned=owned)
        diff = list(gone)
        if sorted(conn.connection_types) != self.wanted:
            diff.append(f"types are {', '.join(sorted(conn.connection_types)) or 'none'}, "
                        f"the spec wants {', '.join(self.wanted)}")
        return Observation(exists=True, up_to_date=not diff, diff=diff,
                           phase="Drifted" if diff else "Ready",
                           message=f"connection {conn.id} from org {self.org} to sink "
                           f"{self.sink_uuid}: {', '.join(sorted(conn.connection_types))}")

    async def create(self) -> None:
        self.obj.status["createStartedAt"] = now_rfc3339()
        await self.ctx.save_status()  # before the call: a lost answer is recognised later
        try:
            conn = await self.dd.create_org_connection(self.sink_uuid, self.wanted)
        except ConflictError:
            self.obj.clear_status("createStartedAt")
            pair = await self._for_pair()
            raise self._exists(pair[0].id if pair else None) from None
        except NotFoundError:
            self.obj.clear_status("createStartedAt")
            raise Blocked("SinkNotFound",
                          f"Datadog knows no org with v2 UUID {self.sink_uuid} (404): fix "
                          "the sink (a v2 org UUID, not the v1 public_id)") from None
        except ValidationError as exc:
            self.obj.clear_status("createStartedAt")
            raise Blocked("NotSameAccount",
                          f"Datadog refused the connection from org {self.org} to sink "
                          f"{self.sink_uuid} ({exc}): both orgs must be in the same account "
                          "and on the same site, and an org cannot be its own sink") from None
        except DatadogError as exc:
            outcome = failed_create(exc, "the connection", "looks for it",
                                    lambda: self.obj.clear_status("createStartedAt"))
            if outcome is None:
                raise
            raise outcome from None
        self.obj.clear_status("createStartedAt", "adopted")
        self._record(conn)
        await self.ctx.event("Normal", "Created",
                             f"created connection {conn.id} to sink {self.sink_uuid} "
                             f"({', '.join(self.wanted)})")

    async def update(self, observation: Observation) -> None:
        assert self.conn is not None
        updated = await self.dd.update_org_connection(self.conn.id, self.wanted)
        self._record(updated)

    async def delete(self) -> None:
        conn_id = str(self.obj.status.get("connectionId") or "")
        if not conn_id:
            return
        try:
            await self.dd.delete_org_connection(conn_id)
        except NotFoundError:
            return
