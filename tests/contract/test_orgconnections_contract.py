"""Org connections driven by the official datadog-api-client against the simulator.

The answers compared are the recorded ones (DataDog/datadog-api-client-python "Org Connections"
cassettes, cited in ``ddmsp.simulator.orgconnections``): the sink named by its v2 org UUID, the
409 for an existing pair, the 400/404 bodies verbatim, 200 ``{}`` on delete; and the documented
same-account rule (a spun-off org is another account).
"""

from __future__ import annotations

import uuid

import pytest
import requests
from datadog_api_client.v1.api.organizations_api import OrganizationsApi as OrgsV1
from datadog_api_client.v1.model.organization_create_body import OrganizationCreateBody
from datadog_api_client.v2.api.org_connections_api import OrgConnectionsApi
from datadog_api_client.v2.model.org_connection_create import OrgConnectionCreate
from datadog_api_client.v2.model.org_connection_create_attributes import (
    OrgConnectionCreateAttributes,
)
from datadog_api_client.v2.model.org_connection_create_relationships import (
    OrgConnectionCreateRelationships,
)
from datadog_api_client.v2.model.org_connection_create_request import OrgConnectionCreateRequest
from datadog_api_client.v2.model.org_connection_org_relationship import (
    OrgConnectionOrgRelationship,
)
from datadog_api_client.v2.model.org_connection_org_relationship_data import (
    OrgConnectionOrgRelationshipData,
)
from datadog_api_client.v2.model.org_connection_org_relationship_data_type import (
    OrgConnectionOrgRelationshipDataType,
)
from datadog_api_client.v2.model.org_connection_type import OrgConnectionType
from datadog_api_client.v2.model.org_connection_type_enum import OrgConnectionTypeEnum
from datadog_api_client.v2.model.org_connection_update import OrgConnectionUpdate
from datadog_api_client.v2.model.org_connection_update_attributes import (
    OrgConnectionUpdateAttributes,
)
from datadog_api_client.v2.model.org_connection_update_request import OrgConnectionUpdateRequest

from ddmsp.simulator.server import RunningSimulator
from tests.contract.test_official_client import client
from tests.contract.test_orgconfigs_contract import _refused

LOGS, METRICS = OrgConnectionTypeEnum.LOGS, OrgConnectionTypeEnum.METRICS


def _create(sink: str, *types: OrgConnectionTypeEnum) -> OrgConnectionCreateRequest:
    return OrgConnectionCreateRequest(data=OrgConnectionCreate(
        type=OrgConnectionType.ORG_CONNECTION,
        attributes=OrgConnectionCreateAttributes(connection_types=list(types)),
        relationships=OrgConnectionCreateRelationships(sink_org=OrgConnectionOrgRelationship(
            data=OrgConnectionOrgRelationshipData(
                id=sink, type=OrgConnectionOrgRelationshipDataType.ORGS)))))


def _update(conn_id: str, *types: OrgConnectionTypeEnum) -> OrgConnectionUpdateRequest:
    return OrgConnectionUpdateRequest(data=OrgConnectionUpdate(
        id=uuid.UUID(conn_id), type=OrgConnectionType.ORG_CONNECTION,
        attributes=OrgConnectionUpdateAttributes(connection_types=list(types))))


def _v2_id(sim: RunningSimulator, public_id: str) -> str:
    return str(next(o["v2_id"] for o in sim.snapshot()["orgs"] if o["public_id"] == public_id))


def test_org_connections_as_recorded_with_official_client(sim: RunningSimulator) -> None:
    with client(sim, sim.partner_api_key, sim.partner_app_key) as partner:
        made = [OrgsV1(partner).create_child_org(OrganizationCreateBody(name=n))
                for n in ("source-co", "sink-co", "spun-co")]
        spun = made[2].org.public_id
        OrgsV1(partner).downgrade_org(spun)  # now its own account
    source, sink = made[0], made[1]
    sink_v2 = _v2_id(sim, sink.org.public_id)
    source_v2 = _v2_id(sim, source.org.public_id)
    assert sink_v2 != sink.org.public_id  # v2 UUID, not the v1 public_id
    with client(sim, source.api_key.key, source.application_key.hash) as c:
        api = OrgConnectionsApi(c)
        created = api.create_org_connections(_create(sink_v2, LOGS)).data
        assert created.relationships.sink_org.data.id == sink_v2
        assert created.relationships.sink_org.data.name == "sink-co"
        assert created.relationships.source_org.data.id == source_v2
        assert [str(t) for t in created.attributes.connection_types] == ["logs"]
        pair = f"connection between orgs {source_v2} and {sink_v2}"
        assert _refused(lambda: api.create_org_connections(_create(sink_v2, METRICS)),
                        409) == [f"{pair} already exists"]
        assert _refused(lambda: api.create_org_connections(_create(sink_v2, LOGS, LOGS)),
                        400) == [f"{pair} is not allowed"]
        assert _refused(lambda: api.create_org_connections(_create("nonexistent-org-id", LOGS)),
                        404) == ["Not found"]
        spun_v2 = _v2_id(sim, spun)
        assert _refused(lambda: api.create_org_connections(_create(spun_v2, LOGS)), 400) == [
            f"connection between orgs {source_v2} and {spun_v2} is not allowed"]

        listed = api.list_org_connections(sink_org_id=sink_v2)
        assert [x.id for x in listed.data] == [created.id]
        assert listed.meta.page.total_filtered_count == 1
        assert api.list_org_connections(sink_org_id=spun_v2).data == []

        changed = api.update_org_connections(created.id, _update(str(created.id), LOGS, METRICS))
        assert [str(t) for t in changed.data.attributes.connection_types] == ["logs", "metrics"]
        assert _refused(lambda: api.update_org_connections(
            created.id, _update(str(created.id), LOGS, LOGS)), 400) == [
            "Validation failed for input."]
        zero = uuid.UUID(int=0)
        assert _refused(lambda: api.update_org_connections(zero, _update(str(zero), LOGS)),
                        404) == [f"Org connection with id:{zero} not found not found"]

        assert api.delete_org_connections(created.id) is None
        assert _refused(lambda: api.delete_org_connections(created.id), 404) == [
            f"org connection with id:{created.id} not found not found"]
    malformed = requests.delete(sim.base_url + "/api/v2/org_connections/malformed_id",
                                headers=sim.headers(source.api_key.key,
                                                    source.application_key.hash), timeout=5)
    assert (malformed.status_code, malformed.json()) == (
        400, {"errors": ["connection id must be a valid uuid"]})


@pytest.mark.parametrize("route", ["GET /api/v2/org_connections",
                                   "POST /api/v2/org_connections"])
def test_org_connection_routes_are_counted(sim: RunningSimulator, route: str) -> None:
    method, path = route.split(" ")
    answer = requests.request(method, sim.base_url + path, headers=sim.headers(),
                              json=None if method == "GET" else {}, timeout=5)
    assert answer.status_code in (200, 400)
    assert sim.call_count(route) == 1
