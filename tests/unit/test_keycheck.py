"""KeysInvalid names the refused key (kind, Secret, ID), never its value; the metric counts it."""

from __future__ import annotations

import httpx
import pytest
import respx
from prometheus_client import REGISTRY

from ddmsp.controllers.keycheck import (
    KEYS_INVALID,
    KeyInUse,
    explain_refusal,
    key_in_use,
    keys_refused,
    keys_valid,
)
from ddmsp.datadog import DatadogError
from ddmsp.reconcile.conditions import get_condition
from ddmsp.reconcile.managed import ManagedObject
from ddmsp.resources.clientorg import CLIENT_ORG
from tests.unit.test_datadog_secrecy import API_KEY, APP_KEY, BASE, assert_clean, make


def obj() -> ManagedObject:
    return ManagedObject.from_body(CLIENT_ORG, {
        "metadata": {"name": "acme", "namespace": "team", "generation": 2},
        "spec": {"displayName": "Acme"}})


def failures(key: str) -> float:
    value = REGISTRY.get_sample_value("ddmsp_key_validation_failures_total",
                                      {"kind": "DatadogClientOrg", "key": key})
    return value or 0.0


def gauge(key: str) -> float | None:
    return REGISTRY.get_sample_value("ddmsp_keys_invalid", {
        "kind": "DatadogClientOrg", "namespace": "team", "name": "acme", "key": key})


@pytest.mark.parametrize(("api_valid", "reason", "key"), [
    (True, "ApplicationKeyRefused", "application"),
    (False, "APIKeyRefused", "api"),
])
async def test_the_refused_key_is_named_by_id_never_by_value(
    api_valid: bool, reason: str, key: str) -> None:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.get("/api/v1/validate").mock(return_value=httpx.Response(
        200, json={"valid": True}) if api_valid else httpx.Response(
        403, json={"errors": [f"Forbidden {API_KEY}"]}))
    router.get("/api/v1/org/o1").mock(return_value=httpx.Response(
        403, json={"errors": [f"Forbidden {APP_KEY}"]}))
    target = obj()
    before = failures(key)
    async with make(router) as dd:
        with pytest.raises(DatadogError) as refused:
            await dd.get_org("o1")
        waiting = await keys_refused(target, dd, KeyInUse(
            "acme-datadog-credentials", "key-id-42", "service account sa-1"), refused.value, 30)
    condition = get_condition(target.conditions, KEYS_INVALID)
    assert condition is not None and condition["status"] == "True"
    assert condition["reason"] == reason and waiting.reason == KEYS_INVALID
    assert "Secret team/acme-datadog-credentials" in condition["message"]
    if key == "application":
        assert "key-id-42" in condition["message"] and "sa-1" in condition["message"]
    assert_clean(condition["message"])
    assert_clean(waiting.message)
    assert failures(key) == before + 1
    assert gauge(key) == 1.0
    keys_valid(target)
    assert get_condition(target.conditions, KEYS_INVALID)["status"] == "False"
    assert gauge(key) == 0.0


@pytest.mark.parametrize(("user_status", "reason"), [
    (403, "ApplicationKeyRefused"),  # the key pair cannot even read its own user
    (200, None),  # both keys accepted: the 403 was a missing permission
    (503, None),  # could not tell: the shared translation stands
])
async def test_a_dependents_403_is_a_refused_key_only_when_the_keys_fail_a_probe(
    user_status: int, reason: str | None) -> None:
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.get("/api/v1/validate").mock(return_value=httpx.Response(200, json={"valid": True}))
    router.get("/api/v2/current_user").mock(return_value=httpx.Response(
        user_status, json={"data": {"type": "users", "id": "u1", "relationships": {
            "org": {"data": {"type": "orgs", "id": "org-uuid"}}}}}
        if user_status == 200 else {"errors": ["Forbidden"]}))
    router.get("/api/v2/roles").mock(return_value=httpx.Response(
        403, json={"errors": ["Forbidden"]}))
    target = obj()
    async with make(router) as dd:
        with pytest.raises(DatadogError) as refused:
            await dd.list_roles()
        found = await explain_refusal(target, dd, key_in_use("acme-datadog-credentials", {
            "app-key-id": "key-id-42", "service-account-id": "sa-1", "app-key": APP_KEY}),
            refused.value, 30)
    condition = get_condition(target.conditions, KEYS_INVALID)
    if reason is None:
        assert found is None and condition is None
        return
    assert found is not None and found.reason == KEYS_INVALID
    assert condition is not None and condition["reason"] == reason
    assert "key-id-42" in found.message and "service account sa-1" in found.message
    assert "GET /api/v2/roles" in found.message
    assert_clean(found.message)


def test_the_secret_record_names_the_key_in_use() -> None:
    assert key_in_use("s", {"app-key-id": "k1", "service-account-id": "sa"}) == KeyInUse(
        "s", "k1", "service account sa")
    assert key_in_use("s", {"bootstrap-app-key-id": "b1"}).app_key_id == "b1"
    assert key_in_use("s", None) == KeyInUse("s")
