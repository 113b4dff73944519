"""DatadogRole helpers: name resolution, Datadog's defaults, suggestions, diffing, claims."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ddmsp.controllers.role import (
    RoleConnector,
    RoleExternal,
    _Catalogue,
    default_permission_ids,
    desired_permission_ids,
    permission_diff,
    resolve_permissions,
    role_key,
    suggest,
    wanted_name,
)
from ddmsp.datadog import Permission, Role
from ddmsp.reconcile.managed import ManagedObject
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.resources.role import ROLE
from ddmsp.simulator.state import PERMISSIONS

# Datadog's defaults: RBAC docs ("restricted permissions ... automatically assigned to every
# role by default") and the ten a new role received in the recorded create.
DOCUMENTED_DEFAULTS = {"dashboards_read", "monitors_read", "apm_read", "incident_read",
                       "rum_apps_read", "notebooks_read", "slos_read", "ci_visibility_read",
                       "cd_visibility_read", "appsec_vm_read"}

CATALOGUE = [Permission.model_validate(p) for p in PERMISSIONS]
BY_NAME = {p.name: p for p in CATALOGUE}
NAMES = {p.id: p.name for p in CATALOGUE}


def test_names_become_ids_in_order_without_duplicates() -> None:
    ids = resolve_permissions(["monitors_write", "dashboards_write", "monitors_write"],
                              CATALOGUE)
    assert ids == [BY_NAME["monitors_write"].id, BY_NAME["dashboards_write"].id]


def test_unknown_names_are_listed_with_closest_valid_names() -> None:
    with pytest.raises(Blocked) as err:
        resolve_permissions(["dashboard_write", "monitors_write", "Dashboards Read", "zzzz"],
                            CATALOGUE)
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


def test_restricted_permissions_are_simply_allowed() -> None:
    ids = resolve_permissions(["dashboards_read", "monitors_write"], CATALOGUE)
    assert ids == [BY_NAME["dashboards_read"].id, BY_NAME["monitors_write"].id]


def test_defaults_are_the_documented_restricted_ones() -> None:
    assert {NAMES[i] for i in default_permission_ids(CATALOGUE)} == DOCUMENTED_DEFAULTS


def test_keep_adds_the_defaults_and_opt_out_is_exact() -> None:
    keep = desired_permission_ids(["monitors_write", "dashboards_read"], CATALOGUE, "Keep")
    assert {NAMES[i] for i in keep} == DOCUMENTED_DEFAULTS | {"monitors_write"}
    assert len(keep) == len(set(keep))
    out = desired_permission_ids(["monitors_write", "dashboards_read"], CATALOGUE, "OptOut")
    assert [NAMES[i] for i in out] == ["monitors_write", "dashboards_read"]
    assert desired_permission_ids([], CATALOGUE, "OptOut") == []


def _role(name: str, spec: dict[str, object], namespace: str = "team-a") -> ManagedObject:
    return ManagedObject.from_body(ROLE, {"metadata": {"name": name, "namespace": namespace},
                                          "spec": spec})


def test_role_names_compare_without_case() -> None:
    assert role_key("Admins") == role_key("ADMINS") == role_key("admins")
    assert role_key("Ops") != role_key("Ops 2")


def test_claims_name_the_org_and_the_normalised_role_name() -> None:
    connector = RoleConnector.__new__(RoleConnector)  # claims() needs no settings or clients
    a = connector.claims(_role("a", {"orgRef": {"name": "acme"}, "roleName": "SRE"}))
    b = connector.claims(_role("b", {"orgRef": {"name": "acme"}, "roleName": "sre"}))
    assert a == b == ["role/orgRef:team-a/acme/sre"]
    parent = connector.claims(_role("c", {"orgRef": {"name": "acme", "org": "parent"},
                                          "roleName": "SRE"}))
    assert parent == ["role/orgRef:team-a/acme/parent/sre"]
    by_secret = connector.claims(_role("sre", {"credentialsSecretRef": {"name": "keys"}}))
    assert by_secret == ["role/secret:team-a/keys/sre"]
    adopted = connector.claims(_role("d", {"orgRef": {"name": "acme"},
                                           "adopt": {"roleId": "abc-123"}}))
    assert adopted == ["role/orgRef:team-a/acme/id:abc-123"]  # the name stays Datadog's
    by_name = connector.claims(_role("e", {"orgRef": {"name": "acme"},
                                           "adopt": {"roleName": "Admins"}}))
    assert by_name == ["role/orgRef:team-a/acme/admins"]


def test_the_name_an_adopted_role_keeps() -> None:
    def name(spec: dict[str, object]) -> str | None:
        return wanted_name(_role("obj", {"orgRef": {"name": "acme"}, **spec}).spec, "obj")

    assert name({}) == "obj"
    assert name({"roleName": "SRE"}) == "SRE"
    assert name({"adopt": {"roleName": "Admins"}}) == "Admins"  # not renamed to "obj"
    assert name({"adopt": {"roleId": "abc"}}) is None  # left as it is in Datadog
    assert name({"adopt": {"roleId": "abc"}, "roleName": "SRE"}) == "SRE"


def test_permission_diff_names_missing_and_extra() -> None:
    a, b, c = (BY_NAME[n].id for n in ("monitors_write", "dashboards_write", "apm_read"))
    assert permission_diff([a, b], [b, a], NAMES) == []
    diff = permission_diff([a, b], [b, c], NAMES)
    assert diff == ["permissions missing: monitors_write",
                    "permissions not in the spec: apm_read"]
    assert permission_diff([], ["unknown-id"], NAMES) == [
        "permissions not in the spec: unknown-id"]


class _FakeClient:
    """Stands in for DatadogClient: only base_url and list_permissions are used."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.calls = 0

    async def list_permissions(self) -> list[Permission]:
        self.calls += 1
        return CATALOGUE


