"""The Datadog client against the real simulator over HTTP.

Contract item 4 of issue 3 (faults: 429 waited out, 5xx retried only where
idempotent, a dropped create reported as outcome-unknown without a second POST),
plus a happy path through every client method. No kube-apiserver needed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from ddmsp.datadog import (
    ConflictError,
    Credentials,
    DatadogClient,
    ForbiddenError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitRegistry,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from ddmsp.datadog.errors import org_not_accessible
from ddmsp.simulator.server import RunningSimulator, running_simulator
from tests.support.samlmeta import metadata
from tests.support.secrecy import assert_absent

FAST = RetryPolicy(max_attempts=4, backoff_base=0.005, backoff_max=0.02, max_rate_limit_wait=5)

# Azure AD-like metadata with a signing certificate (metadata without one is refused).
IDP_XML = metadata("https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
                   "https://login.example.com/saml2").encode()


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator() as running:
        yield running


def client_for(sim: RunningSimulator, creds: Credentials | None = None) -> DatadogClient:
    return DatadogClient(
        creds or Credentials.of(sim.partner_api_key, sim.partner_app_key),
        base_url=sim.base_url,
        retry=FAST,
        rate_limits=RateLimitRegistry(),
        timeout=10,
    )


@pytest.fixture
async def partner(sim: RunningSimulator) -> AsyncIterator[DatadogClient]:
    async with client_for(sim) as dd:
        yield dd


async def add_fault(sim: RunningSimulator, spec: dict[str, Any]) -> None:
    """Faults go in over HTTP, as the issue specifies."""
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        response = await http.post("/_sim/faults", json=spec)
        assert response.status_code == 201, response.text


async def sim_calls(sim: RunningSimulator) -> dict[str, dict[str, int]]:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        response = await http.get("/_sim/calls")
        response.raise_for_status()
        data = response.json()
    calls = data.get("calls", data) if isinstance(data, dict) else data
    return {
        route: {str(status): int(n) for status, n in by_status.items()}
        for route, by_status in calls.items()
    }


# ------------------------------------------------------------------ contract item 4


async def test_429_storm_is_waited_out(sim: RunningSimulator, partner: DatadogClient) -> None:
    await add_fault(
        sim, {"route": "GET /api/v2/roles", "rate_limit_storm": {"count": 2, "reset": 1}}
    )
    start = time.monotonic()
    roles = await partner.list_roles()
    elapsed = time.monotonic() - start
    assert roles  # the partner org has Datadog's managed roles
    assert elapsed >= 1.9  # two resets of 1 s, waited out
    assert (await sim_calls(sim))["GET /api/v2/roles"] == {"429": 2, "200": 1}


async def test_create_org_waits_out_429_and_creates_once(
    sim: RunningSimulator, partner: DatadogClient
) -> None:
    await add_fault(
        sim, {"route": "POST /api/v1/org", "rate_limit_storm": {"count": 1, "reset": 1}}
    )
    # Counted in the simulator's own state: GET /api/v1/org may list only the caller's org.
    before = len(sim.state.orgs)
    created = await partner.create_child_org("storm-child")
    assert created.org.name == "storm-child"
    assert (await sim_calls(sim))["POST /api/v1/org"] == {"429": 1, "200": 1}
    assert len(sim.state.orgs) == before + 1


async def test_idempotent_5xx_retried(sim: RunningSimulator, partner: DatadogClient) -> None:
    await add_fault(sim, {"route": "GET /api/v1/org", "status": 503, "times": 2})
    orgs = await partner.list_orgs()
    assert orgs[0].public_id == sim.partner_public_id
    assert (await sim_calls(sim))["GET /api/v1/org"] == {"503": 2, "200": 1}


async def test_create_org_5xx_not_retried(sim: RunningSimulator, partner: DatadogClient) -> None:
    await add_fault(sim, {"route": "POST /api/v1/org", "status": 500, "times": 1})
    before = len(sim.state.orgs)
    with pytest.raises(ServerError) as info:
        await partner.create_child_org("never-twice")
    assert info.value.status == 500
    assert info.value.may_have_committed
    assert (await sim_calls(sim))["POST /api/v1/org"] == {"500": 1}
    assert len(sim.state.orgs) == before  # the fault answered before the handler


async def test_non_idempotent_role_create_5xx_not_retried(
    sim: RunningSimulator, partner: DatadogClient
) -> None:
    await add_fault(sim, {"route": "POST /api/v2/roles", "status": 502, "times": 1})
    with pytest.raises(ServerError):
        await partner.create_role("fault-role")
    assert (await sim_calls(sim))["POST /api/v2/roles"] == {"502": 1}


async def test_dropped_create_is_outcome_unknown_without_second_post(
    sim: RunningSimulator, partner: DatadogClient
) -> None:
    before = set(sim.state.orgs)
    await add_fault(sim, {"route": "POST /api/v1/org", "commit_then_drop": True, "times": 1})
    with pytest.raises(OutcomeUnknownError) as info:
        await partner.create_child_org("dropped-child")
    assert info.value.may_have_committed
    assert_absent([sim.partner_api_key], str(info.value), "the exception")
    calls = await sim_calls(sim)
    assert sum(calls["POST /api/v1/org"].values()) == 1  # exactly one POST ever sent
    assert calls["POST /api/v1/org"] == {"0": 1}  # ... and its response was dropped
    new = [o for pid, o in sim.state.orgs.items() if pid not in before]
    assert [o.name for o in new] == ["dropped-child"]  # committed: the org exists once


async def test_dropped_idempotent_update_is_retried(
    sim: RunningSimulator, partner: DatadogClient
) -> None:
    pid = sim.partner_public_id
    await add_fault(
        sim, {"route": "PUT /api/v1/org/{public_id}", "commit_then_drop": True, "times": 1}
    )
    org = await partner.update_org(pid, {"saml_idp_initiated_login": {"enabled": True}})
    assert org.public_id == pid
    assert (await sim_calls(sim))["PUT /api/v1/org/{public_id}"] == {"0": 1, "200": 1}


async def test_remaining_zero_is_waited_for_without_429(
    sim: RunningSimulator, partner: DatadogClient
) -> None:
    """Three calls inside one window use up a limit of three; the client must then wait for
    the window's end, so the fourth and fifth calls get 200, never a 429. The simulator's
    windows are aligned to the calendar, so a run whose first three calls straddle a
    boundary proves nothing (the client was never told 0 remaining): it is tried again."""
    period = 2
    for _ in range(10):
        sim.set_rate_limit("permissions", limit=3, period=period)  # fresh windows
        async with httpx.AsyncClient(base_url=sim.base_url) as http:
            (await http.delete("/_sim/calls")).raise_for_status()
        first_sent = time.time()
        for _ in range(3):
            await partner.list_permissions()
        third_answered = time.time()
        for _ in range(2):
            await partner.list_permissions()
        if int(first_sent // period) == int(third_answered // period):
            break
    else:
        pytest.fail("ten tries never fitted three calls into one 2 s window")
    assert (await sim_calls(sim))["GET /api/v2/permissions"] == {"200": 5}


# ------------------------------------------------------------------ happy path


async def test_every_method(sim: RunningSimulator, partner: DatadogClient) -> None:
    assert await partner.validate() is True
    async with client_for(sim, Credentials.of("0" * 32, "0" * 40)) as stranger:
        assert await stranger.validate() is False
        with pytest.raises(ForbiddenError):
            await stranger.list_orgs()

    orgs = await partner.list_orgs()
    assert orgs[0].public_id == sim.partner_public_id
    created = await partner.create_child_org("client-a")
    child_id = created.org.public_id
    assert sim.state.orgs[child_id].parent_id == sim.partner_public_id
    # The partner's keys cannot act inside the child, as with the real API: the recorded
    # answer is 400 "Not allowed to access this organization", not a 403.
    with pytest.raises(ValidationError) as refused:
        await partner.get_org(child_id)
    assert org_not_accessible(refused.value)

    async with client_for(sim, created.credentials) as child:
        assert await child.validate()
        org = await child.get_org(child_id)
        assert org.name == "client-a"

        # SAML: metadata (a BOM is stripped by default; the API rejects it otherwise).
        await child.upload_idp_metadata(child_id, b"\xef\xbb\xbf" + IDP_XML)
        with pytest.raises(ValidationError) as bom:
            await child.upload_idp_metadata(child_id, b"\xef\xbb\xbf" + IDP_XML, strip_bom=False)
        assert any("BOM" in e or "byte order" in e for e in bom.value.api_errors)
        with pytest.raises(ValidationError):
            await child.upload_idp_metadata_v2(b"<not-xml")
        await child.upload_idp_metadata_v2(IDP_XML)
        org = await child.update_org(
            child_id,
            {
                "saml": {"enabled": True},
                "saml_strict_mode": {"enabled": True},
                "saml_autocreate_users_domains": {"enabled": True, "domains": ["acme.com"]},
            },
        )
        assert org.settings is not None
        assert org.settings.saml is not None and org.settings.saml.enabled is True
        assert org.settings.saml_strict_mode is not None
        assert org.settings.saml_strict_mode.enabled is True
        assert org.settings.saml_idp_metadata_uploaded is True

        # Roles and permissions.
        permissions = await child.list_permissions()
        by_name = {p.name: p for p in permissions}
        live_tail = by_name["logs_live_tail"]
        role = await child.create_role("client-ops", permission_ids=[live_tail.id])
        assert live_tail.id in role.permission_ids
        assert len(role.permission_ids) > 1  # Datadog's defaults came along
        with pytest.raises(ConflictError):
            await child.create_role("client-ops")
        found = await child.find_role_by_name("client-ops")
        assert found is not None and found.id == role.id
        assert await child.find_role_by_name("client-op") is None
        assert (await child.get_role(role.id)).name == "client-ops"
        all_roles = await child.list_roles()
        assert role.id in {r.id for r in all_roles}
        assert [r.id for r in await child.list_roles(name_filter="client-o")] == [role.id]

        dashboards_write = by_name["dashboards_write"]
        await child.grant_permission(role.id, dashboards_write.id)
        await child.grant_permission(role.id, dashboards_write.id)  # idempotent
        granted = {p.id for p in await child.list_role_permissions(role.id)}
        assert dashboards_write.id in granted
        await child.revoke_permission(role.id, dashboards_write.id)
        assert dashboards_write.id not in {p.id for p in await child.list_role_permissions(role.id)}
        updated = await child.update_role(role.id, name="client-operators")
        assert updated.name == "client-operators"

        # AuthN mappings.
        mapping = await child.create_authn_mapping("groups", "ops", role.id)
        assert mapping.role_id == role.id
        other = await child.create_role("client-viewers")
        mapping = await child.update_authn_mapping(
            mapping.id, attribute_value="viewers", role_id=other.id
        )
        assert (mapping.attribute_value, mapping.role_id) == ("viewers", other.id)
        assert mapping.id in {m.id for m in await child.list_authn_mappings()}
        assert (await child.get_authn_mapping(mapping.id)).attribute_key == "groups"
        await child.delete_authn_mapping(mapping.id)
        with pytest.raises(NotFoundError):
            await child.delete_authn_mapping(mapping.id)
        assert await child.list_authn_mappings() == []

        await child.delete_role(other.id)
        await child.delete_role(role.id)
        with pytest.raises(NotFoundError):
            await child.get_role(role.id)

        # Org configs.
        configs = await child.list_org_configs()
        assert configs
        boolean = next(c for c in configs if c.value_type == "bool")
        flipped = await child.update_org_config(boolean.name, not boolean.value)
        assert flipped.value is (not boolean.value)
        assert (await child.get_org_config(boolean.name)).value is (not boolean.value)
        with pytest.raises(NotFoundError):
            await child.get_org_config("no_such_config")

    # Usage and cost, seen from the partner.
    now = sim.now()
    summary = await partner.usage_summary(now)
    assert summary.usage
    estimated = await partner.estimated_cost()
    assert child_id in {row.public_id for row in estimated}
    assert all(row.total_cost is not None for row in estimated)
    historical = await partner.historical_cost(
        now.replace(month=1, day=1) if now.month > 1 else now
    )
    assert isinstance(historical, list)
    projected = await partner.projected_cost()
    assert all(row.projected_total_cost is not None for row in projected)

    # Spin-off: the child leaves the partner's tree.
    await partner.spin_off(child_id)
    assert sim.state.orgs[child_id].parent_id is None
    assert child_id not in {o.public_id for o in await partner.list_orgs()}
