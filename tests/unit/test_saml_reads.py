"""The authn mapping listing names each mapped role (recorded `included`), so a SAML
config whose role names are all mapped needs no role listing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import respx
import yaml
from pydantic import SecretStr

from ddmsp.datadog import Credentials, DatadogClient
from tests.contract.conftest import CASSETTES


@pytest.fixture
def router() -> Iterator[respx.Router]:
    with respx.mock(base_url="https://api.datadoghq.com", assert_all_called=False) as r:
        yield r


async def test_mapping_listing_names_the_mapped_roles_from_the_recording(
        router: respx.Router) -> None:
    scenario = yaml.safe_load(
        (CASSETTES / "list_all_authn_mappings_returns_ok_response.yaml").read_text())
    listing = next(e["response"] for e in scenario["interactions"]
                   if e["request"]["method"] == "GET")
    body = json.loads(listing["body"]["string"])
    router.get("/api/v2/authn_mappings").respond(200, json=body)
    names = {r["id"]: r["attributes"]["name"] for r in body["included"]}
    creds = Credentials(api_key=SecretStr("a" * 32), app_key=SecretStr("b" * 40))
    async with DatadogClient(creds) as dd:
        mappings = await dd.list_authn_mappings()
    assert mappings and all(m.role_id for m in mappings)
    assert [m.role_name for m in mappings] == [names.get(m.role_id or "") for m in mappings]
    assert any(m.role_name for m in mappings)