async def test_catalogue_is_cached_per_site_not_per_org_with_fake_clients() -> None:
    cache = _Catalogue()
    orgs: list[Any] = [_FakeClient("https://api.datadoghq.com") for _ in range(50)]
    eu: Any = _FakeClient("https://api.datadoghq.eu")
    for dd in [*orgs, eu]:
        assert await cache.get(dd) is CATALOGUE
    assert sum(dd.calls for dd in orgs) == 1 and eu.calls == 1
    assert len(cache) == 2


class _StubbornFakeClient:
    """Stands in for DatadogClient: its update_role keeps one permission it was asked to drop
    (as Datadog does with the permissions Minimal Access Roles would make removable)."""

    def __init__(self, keeps: str) -> None:
        self.keeps = keeps
        self.updates = 0

    async def update_role(self, role_id: str, name: str | None = None,
                          permission_ids: list[str] | None = None,
                          default_permissions_opt_out: bool = False) -> Role:
        self.updates += 1
        return Role(id=role_id, name=name or "ops",
                    permission_ids=[*(permission_ids or []), self.keeps])


async def test_a_set_datadog_will_not_hold_stalls_instead_of_looping_with_a_fake_client() -> None:
    obj = _role("ops", {"orgRef": {"name": "acme"}, "permissions": ["monitors_write"],
                        "defaultPermissions": "OptOut"})
    fake = _StubbornFakeClient(keeps=BY_NAME["usage_read"].id)
    target: Any = SimpleNamespace(dd=fake, public_id="org1", label="acme")
    ctx: Any = SimpleNamespace(obj=obj)
    external = RoleExternal(ctx, target, CATALOGUE)
    current = Role(id="r1", name="ops", permission_ids=[BY_NAME["billing_read"].id])
    with pytest.raises(Blocked) as err:
        await external._apply(current, external.desired_ids())
    assert err.value.reason == "PermissionsNotApplied" and fake.updates == 1
    assert "kept usage_read" in err.value.message
    assert "defaultPermissions: Keep" in err.value.message


def test_managed_role_names_are_recognised_as_datadog_compares_names() -> None:
    from ddmsp.controllers.role import is_managed_role

    for name in ("Datadog Admin Role", " datadog standard role ", "DATADOG READ ONLY ROLE"):
        assert is_managed_role(name)
    for name in (None, "Datadog Admin", "Datadog Admin Role 2", "Admins"):
        assert not is_managed_role(name)
