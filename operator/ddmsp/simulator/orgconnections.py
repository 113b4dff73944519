"""Org connections (v2 ``/api/v2/org_connections``): cross-org visibility between two orgs.

Why: an MSP connects a client org (the source, whose keys create the connection) to a sink org
(its operations org) so the sink sees the source's metrics or logs; this area mirrors the "Org
Connections" section of Datadog's API reference. Evidence, DataDog/datadog-api-client-python
``tests/v2/cassettes/test_scenarios/`` unless said otherwise:

- create with the source's keys, the sink named by its v2 org UUID (``Org.v2_id``, not the v1
  public_id); the answer names source, sink (with their names) and ``created_by``
  (``test_create_org_connection_returns_ok_response``);
- a second create for the same pair: 409 ``connection between orgs <source> and <sink> already
  exists`` (``..._returns_conflict_response``); duplicate types: 400 ``connection between orgs
  <source> and <sink> is not allowed`` (``..._returns_bad_request_response``); an unknown sink:
  404 ``Not found`` (``..._returns_not_found_response``);
- PATCH changes ``connection_types`` in place and answers without names
  (``test_update_org_connection_returns_ok_response``); duplicate types: 400 ``Validation
  failed for input.``; unknown id: 404 ``Org connection with id:<id> not found not found``;
- DELETE answers 200 ``{}``; again: 404 ``org connection with id:<id> not found not found``
  (lower-case, as recorded); a malformed id: 400 ``connection id must be a valid uuid``;
- list: ``{"data": [...], "meta": {"page": {"total_count", "total_filtered_count"}}}``
  (``test_list_org_connections_returns_ok_response``), filters ``sink_org_id``,
  ``source_org_id``, ``limit`` (default 1000), ``offset`` (the official client's parameters).

Stricter readings where nothing is recorded: Datadog documents that both orgs must be in the
same account and on the same site, so a sink outside the source's account (another top-level
org: a spun-off org is its own account) or the source itself answers the same 400 "is not
allowed"; only the source org may change or delete a connection (others get the 404); a caller
sees the connections where its org is source or sink. Types: ``logs``, ``metrics``, ``audit``
(the client's ``OrgConnectionTypeEnum``). The list answer has no ``included`` (none recorded,
none in the client's model). Connections are not kept in ``--state-file`` (yet).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ddmsp.simulator.http import Route, caller_org, data_of, need_obj, query_int, state_of
from ddmsp.simulator.http import read_json as _read_json
from ddmsp.simulator.store import Org, SimError, StateBase, now_iso

TYPES = ("logs", "metrics", "audit")
CREATED_BY_NAME = "Org Admin"


@dataclass
class OrgConnection:
    """One connection: source org (its keys made it) -> sink org, with types."""

    id: str
    source: str  # public_id
    sink: str  # public_id
    types: list[str]
    created_at: str
    created_by: str


def _valid_types(value: Any) -> list[str] | None:
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(t, str) and t in TYPES for t in value) or len(set(value)) != len(value):
        return None
    return list(value)


def _valid_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------ state
class OrgConnectionsState(StateBase):
    """Every org connection, keyed by id (a connection belongs to two orgs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: dict[str, OrgConnection] = {}

    def _account_of(self, org: Org) -> str:
        while org.parent_id is not None and org.parent_id in self.orgs:
            org = self.orgs[org.parent_id]
        return org.public_id

    def org_by_v2_id(self, v2_id: str) -> Org | None:
        """The org with this v2 UUID."""
        return next((o for o in self.orgs.values() if o.v2_id == v2_id), None)

    def create_connection(self, source: Org, sink_v2_id: str, types: Any) -> OrgConnection:
        """POST: checks as recorded (see the module doc)."""
        with self.lock:
            sink = self.org_by_v2_id(sink_v2_id)
            if sink is None:
                raise SimError(404, "Not found")
            pair = f"connection between orgs {source.v2_id} and {sink.v2_id}"
            valid = _valid_types(types)
            if valid is None or sink is source or \
                    self._account_of(sink) != self._account_of(source):
                raise SimError(400, f"{pair} is not allowed")
            if any(c.source == source.public_id and c.sink == sink.public_id
                   for c in self.connections.values()):
                raise SimError(409, f"{pair} already exists")
            conn = OrgConnection(str(uuid.uuid4()), source.public_id, sink.public_id, valid,
                                 now_iso(), str(uuid.uuid5(uuid.NAMESPACE_URL, source.v2_id)))
            self.connections[conn.id] = conn
            return conn

    def _own(self, org: Org, conn_id: str, capital: bool) -> OrgConnection:
        conn = self.connections.get(conn_id)
        if conn is None or conn.source != org.public_id:
            word = "Org" if capital else "org"
            raise SimError(404, f"{word} connection with id:{conn_id} not found not found")
        return conn

    def update_connection(self, org: Org, conn_id: str, types: Any) -> OrgConnection:
        """PATCH: new types in place."""
        with self.lock:
            conn = self._own(org, conn_id, capital=True)
            valid = _valid_types(types)
            if valid is None:
                raise SimError(400, "Validation failed for input.")
            conn.types = valid
            return conn

    def delete_connection(self, org: Org, conn_id: str) -> None:
        """DELETE."""
        with self.lock:
            if not _valid_uuid(conn_id):
                raise SimError(400, "connection id must be a valid uuid")
            self._own(org, conn_id, capital=False)
            del self.connections[conn_id]

    def _snapshot_org(self, org: Org, out: dict[str, Any]) -> None:
        super()._snapshot_org(org, out)
        out["v2_id"] = org.v2_id
        out["org_connections"] = [
            {"id": c.id, "sink": c.sink, "types": list(c.types)}
            for c in self.connections.values() if c.source == org.public_id
        ]


# ----------------------------------------------------------------------------------- HTTP
def connection_json(state: OrgConnectionsState, conn: OrgConnection,
                    names: bool) -> dict[str, Any]:
    """A connection resource; ``names`` as on create and list (PATCH answers without)."""
    def org_ref(public_id: str) -> dict[str, Any]:
        org = state.orgs[public_id]
        ref: dict[str, Any] = {"type": "orgs", "id": org.v2_id}
        if names:
            ref["name"] = org.name
        return {"data": ref}

    creator: dict[str, Any] = {"type": "users", "id": conn.created_by}
    if names:
        creator["name"] = CREATED_BY_NAME
    return {
        "type": "org_connection",
        "id": conn.id,
        "attributes": {"created_at": conn.created_at, "connection_types": list(conn.types)},
        "relationships": {
            "source_org": org_ref(conn.source),
            "sink_org": org_ref(conn.sink),
            "created_by": {"data": creator},
        },
    }


async def list_connections(request: web.Request) -> web.Response:
    """GET /api/v2/org_connections."""
    state = state_of(request)
    org = caller_org(request)
    limit = query_int(request, "limit", 1000, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 1_000_000)
    sink, source = request.query.get("sink_org_id"), request.query.get("source_org_id")
    with state.lock:
        mine = [c for c in state.connections.values() if org.public_id in (c.source, c.sink)]
        kept = [c for c in mine
                if (sink is None or state.orgs[c.sink].v2_id == sink)
                and (source is None or state.orgs[c.source].v2_id == source)]
        page = kept[offset:offset + limit]
        return web.json_response({
            "data": [connection_json(state, c, True) for c in page],
            "meta": {"page": {"total_count": len(mine), "total_filtered_count": len(kept)}},
        })


async def create_connection(request: web.Request) -> web.Response:
    """POST /api/v2/org_connections."""
    state = state_of(request)
    data = data_of(await _read_json(request), "org_connection")
    attrs = need_obj(data.get("attributes"), "data.attributes")
    rels = need_obj(data.get("relationships"), "data.relationships")
    sink = need_obj(need_obj(rels.get("sink_org"), "relationships.sink_org").get("data"),
                    "relationships.sink_org.data")
    sink_id = sink.get("id")
    if not isinstance(sink_id, str) or not sink_id:
        raise SimError(400, "relationships.sink_org.data.id is required")
    conn = state.create_connection(caller_org(request), sink_id, attrs.get("connection_types"))
    with state.lock:
        return web.json_response({"data": connection_json(state, conn, True)})


async def update_connection(request: web.Request) -> web.Response:
    """PATCH /api/v2/org_connections/{connection_id}."""
    state = state_of(request)
    conn_id = request.match_info["connection_id"]
    data = data_of(await _read_json(request), "org_connection")
    attrs = need_obj(data.get("attributes"), "data.attributes")
    conn = state.update_connection(caller_org(request), conn_id, attrs.get("connection_types"))
    with state.lock:
        return web.json_response({"data": connection_json(state, conn, False)})


async def delete_connection(request: web.Request) -> web.Response:
    """DELETE /api/v2/org_connections/{connection_id}: 200 ``{}`` as recorded."""
    state_of(request).delete_connection(caller_org(request), request.match_info["connection_id"])
    return web.json_response({})


CONNECTION_PATH = "/api/v2/org_connections/{connection_id}"

ROUTES: list[Route] = [
    ("GET", "/api/v2/org_connections", list_connections, "both", "org_connections"),
    ("POST", "/api/v2/org_connections", create_connection, "both", "org_connections"),
    ("PATCH", CONNECTION_PATH, update_connection, "both", "org_connections"),
    ("DELETE", CONNECTION_PATH, delete_connection, "both", "org_connections"),
]
