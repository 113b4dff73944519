"""Contract 1: every recorded exchange with the real Datadog API, replayed against the simulator.

Each cassette is one scenario run against the real API. The simulator must give the recorded
status and a body of the same shape (same keys, same JSON types; IDs and times aside). IDs the
real API returned (roles, mappings) are mapped to the simulator's own as the scenario goes.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from ddmsp.simulator.server import RunningSimulator
from tests.contract.conftest import CASSETTES
from tests.contract.shapes import shape_diff

CASSETTE_FILES = sorted(CASSETTES.glob("*.yaml"))
BAD_KEYS = {"DD-API-KEY": "0" * 32, "DD-APPLICATION-KEY": "0" * 40}
# Cost answers depend on "now" (estimates exist for this and last month only): replay those
# cassettes at their recording time (DataDog/datadog-api-client-python, the cassette's
# `.frozen` file next to it in tests/v2/cassettes/test_scenarios/).
FROZEN = {
    "get_estimated_cost_across_multiorg_account_with_month_returns_ok_response":
        "2022-04-25T17:07:01.561+00:00",
}


class _FixedClock:
    """Stands in for the simulator clock where the simulator has none yet."""

    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when


def _at(sim: RunningSimulator, when: str) -> None:
    moment = datetime.fromisoformat(when)
    if hasattr(sim, "set_clock"):
        sim.set_clock(moment)
    else:
        sim.state.clock = _FixedClock(moment)  # type: ignore[attr-defined]


def _collect_ids(recorded: Any, ours: Any, ids: dict[str, str]) -> None:
    """Learn recorded-id -> simulator-id pairs from resources at the same place."""
    if isinstance(recorded, dict) and isinstance(ours, dict):
        rid, oid = recorded.get("id"), ours.get("id")
        if isinstance(rid, str) and isinstance(oid, str) and rid != oid:
            ids[rid] = oid
        for key in ("data", "included"):
            if key in recorded and key in ours:
                _collect_ids(recorded[key], ours[key], ids)
    elif isinstance(recorded, list) and isinstance(ours, list) and len(recorded) == len(ours):
        for r, o in zip(recorded, ours, strict=True):
            _collect_ids(r, o, ids)


def _substitute(text: str, ids: dict[str, str]) -> str:
    for old, new in ids.items():
        text = text.replace(old, new)
    return text


def replay(sim: RunningSimulator, cassette: Path) -> list[str]:
    """Replay one cassette; returns the mismatches found."""
    if cassette.stem in FROZEN:
        _at(sim, FROZEN[cassette.stem])
    scenario = yaml.safe_load(cassette.read_text())
    forbidden = "forbidden" in cassette.name
    ids: dict[str, str] = {}
    problems: list[str] = []
    session = requests.Session()
    for n, exchange in enumerate(scenario["interactions"]):
        req, resp = exchange["request"], exchange["response"]
        url = urlsplit(req["uri"])
        target = sim.base_url + _substitute(url.path, ids)
        if url.query:
            target += "?" + _substitute(url.query, ids)
        headers = {k: v[0] for k, v in req["headers"].items() if k.lower() == "content-type"}
        headers.update(BAD_KEYS if forbidden else sim.headers())
        body = req["body"]
        data = _substitute(body, ids).encode() if isinstance(body, str) else None
        answer = session.request(req["method"], target, headers=headers, data=data, timeout=10)
        where = f"{cassette.name}#{n} {req['method']} {url.path}"
        want = resp["status"]["code"]
        if answer.status_code != want:
            problems.append(f"{where}: status {answer.status_code} != recorded {want}")
            continue
        recorded_text = resp["body"]["string"]
        if not recorded_text.strip():
            if answer.content.strip():
                problems.append(f"{where}: recorded an empty body, simulator did not")
            continue
        recorded = json.loads(recorded_text)
        ours = answer.json()
        problems.extend(f"{where}: {d}" for d in shape_diff(recorded, ours))
        _collect_ids(recorded, ours, ids)
    return problems


def test_all_cassettes_are_covered() -> None:
    assert len(CASSETTE_FILES) >= 17


@pytest.mark.parametrize("cassette", CASSETTE_FILES, ids=lambda p: p.stem)
def test_replay_matches_recorded_status_and_shape(sim: RunningSimulator, cassette: Path) -> None:
    problems = replay(sim, cassette)
    assert not problems, "\n".join(problems)


def test_new_role_gets_the_recorded_default_permissions(sim: RunningSimulator) -> None:
    """The permissions a new role gets are exactly the latest recording's defaults."""
    scenario = yaml.safe_load(
        (CASSETTES / "list_permissions_for_a_role_returns_ok_response.yaml").read_text()
    )
    recorded = json.loads(scenario["interactions"][0]["response"]["body"]["string"])
    want = [p["id"] for p in recorded["data"]["relationships"]["permissions"]["data"]]
    answer = requests.post(
        sim.base_url + "/api/v2/roles",
        headers=sim.headers(),
        json={"data": {"type": "roles", "attributes": {"name": "defaults"}}},
        timeout=10,
    )
    got = [p["id"] for p in answer.json()["data"]["relationships"]["permissions"]["data"]]
    assert got == want


def test_permission_catalogue_is_the_recorded_one(sim: RunningSimulator) -> None:
    scenario = yaml.safe_load((CASSETTES / "list_permissions_returns_ok_response.yaml").read_text())
    recorded = json.loads(scenario["interactions"][0]["response"]["body"]["string"])
    answer = requests.get(sim.base_url + "/api/v2/permissions", headers=sim.headers(), timeout=10)
    assert answer.json() == recorded


def test_shape_diff_notices_differences() -> None:
    """The comparator itself: a missing key, an extra key and a type change are all reported."""
    recorded = {"data": {"id": "a", "attributes": {"name": "x", "n": 1}}}
    assert shape_diff(recorded, {"data": {"id": "b", "attributes": {"name": "y", "n": 2.5}}}) == []
    assert shape_diff(recorded, {"data": {"id": "b", "attributes": {"name": "y"}}})
    assert shape_diff(recorded, {"data": {"id": "b", "attributes": {"name": 3, "n": 1}}})
    assert shape_diff(recorded, {"data": {"id": "b", "attributes": {"name": "y", "n": 1, "z": 0}}})
    assert shape_diff({"errors": ["x"]}, {"errors": []})
