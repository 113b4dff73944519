"""Contract 2: the simulator's v1 requests and responses validate against openapi-v1.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from ddmsp.simulator.server import RunningSimulator
from tests.contract.conftest import OPENAPI_V1
from tests.contract.recorded import spec_as_recorded

IDP_XML = (Path(__file__).parent / "data" / "idp_metadata.xml").read_bytes()


class _DatadogHostRequest(RequestsOpenAPIRequest):
    """The spec's servers are https://{subdomain}.{site}: present requests as api.datadoghq.com."""

    @property
    def host_url(self) -> str:
        return "https://api.datadoghq.com"


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return spec_as_recorded(OPENAPI_V1)


class Checked:
    """Sends requests to the simulator and validates each request and response with the spec."""

    def __init__(self, sim: RunningSimulator, spec: OpenAPI) -> None:
        self.sim = sim
        self.spec = spec
        self.session = requests.Session()
        self.checked = 0

    def call(
        self,
        method: str,
        path: str,
        keys: dict[str, str] | None = None,
        expect: int = 200,
        valid_request: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(keys or self.sim.headers())
        answer = self.session.request(
            method, self.sim.base_url + path, headers=headers, timeout=10, **kwargs
        )
        assert answer.status_code == expect, answer.text
        request = _DatadogHostRequest(answer.request)
        if valid_request:  # deliberately invalid requests only have their answer checked
            self.spec.validate_request(request)
        self.spec.validate_response(request, RequestsOpenAPIResponse(answer))
        self.checked += 1
        return answer


@pytest.fixture
def api(sim: RunningSimulator, spec: OpenAPI) -> Iterator[Checked]:
    checked = Checked(sim, spec)
    yield checked
    assert checked.checked > 0


def _keys(created: dict[str, Any]) -> dict[str, str]:
    return {
        "DD-API-KEY": created["api_key"]["key"],
        "DD-APPLICATION-KEY": created["application_key"]["hash"],
    }


def test_validate(api: Checked) -> None:
    assert api.call("GET", "/api/v1/validate").json() == {"valid": True}
    bad = {"DD-API-KEY": "f" * 32}
    assert api.call("GET", "/api/v1/validate", keys=bad, expect=403).json() == {
        "errors": ["API key required"]
    }


def test_org_lifecycle(api: Checked, sim: RunningSimulator) -> None:
    sim.set_config(org_listing="children")  # the listing with children, validated too
    created = api.call("POST", "/api/v1/org", json={"name": "client-a"}).json()
    child_id = created["org"]["public_id"]
    assert len(created["api_key"]["key"]) == 32
    assert len(created["application_key"]["hash"]) == 40
    child = _keys(created)

    listed = api.call("GET", "/api/v1/org").json()["orgs"]
    assert [o["public_id"] for o in listed] == [sim.partner_public_id, child_id]

    # The parent's keys cannot read or change the child (Datadog's recorded 400, see
    # test_orgs_as_recorded.py); the child's own keys can.
    api.call("GET", f"/api/v1/org/{child_id}", expect=400)
    api.call("PUT", f"/api/v1/org/{child_id}", json={"name": "x"}, expect=400)
    assert api.call("GET", f"/api/v1/org/{child_id}", keys=child).json()["org"]["name"] == (
        "client-a"
    )

    api.call(
        "POST",
        f"/api/v1/org/{child_id}/idp_metadata",
        keys=child,
        files={"idp_file": ("idp.xml", IDP_XML, "application/xml")},
    )
    settings = {
        "saml": {"enabled": True},
        "saml_strict_mode": {"enabled": True},
        "saml_idp_initiated_login": {"enabled": True},
        "saml_autocreate_users_domains": {"enabled": True, "domains": ["example.com"]},
        "saml_autocreate_access_role": "ro",
    }
    org = api.call(
        "PUT",
        f"/api/v1/org/{child_id}",
        keys=child,
        json={"name": "client-a", "settings": settings},
    ).json()["org"]
    assert org["settings"]["saml"] == {"enabled": True}
    assert org["settings"]["saml_idp_metadata_uploaded"] is True
    assert org["settings"]["saml_autocreate_users_domains"]["domains"] == ["example.com"]

    down = api.call("POST", f"/api/v1/org/{child_id}/downgrade").json()
    assert child_id in down["message"]
    assert [o["public_id"] for o in api.call("GET", "/api/v1/org").json()["orgs"]] == [
        sim.partner_public_id
    ]
    # After the spin-off the former child is a parent of its own.
    grandchild = api.call("POST", "/api/v1/org", keys=child, json={"name": "client-c"}).json()
    assert grandchild["org"]["public_id"] != child_id
    api.call("POST", f"/api/v1/org/{child_id}/downgrade", expect=403)


def test_org_errors(api: Checked) -> None:
    api.call("POST", "/api/v1/org", json={"name": "x" * 33}, expect=400, valid_request=False)
    api.call("POST", "/api/v1/org", json={"name": ""}, expect=400)
    created = api.call("POST", "/api/v1/org", json={"name": "c"}).json()
    child = _keys(created)
    # A child that has not been spun off cannot create children.
    api.call("POST", "/api/v1/org", keys=child, json={"name": "gc"}, expect=403)
    pid = created["org"]["public_id"]
    api.call(
        "PUT",
        f"/api/v1/org/{pid}",
        keys=child,
        json={"settings": {"saml": {"enabled": True}}},
        expect=400,
    )
    api.call(
        "PUT",
        f"/api/v1/org/{pid}",
        keys=child,
        json={"settings": {"saml_autocreate_access_role": "root"}},
        expect=400,
        valid_request=False,
    )
    bom = b"\xef\xbb\xbf" + IDP_XML
    for payload in (bom, b"<not-xml", b""):
        api.call(
            "POST",
            f"/api/v1/org/{pid}/idp_metadata",
            keys=child,
            files={"idp_file": ("idp.xml", payload, "application/xml")},
            expect=400,
        )


def test_usage_summary(api: Checked) -> None:
    api.call("POST", "/api/v1/org", json={"name": "c"})
    month = api.sim.now().strftime("%Y-%m")  # at most 15 months back
    body = api.call(
        "GET",
        "/api/v1/usage/summary",
        params={"start_month": f"{month}-01T00:00:00Z", "include_org_details": "true"},
    ).json()
    assert len(body["usage"][0]["orgs"]) == 2
    again = api.call(
        "GET",
        "/api/v1/usage/summary",
        params={"start_month": f"{month}-01T00:00:00Z", "include_org_details": "true"},
    ).json()
    assert again["usage"] == body["usage"]
