"""Every client method: request shape (method, path, params, body) and response parsing.

Response bodies come from the recorded real exchanges in ../shared/datadog-api/cassettes
where one exists.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx
import yaml

from ddmsp.datadog import (
    Credentials,
    DatadogClient,
    OrgSettings,
    RateLimitRegistry,
    RetryPolicy,
    SamlSetting,
)
from tests.contract.conftest import CASSETTES as REFERENCE_CASSETTES

BASE = "https://api.datadoghq.com"
CASSETTES = REFERENCE_CASSETTES  # the workspace's reference, else the copy vendored in the clone


def recorded(cassette: str, method: str, path: str, nth: int = 0) -> tuple[int, Any]:
    """(status, JSON body) of the nth recorded exchange with that method and path."""
    data = yaml.safe_load((CASSETTES / f"{cassette}.yaml").read_text())
    hits = [
        i
        for i in data["interactions"]
        if i["request"]["method"] == method and urlsplit(i["request"]["uri"]).path == path
    ]
    response = hits[nth]["response"]
    body = response["body"]["string"]
    return response["status"]["code"], json.loads(body) if body.strip() else None


def role_resource(role_id: str, name: str, perms: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "roles",
        "id": role_id,
        "attributes": {"name": name, "user_count": 0},
        "relationships": {
            "permissions": {"data": [{"type": "permissions", "id": p} for p in perms]}
        },
    }


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE, assert_all_called=True)


@pytest.fixture
async def dd(router: respx.Router) -> Any:
    async with DatadogClient(
        Credentials.of("k" * 32, "a" * 40),
        transport=httpx.MockTransport(router.async_handler),
        retry=RetryPolicy(backoff_base=0.001, backoff_max=0.002),
        rate_limits=RateLimitRegistry(),
    ) as client:
        yield client


def body(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


# ---------------------------------------------------------------- v1


async def test_validate(router: respx.Router, dd: DatadogClient) -> None:
    status, ok = recorded("validate_api_key_returns_ok_response", "GET", "/api/v1/validate")
    route = router.get("/api/v1/validate").respond(status, json=ok)
    assert await dd.validate() is True
    assert route.calls.last.request.headers["accept"] == "application/json"
    status, bad = recorded("validate_api_key_returns_forbidden_response", "GET", "/api/v1/validate")
    route.respond(status, json=bad)
    assert await dd.validate() is False


async def test_list_get_update_org(router: respx.Router, dd: DatadogClient) -> None:
    org = {
        "public_id": "abc123",
        "name": "Acme",
        "created": "2019-09-26 17:28:28",
        "description": "d",
        "subscription": {"type": "pro"},
        "billing": {"type": "parent_billing"},
        "settings": {
            "saml": {"enabled": True},
            "saml_strict_mode": {"enabled": False},
            "saml_idp_initiated_login": {"enabled": True},
            "saml_autocreate_users_domains": {"domains": ["acme.com"], "enabled": True},
            "saml_autocreate_access_role": "ro",
            "saml_can_be_enabled": True,
            "saml_idp_metadata_uploaded": True,
            "new_future_setting": 1,
        },
    }
    router.get("/api/v1/org").respond(200, json={"orgs": [org]})
    router.get("/api/v1/org/abc123").respond(200, json={"org": org})
    put = router.put("/api/v1/org/abc123").respond(200, json={"org": org})
    orgs = await dd.list_orgs()
    assert [o.public_id for o in orgs] == ["abc123"]
    got = await dd.get_org("abc123")
    assert got.settings is not None and got.settings.saml is not None
    assert got.settings.saml.enabled is True
    assert got.settings.saml_autocreate_users_domains is not None
    assert got.settings.saml_autocreate_users_domains.domains == ["acme.com"]
    assert got.settings.model_extra == {"new_future_setting": 1}
    await dd.update_org("abc123", {"saml": {"enabled": True}})
    assert body(put) == {"settings": {"saml": {"enabled": True}}}
    await dd.update_org("abc123", OrgSettings(saml_strict_mode=SamlSetting(enabled=True)))
    assert body(put) == {"settings": {"saml_strict_mode": {"enabled": True}}}


async def test_create_child_org(router: respx.Router, dd: DatadogClient) -> None:
    route = router.post("/api/v1/org").respond(
        200,
        json={
            "org": {"public_id": "new1", "name": "client-a"},
            "user": {"handle": "a@example.com", "access_role": "adm"},
            "api_key": {"key": "n" * 32, "name": "client-a", "created_by": "a@example.com"},
            "application_key": {"hash": "h" * 40, "owner": "a@example.com"},
        },
    )
    created = await dd.create_child_org("client-a")
    assert body(route) == {"name": "client-a"}
    assert created.org.public_id == "new1"
    assert created.user is not None and created.user.handle == "a@example.com"
    assert created.credentials.api_key.get_secret_value() == "n" * 32
    assert created.credentials.app_key.get_secret_value() == "h" * 40


async def test_spin_off(router: respx.Router, dd: DatadogClient) -> None:
    route = router.post("/api/v1/org/c1/downgrade").respond(200, json={"message": "ok"})
    assert await dd.spin_off("c1") is None
    assert route.calls.last.request.content == b""


XML = b'<?xml version="1.0" encoding="UTF-8"?><EntityDescriptor/>'


async def test_upload_idp_metadata_v1_multipart(router: respx.Router, dd: DatadogClient) -> None:
    route = router.post("/api/v1/org/c1/idp_metadata").respond(
        200, json={"message": "IdP metadata successfully uploaded for org c1"}
    )
    await dd.upload_idp_metadata("c1", b"\xef\xbb\xbf" + XML)
    request = route.calls.last.request
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="idp_file"' in request.content
    assert XML in request.content
    assert b"\xef\xbb\xbf" not in request.content  # the BOM Datadog rejects is stripped
    await dd.upload_idp_metadata("c1", b"\xef\xbb\xbf" + XML, strip_bom=False)
    assert b"\xef\xbb\xbf" in route.calls.last.request.content


async def test_upload_idp_metadata_v2(router: respx.Router, dd: DatadogClient) -> None:
    status, recorded_body = recorded(
        "upload_idp_metadata_returns_ok_response",
        "POST",
        "/api/v2/saml_configurations/idp_metadata",
    )
    route = router.post("/api/v2/saml_configurations/idp_metadata").respond(
        status, json=recorded_body
    )
    await dd.upload_idp_metadata_v2(XML)
    assert b'name="idp_file"' in route.calls.last.request.content


async def test_usage_summary(router: respx.Router, dd: DatadogClient) -> None:
    route = router.get("/api/v1/usage/summary").respond(
        200,
        json={
            "start_date": "2024-01-01T00:00:00+00:00",
            "end_date": "2024-02-01T00:00:00+00:00",
            "agent_host_top99p_sum": 3,
            "usage": [
                {
                    "date": "2024-01-01T00:00:00+00:00",
                    "orgs": [{"name": "a", "public_id": "p1", "infra_host_top99p": 2}],
                }
            ],
        },
    )
    summary = await dd.usage_summary(date(2024, 1, 15), datetime(2024, 2, 3))
    params = route.calls.last.request.url.params
    assert params["start_month"] == "2024-01-01T00:00:00Z"
    assert params["end_month"] == "2024-02-01T00:00:00Z"
    assert params["include_org_details"] == "true"
    assert summary.usage[0].orgs[0].public_id == "p1"
    assert summary.usage[0].orgs[0].model_extra == {"infra_host_top99p": 2}
    assert summary.model_extra == {"agent_host_top99p_sum": 3}


# ---------------------------------------------------------------- v2 roles


async def test_list_roles_follows_pages(router: respx.Router, dd: DatadogClient) -> None:
    page0 = [role_resource(f"r{i}", f"role-{i}") for i in range(100)]
    page1 = [role_resource("r100", "role-100")]
    meta = {"page": {"total_count": 101, "total_filtered_count": 101}}
    route = router.get("/api/v2/roles").mock(
        side_effect=[
            httpx.Response(200, json={"data": page0, "meta": meta}),
            httpx.Response(200, json={"data": page1, "meta": meta}),
        ]
    )
    roles = await dd.list_roles()
    assert len(roles) == 101
    numbers = [c.request.url.params["page[number]"] for c in route.calls]
    assert numbers == ["0", "1"]
    assert route.calls.last.request.url.params["page[size]"] == "100"


async def test_list_roles_filter_and_find_exact(router: respx.Router, dd: DatadogClient) -> None:
    status, listed = recorded("list_roles_returns_ok_response", "GET", "/api/v2/roles")
    name = listed["data"][0]["attributes"]["name"]
    route = router.get("/api/v2/roles").respond(status, json=listed)
    roles = await dd.list_roles(name_filter=name)
    assert route.calls.last.request.url.params["filter"] == name
    assert roles[0].user_count == 0
    assert len(roles[0].permission_ids) == 7
    found = await dd.find_role_by_name(name)
    assert found is not None and found.id == roles[0].id
    assert await dd.find_role_by_name(name[:-1]) is None  # substring matches are not exact


async def test_get_create_update_delete_role(router: respx.Router, dd: DatadogClient) -> None:
    cassette = "create_role_with_a_permission_returns_ok_response"
    status, created_body = recorded(cassette, "POST", "/api/v2/roles")
    create = router.post("/api/v2/roles").respond(status, json=created_body)
    role_id = created_body["data"]["id"]
    _, got_body = recorded(
        "get_a_role_returns_ok_response",
        "GET",
        "/api/v2/roles/466885b4-d1d9-11ec-ad3d-da7ad0900002",
    )
    router.get(f"/api/v2/roles/{role_id}").respond(200, json=got_body)
    patch = router.patch(f"/api/v2/roles/{role_id}").respond(
        200, json={"data": role_resource(role_id, "renamed", ("p1",))}
    )
    status_del, _ = recorded(cassette, "DELETE", f"/api/v2/roles/{role_id}")
    delete = router.delete(f"/api/v2/roles/{role_id}").respond(status_del)

    role = await dd.create_role("ops", permission_ids=["6f66600e-dd12-11e8-9e55-7f30fbb45e73"])
    assert body(create) == {
        "data": {
            "type": "roles",
            "attributes": {"name": "ops"},
            "relationships": {
                "permissions": {
                    "data": [{"type": "permissions", "id": "6f66600e-dd12-11e8-9e55-7f30fbb45e73"}]
                }
            },
        }
    }
    assert role.id == role_id
    assert "6f66600e-dd12-11e8-9e55-7f30fbb45e73" in role.permission_ids
    assert len(role.permission_ids) > 1  # Datadog added its defaults
    assert role.created_at is not None

    got = await dd.get_role(role_id)
    assert got.user_count == 0

    updated = await dd.update_role(role_id, name="renamed", permission_ids=["p1"])
    assert body(patch) == {
        "data": {
            "type": "roles",
            "id": role_id,
            "attributes": {"name": "renamed"},
            "relationships": {"permissions": {"data": [{"type": "permissions", "id": "p1"}]}},
        }
    }
    assert updated.name == "renamed" and updated.permission_ids == ["p1"]
    assert await dd.delete_role(role_id) is None
    assert delete.called


async def test_create_role_without_permissions(router: respx.Router, dd: DatadogClient) -> None:
    status, created = recorded("create_role_returns_ok_response", "POST", "/api/v2/roles")
    route = router.post("/api/v2/roles").respond(status, json=created)
    await dd.create_role("Test")
    assert body(route) == {"data": {"type": "roles", "attributes": {"name": "Test"}}}


async def test_role_permissions(router: respx.Router, dd: DatadogClient) -> None:
    cassette = "list_permissions_for_a_role_returns_ok_response"
    _, created = recorded(cassette, "POST", "/api/v2/roles")
    role_id = created["data"]["id"]
    path = f"/api/v2/roles/{role_id}/permissions"
    _, granted = recorded(cassette, "POST", path)
    _, listed = recorded(cassette, "GET", path)
    grant = router.post(path).respond(200, json=granted)
    revoke = router.delete(path).respond(200, json=granted)
    router.get(path).respond(200, json=listed)

    await dd.grant_permission(role_id, "6f66600e-dd12-11e8-9e55-7f30fbb45e73")
    assert body(grant) == {
        "data": {"type": "permissions", "id": "6f66600e-dd12-11e8-9e55-7f30fbb45e73"}
    }
    perms = await dd.list_role_permissions(role_id)
    live_tail = next(p for p in perms if p.name == "logs_live_tail")
    assert live_tail.display_name == "Logs Live Tail"
    assert any(p.restricted for p in perms)
    await dd.revoke_permission(role_id, "6f66600e-dd12-11e8-9e55-7f30fbb45e73")
    assert revoke.calls.last.request.method == "DELETE"
    assert body(revoke) == body(grant)


async def test_list_permissions_full_catalogue(router: respx.Router, dd: DatadogClient) -> None:
    status, catalogue = recorded(
        "list_permissions_returns_ok_response", "GET", "/api/v2/permissions"
    )
    router.get("/api/v2/permissions").respond(status, json=catalogue)
    perms = await dd.list_permissions()
    assert len(perms) == len(catalogue["data"]) > 100
    admin = next(p for p in perms if p.name == "admin")
    assert admin.id == "984a2bd4-d3b4-11e8-a1ff-a7f660d43029"
    assert admin.group_name == "General"
    assert admin.model_extra is not None and "name_aliases" in admin.model_extra


# ---------------------------------------------------------------- v2 authn mappings


async def test_authn_mappings(router: respx.Router, dd: DatadogClient) -> None:
    cassette = "list_all_authn_mappings_returns_ok_response"
    _, listed = recorded(cassette, "GET", "/api/v2/authn_mappings")
    _, created = recorded(cassette, "POST", "/api/v2/authn_mappings")
    listing = router.get("/api/v2/authn_mappings").respond(200, json=listed)
    create = router.post("/api/v2/authn_mappings").respond(200, json=created)
    mapping_id = created["data"]["id"]
    role_id = created["data"]["relationships"]["role"]["data"]["id"]
    patch = router.patch(f"/api/v2/authn_mappings/{mapping_id}").respond(200, json=created)
    router.get(f"/api/v2/authn_mappings/{mapping_id}").respond(200, json=created)
    delete = router.delete(f"/api/v2/authn_mappings/{mapping_id}").respond(204)

    mappings = await dd.list_authn_mappings()
    assert len(mappings) == len(listed["data"])
    assert all(m.role_id for m in mappings)
    assert listing.calls.last.request.url.params["page[number]"] == "0"

    mapping = await dd.create_authn_mapping("groups", "ops", role_id)
    assert body(create) == {
        "data": {
            "type": "authn_mappings",
            "attributes": {"attribute_key": "groups", "attribute_value": "ops"},
            "relationships": {"role": {"data": {"type": "roles", "id": role_id}}},
        }
    }
    assert mapping.id == mapping_id and mapping.role_id == role_id

    await dd.update_authn_mapping(mapping_id, attribute_value="sre", role_id="r2")
    assert body(patch) == {
        "data": {
            "type": "authn_mappings",
            "id": mapping_id,
            "attributes": {"attribute_value": "sre"},
            "relationships": {"role": {"data": {"type": "roles", "id": "r2"}}},
        }
    }
    assert (await dd.get_authn_mapping(mapping_id)).id == mapping_id
    await dd.delete_authn_mapping(mapping_id)
    assert delete.called


# ---------------------------------------------------------------- v2 org configs & cost


async def test_org_configs(router: respx.Router, dd: DatadogClient) -> None:
    _, listed = recorded("list_org_configs_returns_ok_response", "GET", "/api/v2/org_configs")
    _, one = recorded(
        "get_a_specific_org_config_value_returns_ok_response",
        "GET",
        "/api/v2/org_configs/custom_roles",
    )
    router.get("/api/v2/org_configs").respond(200, json=listed)
    router.get("/api/v2/org_configs/custom_roles").respond(200, json=one)
    patch = router.patch("/api/v2/org_configs/custom_roles").respond(200, json=one)
    configs = await dd.list_org_configs()
    assert len(configs) == len(listed["data"])
    assert {c.value_type for c in configs} >= {"bool"}
    config = await dd.get_org_config("custom_roles")
    assert (config.name, config.value, config.value_type) == ("custom_roles", False, "bool")
    await dd.update_org_config("custom_roles", True)
    assert body(patch) == {"data": {"type": "org_configs", "attributes": {"value": True}}}


async def test_costs(router: respx.Router, dd: DatadogClient) -> None:
    _, estimated = recorded(
        "get_estimated_cost_across_multiorg_account_with_month_returns_ok_response",
        "GET",
        "/api/v2/usage/estimated_cost_by_org",
    )
    est = router.get("/api/v2/usage/estimated_cost").respond(200, json=estimated)
    hist = router.get("/api/v2/usage/historical_cost").respond(200, json=estimated)
    projected = {
        "data": [
            {
                "type": "projected_cost",
                "id": "x",
                "attributes": {
                    "org_name": "a",
                    "public_id": "p1",
                    "date": "2024-05-01T00:00:00+00:00",
                    "projected_total_cost": 12.5,
                    "charges": [
                        {"charge_type": "total", "cost": 12.5, "product_name": "infra_host"}
                    ],
                },
            }
        ]
    }
    proj = router.get("/api/v2/usage/projected_cost").respond(200, json=projected)

    rows = await dd.estimated_cost(start_month=date(2022, 4, 1))
    assert est.calls.last.request.url.params["view"] == "sub-org"
    assert est.calls.last.request.url.params["start_month"] == "2022-04-01T00:00:00Z"
    assert rows[0].public_id == "fasjyydbcgwwc2uc"
    assert rows[0].total_cost == pytest.approx(73.17)
    assert [c.product_name for c in rows[0].charges][:2] == ["infra_host", "synthetics_api_tests"]
    await dd.estimated_cost(start_date=datetime(2022, 4, 20, 17, 7, 1))
    assert est.calls.last.request.url.params["start_date"] == "2022-04-20T17:07:01Z"

    await dd.historical_cost(date(2022, 3, 1), "2022-04", view="summary")
    params = hist.calls.last.request.url.params
    assert (params["start_month"], params["end_month"], params["view"]) == (
        "2022-03-01T00:00:00Z",
        "2022-04",
        "summary",
    )
    rows = await dd.projected_cost()
    assert proj.called
    assert rows[0].projected_total_cost == 12.5 and rows[0].total_cost is None
