"""Fault injection: errors, storms, latency and commit-then-drop, via Python and via HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from ddmsp.simulator.faults import FaultSpecError, parse_fault
from ddmsp.simulator.server import RunningSimulator, running_simulator


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator() as running:
        yield running


def _validate(sim: RunningSimulator) -> requests.Response:
    return requests.get(sim.base_url + "/api/v1/validate", headers=sim.headers(), timeout=10)


def test_error_fault_applies_times_then_disappears(sim: RunningSimulator) -> None:
    sim.add_fault(route="GET /api/v1/validate", status=503, times=2)
    assert [_validate(sim).status_code for _ in range(3)] == [503, 503, 200]
    assert _validate(sim).json() == {"valid": True}
    assert sim.calls()["GET /api/v1/validate"] == {200: 2, 503: 2}


def test_error_body_has_the_real_shape(sim: RunningSimulator) -> None:
    sim.add_fault(route="GET /api/v1/validate", status=500)
    assert _validate(sim).json() == {"errors": ["Internal Server Error"]}
    sim.clear_faults()
    assert _validate(sim).status_code == 200


def test_error_rate_is_seeded_and_partial(sim: RunningSimulator) -> None:
    sim.add_fault(route="GET /api/v1/validate", error_rate=0.5, status=502, seed=7)
    codes = [_validate(sim).status_code for _ in range(40)]
    assert 5 < codes.count(502) < 35
    assert set(codes) == {200, 502}


def test_rate_limit_storm_has_real_headers(sim: RunningSimulator) -> None:
    sim.add_fault(route="GET /api/v1/validate", rate_limit_storm={"count": 2, "reset": 3})
    first = _validate(sim)
    assert first.status_code == 429
    assert first.headers["X-RateLimit-Reset"] == "3"
    assert first.headers["X-RateLimit-Remaining"] == "0"
    assert first.headers["X-RateLimit-Name"] == "validate"
    assert {"X-RateLimit-Limit", "X-RateLimit-Period"} <= set(first.headers)
    assert _validate(sim).status_code == 429
    assert _validate(sim).status_code == 200
    assert sim.snapshot()["faults"] == []


def test_latency(sim: RunningSimulator) -> None:
    sim.add_fault(route="GET /api/v1/validate", latency_ms=150, times=1)
    start = time.monotonic()
    assert _validate(sim).status_code == 200
    assert time.monotonic() - start >= 0.14


def test_commit_then_drop_creates_the_org_but_loses_the_answer(sim: RunningSimulator) -> None:
    sim.add_fault(route="POST /api/v1/org", commit_then_drop=True, times=1)
    with pytest.raises(requests.ConnectionError):
        requests.post(
            sim.base_url + "/api/v1/org",
            headers=sim.headers(),
            json={"name": "lost-answer"},
            timeout=10,
        )
    assert len(sim.state.find_orgs_by_name("lost-answer")) == 1
    assert sim.calls()["POST /api/v1/org"] == {0: 1}
    ok = requests.post(
        sim.base_url + "/api/v1/org", headers=sim.headers(), json={"name": "x"}, timeout=10
    )
    assert ok.status_code == 200


def test_route_matching() -> None:
    fault = parse_fault({"route": "* /api/v2/roles*"})
    assert fault.matches("GET", "/api/v2/roles/{role_id}", "/api/v2/roles/abc")
    assert not fault.matches("GET", "/api/v1/org", "/api/v1/org")
    concrete = parse_fault({"route": "GET /api/v1/org/abc"})
    assert concrete.matches("GET", "/api/v1/org/{public_id}", "/api/v1/org/abc")
    assert not concrete.matches("GET", "/api/v1/org/{public_id}", "/api/v1/org/def")
    assert parse_fault({}).matches("PUT", "/x", "/x")


@pytest.mark.parametrize(
    "spec",
    [
        {"route": 3},
        {"error_rate": 2},
        {"status": 200},
        {"rate_limit_storm": {"count": 0}},
        {"rate_limit_storm": 5},
        {"times": 0},
        {"latency_ms": -1},
        {"commit_then_drop": "yes"},
        {"surprise": 1},
        {"route": "GET api/no-slash"},
        # key faults: uses required and positive, known owners, no request fields
        {"refuse_new_app_key": {}},
        {"refuse_new_app_key": {"uses": 0}},
        {"refuse_new_app_key": {"uses": None}},
        {"refuse_new_app_key": {"uses": True}},
        {"refuse_new_app_key": {"uses": 1, "owner": "robot"}},
        {"refuse_new_app_key": {"uses": 1, "org": ""}},
        {"refuse_new_app_key": {"uses": 1, "when": "later"}},
        {"refuse_new_app_key": 3},
        {"refuse_new_app_key": {"uses": 1}, "route": "GET /api/v1/org"},
        {"refuse_new_app_key": {"uses": 1}, "status": 403},
        {"refuse_new_app_key": {"uses": 1}, "times": 0},
    ],
)
def test_bad_fault_specs_are_refused(spec: dict[str, object]) -> None:
    with pytest.raises(FaultSpecError):
        parse_fault(spec)


def test_fault_http_api(sim: RunningSimulator) -> None:
    base = sim.base_url + "/_sim/faults"
    created = requests.post(base, json={"route": "GET /api/v1/validate", "status": 500}, timeout=5)
    assert created.status_code == 201
    fault_id = created.json()["id"]
    assert [f["id"] for f in requests.get(base, timeout=5).json()["faults"]] == [fault_id]
    assert _validate(sim).status_code == 500
    assert requests.post(base, json={"status": 99}, timeout=5).status_code == 400
    assert requests.post(base, data=b"{", timeout=5).json() == {
        "errors": ["Invalid JSON in request body"]
    }
    assert requests.delete(f"{base}/{fault_id}", timeout=5).status_code == 204
    assert requests.delete(f"{base}/{fault_id}", timeout=5).status_code == 404
    requests.post(base, json={"status": 500}, timeout=5)
    assert requests.delete(base, timeout=5).status_code == 204
    assert _validate(sim).status_code == 200
    calls = requests.get(sim.base_url + "/_sim/calls", timeout=5).json()["calls"]
    assert calls["GET /api/v1/validate"]["500"] == 1


def test_requests_are_counted_per_concrete_path_too(sim: RunningSimulator) -> None:
    # A test waiting for the drift passes of one role counts that role's reads only.
    for role_id in ("a", "a", "b"):
        requests.get(f"{sim.base_url}/api/v2/roles/{role_id}", headers=sim.headers(),
                     timeout=10)
    assert sim.request_count("GET /api/v2/roles/a") == 2
    assert sim.request_count("GET /api/v2/roles/b") == 1
    assert sum(sim.calls()["GET /api/v2/roles/{role_id}"].values()) == 3
    sim.state.reset_calls()
    assert sim.request_count("GET /api/v2/roles/a") == 0


def test_a_key_fault_is_parsed_and_normalised() -> None:
    fault = parse_fault({"refuse_new_app_key": {"uses": 2, "owner": "service_account"}})
    assert fault.is_key_fault and fault.times == 1  # the next matching key only
    assert fault.as_dict() == {"id": fault.id, "times": 1, "refuse_new_app_key": {
        "uses": 2, "owner": "service_account"}}
    assert fault.matches_new_key("abc", service_account=True)
    assert not fault.matches_new_key("abc", service_account=False)
    scoped = parse_fault({"refuse_new_app_key": {"uses": 1, "org": "abc"}, "times": 3})
    assert scoped.times == 3 and scoped.as_dict()["refuse_new_app_key"] == {"uses": 1,
                                                                             "org": "abc"}
    assert scoped.matches_new_key("abc", service_account=False)
    assert not scoped.matches_new_key("other", service_account=True)


def _key_of(sim: RunningSimulator, path: str) -> tuple[str, str]:
    made = requests.post(sim.base_url + path, headers=sim.headers(), timeout=10, json={
        "data": {"type": "application_keys", "attributes": {"name": "k"}}})
    assert made.status_code == 201, made.text
    data = made.json()["data"]
    return data["id"], data["attributes"]["key"]


def test_a_new_service_account_key_is_refused_for_its_first_uses(sim: RunningSimulator) -> None:
    partner = sim.state.orgs[sim.partner_public_id]
    account = sim.state.create_service_account(partner, "sa@example.com", "SA", None, None)
    sim.add_fault(refuse_new_app_key={"uses": 2, "owner": "service_account"})
    mine_id, mine = _key_of(sim, "/api/v2/current_user/application_keys")  # a user's: not it
    key_id, key = _key_of(sim, f"/api/v2/service_accounts/{account.id}/application_keys")
    assert sim.snapshot()["faults"] == []  # armed on that key, so used up
    assert sim.state.refusals_left(key_id) == 2 and sim.state.refusals_left(mine_id) == 0

    def read(app_key: str, path: str = "/api/v2/current_user") -> requests.Response:
        return requests.get(sim.base_url + path, timeout=10,
                            headers=sim.headers(app_key=app_key))

    assert read(mine).status_code == 200
    # /api/v1/validate checks the API key alone: it uses none of the key's refusals
    assert read(key, "/api/v1/validate").status_code == 200
    refused = read(key)
    assert refused.status_code == 403 and refused.json() == {"errors": ["Forbidden"]}
    assert read(key).status_code == 403
    assert [read(key).status_code for _ in range(3)] == [200, 200, 200]
    # the next service account key is not affected (times: 1)
    _, later = _key_of(sim, f"/api/v2/service_accounts/{account.id}/application_keys")
    assert read(later).status_code == 200


def test_a_key_fault_for_another_org_waits_for_a_key_there(sim: RunningSimulator) -> None:
    fault_id = sim.add_fault(refuse_new_app_key={"uses": 1, "org": "elsewhere"})
    _, key = _key_of(sim, "/api/v2/current_user/application_keys")
    assert requests.get(sim.base_url + "/api/v2/current_user", timeout=10,
                        headers=sim.headers(app_key=key)).status_code == 200
    assert [f["id"] for f in sim.snapshot()["faults"]] == [fault_id]
    created = requests.post(sim.base_url + "/_sim/faults", timeout=5,
                            json={"refuse_new_app_key": {"uses": 1}, "route": "*"})
    assert created.status_code == 400
