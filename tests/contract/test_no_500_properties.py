"""Contract 5: no malformed body, parameter or header makes the simulator answer 500.

Hypothesis throws structurally plausible and plain garbage requests at every endpoint; every
answer must be below 500 and every error must have the real shape ``{"errors": [str, ...]}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddmsp.simulator.app import ROUTE_META
from ddmsp.simulator.server import RunningSimulator, running_simulator

ROUTES = sorted(ROUTE_META)
QUERY_NAMES = [
    "filter",
    "filter[id]",
    "page[size]",
    "page[number]",
    "sort",
    "start_month",
    "end_month",
    "start_date",
    "end_date",
    "view",
    "include_org_details",
    "include_connected_accounts",
    "cost_aggregation",
]
SETTINGS = settings(
    max_examples=int(os.environ.get("DDMSP_HYPOTHESIS_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

text = st.text(max_size=40)
# Header values a client can send at all (aiohttp's parser answers 400 to control characters).
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=50
) | st.sampled_from(["0" * 32, "f" * 40])
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
RESOURCE_TYPES = st.sampled_from(
    ["roles", "permissions", "authn_mappings", "org_configs", "users", "api_keys",
     "application_keys", "org_connection", "", 3]
)
plausible = st.fixed_dictionaries(
    {
        "data": st.one_of(
            json_value,
            st.fixed_dictionaries(
                {
                    "type": RESOURCE_TYPES,
                    "id": json_value,
                    "attributes": st.one_of(
                        json_value,
                        st.dictionaries(
                            st.sampled_from(["name", "attribute_key", "attribute_value", "value",
                                             "scopes", "email", "service_account"]),
                            json_value,
                        ),
                    ),
                    "relationships": st.one_of(
                        json_value,
                        st.dictionaries(
                            st.sampled_from(["permissions", "role"]),
                            st.one_of(
                                json_value,
                                st.fixed_dictionaries(
                                    {
                                        "data": st.one_of(
                                            json_value,
                                            st.lists(
                                                st.fixed_dictionaries(
                                                    {"id": json_value, "type": RESOURCE_TYPES}
                                                ),
                                                max_size=3,
                                            ),
                                        )
                                    }
                                ),
                            ),
                        ),
                    ),
                }
            ),
        )
    }
)
v1_org_body = st.dictionaries(
    st.sampled_from(["name", "description", "settings", "billing", "subscription", "trial"]),
    st.one_of(
        json_value,
        st.dictionaries(
            st.sampled_from(
                [
                    "saml",
                    "saml_strict_mode",
                    "saml_idp_initiated_login",
                    "saml_autocreate_users_domains",
                    "saml_autocreate_access_role",
                    "private_widget_share",
                    "type",
                ]
            ),
            st.one_of(
                json_value, st.dictionaries(st.sampled_from(["enabled", "domains"]), json_value)
            ),
        ),
    ),
)
body_strategy = st.one_of(
    st.none(),
    st.binary(max_size=200),
    json_value.map(lambda v: json.dumps(v).encode()),
    plausible.map(lambda v: json.dumps(v).encode()),
    v1_org_body.map(lambda v: json.dumps(v).encode()),
    st.just(b"[" * 5000),
)
content_types = st.sampled_from(
    [
        "application/json",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "text/plain",
        "application/x-www-form-urlencoded",
    ]
)


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[RunningSimulator]:
    with running_simulator() as sim:
        role = requests.post(
            sim.base_url + "/api/v2/roles",
            headers=sim.headers(),
            json={"data": {"type": "roles", "attributes": {"name": "seed"}}},
            timeout=10,
        ).json()["data"]["id"]
        for name in list(sim.state.rate_limits):  # only the answers matter here, not limits
            sim.set_rate_limit(name, 10**9, 60)
        sim.seed_role_id = role  # type: ignore[attr-defined]
        yield sim


def _assert_answer(answer: requests.Response) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])
    if answer.status_code >= 400:
        body = answer.json()
        assert isinstance(body, dict) and isinstance(body.get("errors"), list), body
        assert all(isinstance(e, str) for e in body["errors"])


def _path(template: str, sim: RunningSimulator, fill: dict[str, str]) -> str:
    valid = {
        "public_id": sim.partner_public_id,
        "role_id": sim.seed_role_id,  # type: ignore[attr-defined]
        "authn_mapping_id": "00000000-0000-0000-0000-000000000000",
        "org_config_name": "custom_roles",
        "user_id": "00000000-0000-0000-0000-000000000000",
        "user_invitation_uuid": "00000000-0000-0000-0000-000000000000",
        "api_key_id": "00000000-0000-0000-0000-000000000000",
        "app_key_id": "00000000-0000-0000-0000-000000000000",
        "service_account_id": "00000000-0000-0000-0000-000000000000",
        "connection_id": "00000000-0000-0000-0000-000000000000",
    }
    path = template
    for name, value in valid.items():
        path = path.replace("{" + name + "}", quote(fill.get(name, value), safe=""))
    return path


@SETTINGS
@given(
    route=st.sampled_from(ROUTES),
    fill=st.dictionaries(
        st.sampled_from(["public_id", "role_id", "authn_mapping_id", "org_config_name"]),
        text,
    ),
    query=st.dictionaries(st.sampled_from(QUERY_NAMES), text, max_size=4),
    body=body_strategy,
    content_type=content_types,
)
def test_garbage_requests_never_answer_500(
    shared_sim: RunningSimulator,
    route: tuple[str, str],
    fill: dict[str, str],
    query: dict[str, str],
    body: bytes | None,
    content_type: str,
) -> None:
    method, template = route
    answer = requests.request(
        method,
        shared_sim.base_url + _path(template, shared_sim, fill),
        params=query,
        data=body,
        headers={**shared_sim.headers(), "Content-Type": content_type},
        timeout=10,
    )
    _assert_answer(answer)


@SETTINGS
@given(
    api_key=st.one_of(st.none(), HEADER_TEXT),
    app_key=st.one_of(st.none(), HEADER_TEXT),
    route=st.sampled_from(ROUTES),
)
def test_garbage_keys_are_refused_with_403(
    shared_sim: RunningSimulator, api_key: str | None, app_key: str | None, route: tuple[str, str]
) -> None:
    headers: dict[str, Any] = {}
    for name, value in (("DD-API-KEY", api_key), ("DD-APPLICATION-KEY", app_key)):
        if value is not None:
            headers[name] = value
    method, template = route
    answer = requests.request(
        method, shared_sim.base_url + _path(template, shared_sim, {}), headers=headers, timeout=10
    )
    _assert_answer(answer)
    assert answer.status_code in (403, 400)


@SETTINGS
@given(
    payload=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.sampled_from(
            [
                b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
                b'<!DOCTYPE x SYSTEM "http://example.com/x.dtd"><x/>',
                b"\xef\xbb\xbf<x/>",
                b"<md:EntityDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata'/>",
            ]
        ),
    ),
    v2=st.booleans(),
)
def test_idp_metadata_garbage_is_a_400(
    shared_sim: RunningSimulator, payload: bytes, v2: bool
) -> None:
    path = (
        "/api/v2/saml_configurations/idp_metadata"
        if v2
        else f"/api/v1/org/{shared_sim.partner_public_id}/idp_metadata"
    )
    answer = requests.post(
        shared_sim.base_url + path,
        headers=shared_sim.headers(),
        files={"idp_file": ("idp.xml", payload, "application/xml")},
        timeout=10,
    )
    _assert_answer(answer)
    assert answer.status_code == 400
