"""Organizations as recorded real exchanges show them (tests/contract/evidence/README.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from ddmsp.datadog import Credentials, DatadogClient
from ddmsp.datadog.errors import ValidationError, org_not_accessible
from ddmsp.simulator.server import RunningSimulator

IDP_XML = (Path(__file__).parent / "data" / "idp_metadata.xml").read_bytes()
UUID1_DATADOG = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-da7ad09000[0-9a-f]{2}$")
V1_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _create(sim: RunningSimulator, name: str) -> dict[str, Any]:
    answer = requests.post(sim.base_url + "/api/v1/org", headers=sim.headers(),
                           json={"name": name}, timeout=5)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _keys(sim: RunningSimulator, created: dict[str, Any]) -> dict[str, str]:
    return sim.headers(created["api_key"]["key"], created["application_key"]["hash"])


def _partner_email(sim: RunningSimulator) -> str:
    return sim.state.orgs[sim.partner_public_id].user_email


def test_create_answer_as_recorded(sim: RunningSimulator) -> None:
    created = _create(sim, "client-a")
    org = created["org"]
    assert UUID1_DATADOG.match(org["public_id"])
    assert V1_CREATED.match(org["created"])
    assert org["description"] is None
    assert org["billing"] == {"type": "parent_billing"}
    email = _partner_email(sim)
    assert created["user"]["email"] == created["user"]["handle"] == email  # the calling user
    assert created["user"]["access_role"] == "adm"
    assert created["api_key"]["created_by"] == created["application_key"]["owner"] == email
    assert created["api_key"]["name"].startswith(f"API Key created by {email} on ")
    assert created["application_key"]["name"] == f"{email} (api)"
    assert V1_CREATED.match(created["api_key"]["created"])
    settings = org["settings"]
    assert settings["saml_idp_endpoint"] is None
    assert settings["saml_idp_metadata_valid_until"] is None


def test_new_child_where_saml_cannot_be_enabled(sim: RunningSimulator) -> None:
    sim.set_config(saml_can_be_enabled=False)
    created = _create(sim, "no-saml")
    settings = created["org"]["settings"]
    assert settings["saml_can_be_enabled"] is False
    assert settings["saml_login_url"] is None and settings["saml_idp_endpoint"] is None
    pid, keys = created["org"]["public_id"], _keys(sim, created)
    upload = requests.post(sim.base_url + f"/api/v1/org/{pid}/idp_metadata", headers=keys,
                           files={"idp_file": ("idp.xml", IDP_XML)}, timeout=5)
    assert upload.status_code == 400
    assert upload.json() == {"errors": ["SAML can not be enabled for this organization"]}
    upload_v2 = requests.post(sim.base_url + "/api/v2/saml_configurations/idp_metadata",
                              headers=keys, files={"idp_file": ("idp.xml", IDP_XML)}, timeout=5)
    assert upload_v2.status_code == 400
    enable = requests.put(sim.base_url + f"/api/v1/org/{pid}", headers=keys,
                          json={"settings": {"saml": {"enabled": True}}}, timeout=5)
    assert enable.status_code == 400
    sim.set_config(saml_can_be_enabled=True)
    assert _create(sim, "saml")["org"]["settings"]["saml_can_be_enabled"] is True


@pytest.mark.parametrize("listing", ["own", "children"])
def test_org_listing_switch(sim: RunningSimulator, listing: str) -> None:
    sim.set_config(org_listing=listing)
    child = _create(sim, "listed")
    listed = requests.get(sim.base_url + "/api/v1/org", headers=sim.headers(), timeout=5)
    ids = [o["public_id"] for o in listed.json()["orgs"]]
    expected = [sim.partner_public_id]
    if listing == "children":
        expected.append(child["org"]["public_id"])
    assert ids == expected
    own = requests.get(sim.base_url + "/api/v1/org", headers=_keys(sim, child), timeout=5)
    assert [o["public_id"] for o in own.json()["orgs"]] == [child["org"]["public_id"]]


def test_spin_off_answer_and_state_seen_by_the_org_itself(sim: RunningSimulator) -> None:
    child = _create(sim, "leaving")
    pid, keys = child["org"]["public_id"], _keys(sim, child)
    before = requests.get(sim.base_url + f"/api/v1/org/{pid}", headers=keys, timeout=5).json()
    assert before["org"]["billing"] == {"type": "parent_billing"}
    assert before["org"]["subscription"]["type"] == "pro" and before["org"]["trial"] is False
    url = sim.base_url + f"/api/v1/org/{pid}/downgrade"
    down = requests.post(url, headers=sim.headers(), timeout=5)
    assert down.status_code == 200
    # OrgDowngradedResponse: {"message": string}
    assert set(down.json()) == {"message"} and pid in down.json()["message"]
    again = requests.post(url, headers=sim.headers(), timeout=5)
    assert again.status_code == 403 and again.json() == {"errors": ["Forbidden"]}
    after = requests.get(sim.base_url + f"/api/v1/org/{pid}", headers=keys, timeout=5).json()
    assert after["org"]["billing"] == {}  # no longer billed through the parent
    assert after["org"]["subscription"]["type"] == "trial"  # "placed on a 30-day trial"
    assert after["org"]["trial"] is True
    sim.set_config(org_listing="children")
    listed = requests.get(sim.base_url + "/api/v1/org", headers=sim.headers(), timeout=5).json()
    assert pid not in [o["public_id"] for o in listed["orgs"]]


def test_v2_not_found_bodies_are_plain_strings(sim: RunningSimulator) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    role = requests.get(sim.base_url + f"/api/v2/roles/{missing}", headers=sim.headers(),
                        timeout=5)
    assert role.status_code == 404 and role.json() == {"errors": [f"{missing} not found"]}
    mapping = requests.get(sim.base_url + f"/api/v2/authn_mappings/{missing}",
                           headers=sim.headers(), timeout=5)
    assert mapping.json() == {"errors": [f"Mapping with id {missing} not found"]}
    config = requests.get(sim.base_url + "/api/v2/org_configs/i_dont_exist",
                          headers=sim.headers(), timeout=5)
    assert config.status_code == 404
    assert config.json() == {"errors": ["OrgConfig: i_dont_exist not found"]}


def test_429_has_an_empty_body(sim: RunningSimulator) -> None:
    sim.set_rate_limit("orgs_read", 0, 60)
    answer = requests.get(sim.base_url + "/api/v1/org", headers=sim.headers(), timeout=5)
    assert answer.status_code == 429 and answer.content == b""
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["X-RateLimit-Name"] == "orgs_read"
    assert 1 <= int(answer.headers["X-RateLimit-Reset"]) <= 60
    sim.add_fault(route="GET /api/v1/validate", rate_limit_storm={"count": 1, "reset": 2})
    storm = requests.get(sim.base_url + "/api/v1/validate", headers=sim.headers(), timeout=5)
    assert storm.status_code == 429 and storm.content == b""
    assert storm.headers["X-RateLimit-Reset"] == "2"


NOT_ALLOWED = {"errors": ["Not allowed to access this organization"]}


def test_unknown_or_foreign_org_id_answers_the_recorded_400(sim: RunningSimulator) -> None:
    """DataDog/datadog-api-client-go tests/api/datadogV1/cassettes: TestOrgsGetErrors and
    TestOrgsUpdateErrors 400_Bad_Request.yaml (GET/PUT /api/v1/org/lsqdkjf) and
    TestOrgsUploadIdpErrors/400_Bad_Request.yaml: 400 and this body, not 403 or 404."""
    child = _create(sim, "foreign")
    keys = _keys(sim, child)
    base = sim.base_url + "/api/v1/org/"
    for public_id, headers in (("lsqdkjf", sim.headers()), ("lsqdkjf", keys),
                               (child["org"]["public_id"], sim.headers()),  # parent on child
                               (sim.partner_public_id, keys)):  # child on its parent
        got = requests.get(base + public_id, headers=headers, timeout=5)
        assert (got.status_code, got.json()) == (400, NOT_ALLOWED)
        put = requests.put(base + public_id, headers=headers, json={}, timeout=5)
        assert (put.status_code, put.json()) == (400, NOT_ALLOWED)
        # The recorded upload sent a body that is not metadata: the org is judged first.
        idp = requests.post(base + public_id + "/idp_metadata", headers=headers, timeout=5,
                            files={"idp_file": (".", b'{"errors": ["not metadata"]}',
                                                "application/octet-stream")})
        assert (idp.status_code, idp.json()) == (400, NOT_ALLOWED)
        ok = requests.post(base + public_id + "/idp_metadata", headers=headers, timeout=5,
                           files={"idp_file": ("idp.xml", IDP_XML, "application/xml")})
        assert (ok.status_code, ok.json()) == (400, NOT_ALLOWED)
    # Invalid keys stay a 403 (the keys are judged before the org).
    bad = sim.headers("f" * 32, "0" * 40)
    assert requests.get(base + "lsqdkjf", headers=bad, timeout=5).status_code == 403
    # The org's own keys still read it.
    own = requests.get(base + child["org"]["public_id"], headers=keys, timeout=5)
    assert own.status_code == 200


async def test_the_client_reads_the_400_as_org_not_accessible(sim: RunningSimulator) -> None:
    creds = Credentials.of(sim.partner_api_key, sim.partner_app_key)
    async with DatadogClient(creds, base_url=sim.base_url,
                             transport=httpx.AsyncHTTPTransport()) as dd:
        with pytest.raises(ValidationError) as denied:
            await dd.get_org("lsqdkjf")
    assert denied.value.status == 400 and org_not_accessible(denied.value)
    assert not org_not_accessible(ValidationError("other", status=400, api_errors=["x"]))
