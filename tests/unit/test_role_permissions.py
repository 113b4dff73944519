"""DatadogRole helpers: name resolution, restricted opt-in, suggestions, diffing."""

from __future__ import annotations

import pytest

from ddmsp.controllers.role import permission_diff, resolve_permissions, suggest
from ddmsp.datadog import Permission
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.simulator.state import PERMISSIONS

CATALOGUE = [Permission.model_validate(p) for p in PERMISSIONS]
BY_NAME = {p.name: p for p in CATALOGUE}
NAMES = {p.id: p.name for p in CATALOGUE}


def test_names_become_ids_in_order_without_duplicates() -> None:
    ids = resolve_permissions(["monitors_write", "dashboards_write", "monitors_write"],
                              CATALOGUE, allow_restricted=False)
    assert ids == [BY_NAME["monitors_write"].id, BY_NAME["dashboards_write"].id]


def test_unknown_names_are_listed_with_closest_valid_names() -> None:
    with pytest.raises(Blocked) as err:
        resolve_permissions(["dashboard_write", "monitors_write", "Dashboards Read", "zzzz"],
                            CATALOGUE, allow_restricted=True)
    assert err.value.reason == "UnknownPermissions"
    msg = err.value.message
    assert "'dashboard_write' (did you mean dashboards_write" in msg
    assert "'Dashboards Read' (did you mean dashboards_read" in msg
    assert "'zzzz' (no similar name)" in msg
    assert "monitors_write" not in msg.split("did you mean")[0]


def test_suggest_ranks_spelling_variants_first() -> None:
    assert suggest("DASHBOARDS-READ", CATALOGUE)[0] == "dashboards_read"
    assert suggest("monitor_write", CATALOGUE)[0] == "monitors_write"
    assert suggest("synthetics", CATALOGUE)  # a fragment still suggests something
    assert len(suggest("logs_read", CATALOGUE)) <= 3


def test_restricted_permissions_need_the_opt_in() -> None:
    restricted = next(p.name for p in CATALOGUE if p.restricted)
    with pytest.raises(Blocked) as err:
        resolve_permissions([restricted, "monitors_write"], CATALOGUE, allow_restricted=False)
    assert err.value.reason == "RestrictedPermissions"
    assert restricted in err.value.message
    assert "allowRestrictedPermissions: true" in err.value.message
    assert resolve_permissions([restricted], CATALOGUE, allow_restricted=True) == [
        BY_NAME[restricted].id]


def test_permission_diff_names_missing_and_extra() -> None:
    a, b, c = (BY_NAME[n].id for n in ("monitors_write", "dashboards_write", "apm_read"))
    assert permission_diff([a, b], [b, a], NAMES) == []
    diff = permission_diff([a, b], [b, c], NAMES)
    assert diff == ["permissions missing: monitors_write",
                    "permissions not in the spec: apm_read"]
    assert permission_diff([], ["unknown-id"], NAMES) == [
        "permissions not in the spec: unknown-id"]
