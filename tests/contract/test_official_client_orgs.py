"""The official datadog-api-client against the endpoints issue 8 changed: recorded org shapes,
the listing switch, spin-off as the org itself sees it, 403 for missing permissions and the
empty-bodied 429."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from datadog_api_client.exceptions import ApiException, ForbiddenException
from datadog_api_client.v1.api.organizations_api import OrganizationsApi as OrgsV1
from datadog_api_client.v1.model.organization_create_body import OrganizationCreateBody
from datadog_api_client.v2.api.roles_api import RolesApi
from datadog_api_client.v2.api.usage_metering_api import UsageMeteringApi as UsageV2

from ddmsp.simulator.permissions import FORBIDDEN_MESSAGES
from ddmsp.simulator.server import RunningSimulator
from tests.contract.test_official_client import StrictApiClient, client


@pytest.fixture(autouse=True)
def _answers_were_parsed() -> Iterator[None]:
    before = StrictApiClient.deserialized
    yield
    assert StrictApiClient.deserialized - before >= 2


@pytest.mark.parametrize("listing", ["own", "children"])
def test_create_list_get_and_spin_off(sim: RunningSimulator, listing: str) -> None:
    sim.set_config(org_listing=listing, saml_can_be_enabled=False)
    sim.set_clock(datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC))
    with client(sim, sim.partner_api_key, sim.partner_app_key) as partner:
        orgs = OrgsV1(partner)
        created = orgs.create_child_org(OrganizationCreateBody(name="client-official"))
        org = created.org
        assert org.created.startswith("2030-03-04 05:06")
        assert org.description is None
        assert org.settings.saml_can_be_enabled is False
        assert org.settings.saml_login_url is None
        assert created.user.email == sim.state.orgs[sim.partner_public_id].user_email
        listed = [o.public_id for o in orgs.list_orgs().orgs]
        assert listed == ([sim.partner_public_id] if listing == "own"
                          else [sim.partner_public_id, org.public_id])
        down = orgs.downgrade_org(org.public_id)
        assert org.public_id in down.message
        with pytest.raises(ForbiddenException):
            orgs.downgrade_org(org.public_id)
        with client(sim, created.api_key.key, created.application_key.hash) as own:
            seen = OrgsV1(own).get_org(org.public_id).org
            assert seen.subscription.type == "trial"
            assert seen.trial is True


def test_missing_permission_and_rate_limit(sim: RunningSimulator) -> None:
    # Datadog projects a month's cost only from its 12th (simulator/cost.py): pinned past it,
    # the projection below has rows on whatever day the suite runs.
    sim.set_clock(datetime(2030, 3, 16, 9, tzinfo=UTC))
    with client(sim, sim.partner_api_key, sim.partner_app_key) as partner:
        assert RolesApi(partner).list_roles().data
        sim.set_org_permissions(sim.partner_public_id, ["usage_read"])
        with pytest.raises(ForbiddenException) as denied:
            RolesApi(partner).list_roles()
        body = denied.value.body
        assert (json.loads(body) if isinstance(body, str | bytes) else body) == {
            "errors": FORBIDDEN_MESSAGES}
        with pytest.raises(ForbiddenException):
            UsageV2(partner).get_projected_cost()
        sim.set_org_permissions(sim.partner_public_id, ["usage_read", "billing_read"])
        assert UsageV2(partner).get_projected_cost(view="sub-org").data
        sim.set_rate_limit("usage", 0, 3600)
        with pytest.raises(ApiException) as limited:
            UsageV2(partner).get_projected_cost()
        assert limited.value.status == 429
        assert limited.value.headers["X-RateLimit-Name"] == "usage"
