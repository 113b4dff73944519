"""Contract 2, client side: every v1 request *our* client sends, and every answer it
gets from the simulator, validates against Datadog's openapi-v1.yaml."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import requests
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from requests.structures import CaseInsensitiveDict

from ddmsp.datadog import Credentials, DatadogClient
from ddmsp.simulator.server import RunningSimulator
from tests.contract.conftest import OPENAPI_V1
from tests.contract.recorded import spec_as_recorded

IDP_XML = (Path(__file__).parent / "data" / "idp_metadata.xml").read_bytes()
SPEC_HOST = "https://api.datadoghq.com"


class Recorder(httpx.AsyncBaseTransport):
    """A real transport that keeps every exchange for validation afterwards."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()  # multipart bodies stream; keep them for validation
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        self.exchanges.append((request, httpx.Response(response.status_code,
                                                       headers=response.headers,
                                                       content=content)))
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async def aclose(self) -> None:
        await self.inner.aclose()


def as_requests(request: httpx.Request, response: httpx.Response, base_url: str
                ) -> tuple[RequestsOpenAPIRequest, RequestsOpenAPIResponse]:
    """openapi-core reads requests' types; present the exchange as sent to api.datadoghq.com."""
    prepared = requests.Request(
        method=request.method, url=str(request.url).replace(base_url, SPEC_HOST),
        headers=dict(request.headers), data=request.content or None,
    ).prepare()
    answer = requests.Response()
    answer.status_code = response.status_code
    answer._content = response.content
    answer.headers = CaseInsensitiveDict(response.headers)
    answer.request = prepared
    return RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(answer)


@pytest.mark.asyncio
async def test_client_v1_requests_and_answers_match_the_spec(sim: RunningSimulator) -> None:
    recorder = Recorder()
    partner = DatadogClient(Credentials.of(sim.partner_api_key, sim.partner_app_key),
                            base_url=sim.base_url, transport=recorder)
    assert await partner.validate()
    created = await partner.create_child_org("Contract Co")
    await partner.list_orgs()
    child = DatadogClient(created.credentials, base_url=sim.base_url, transport=recorder)
    await child.get_org(created.org.public_id)
    await child.update_org(created.org.public_id,
                           {"saml_idp_initiated_login": {"enabled": True}}, name="Contract Two")
    await child.upload_idp_metadata(created.org.public_id, IDP_XML)
    await partner.usage_summary(sim.now().date().replace(day=1))
    await partner.spin_off(created.org.public_id)

    spec = spec_as_recorded(OPENAPI_V1)
    v1 = [(q, a) for q, a in recorder.exchanges if q.url.path.startswith("/api/v1/")]
    routes = {(q.method, q.url.path.split("/")[3]) for q, _ in v1}
    assert len(v1) == 8 and {("POST", "org"), ("PUT", "org"), ("GET", "usage")} <= routes
    for request, response in v1:
        assert response.status_code < 300, (request.method, request.url.path, response.text)
        openapi_request, openapi_response = as_requests(request, response, sim.base_url)
        spec.validate_request(openapi_request)
        spec.validate_response(openapi_request, openapi_response)
    await partner.aclose()
    await child.aclose()
