"""DatadogAPIKey against a real kube-apiserver, the simulator and the operator process.

Whether a key works is asked of the simulator the way a sender would: ``GET /api/v1/validate``
with that key alone (``DD-API-KEY``), 200 for a working key, 403 for a revoked one."""

from __future__ import annotations

import base64
import signal
from typing import Any

import httpx
import pytest
from kubernetes import client

from tests.integration.conftest import Operator, put_secret, secret_data
from tests.support.operator import wait_for
from tests.support.passes import metered, reconciles, wait_reconciles

pytestmark = pytest.mark.kube

ORGS, KEYS = "datadogclientorgs", "datadogapikeys"


def works(operator: Operator, key: str) -> bool:
    answer = httpx.get(f"{operator.sim.base_url}/api/v1/validate",
                       headers={"DD-API-KEY": key}, timeout=10)
    assert answer.status_code in (200, 403), answer.text
    return answer.status_code == 200


def ready_org(operator: Operator) -> None:
    operator.apply(ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": "acme"},
                          "spec": {"displayName": "Acme keys"}})
    operator.wait_condition(ORGS, "acme", timeout=60)


def ddkey(name: str, secret: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "DatadogAPIKey", "metadata": {"name": name},
            "spec": {"orgRef": {"name": "acme"}, "secretRef": {"name": secret}, **spec}}


def secret(operator: Operator, name: str) -> client.V1Secret | None:
    try:
        return client.CoreV1Api(operator.api).read_namespaced_secret(name, operator.namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def key_in(operator: Operator, name: str, data_key: str = "api-key") -> str | None:
    found = secret(operator, name)
    raw = (found.data or {}).get(data_key) if found is not None else None
    return base64.b64decode(raw).decode() if raw else None


def status(operator: Operator, name: str) -> dict[str, Any]:
    return dict(operator.get(KEYS, name).get("status") or {})


def no_value_anywhere(operator: Operator, name: str, *values: str) -> None:
    """Key values appear only in the Secret: never in status, events or the log."""
    text = str(operator.get(KEYS, name)) + " ".join(
        str(e.message) for e in operator.events(name)) + operator.process.log()
    for value in values:
        assert value not in text


def live_keys(operator: Operator, prefix: str) -> list[str]:
    return [k.id for k in list(operator.sim.state.api_keys.values())
            if k.name.startswith(prefix)]


def live_app_keys(operator: Operator, prefix: str) -> list[str]:
    return [k.id for k in list(operator.sim.state.app_keys.values())
            if k.name.startswith(prefix) and not k.revoked]


def key_writes(operator: Operator) -> int:
    calls = operator.sim.state.calls()
    return sum(sum(n.values()) for route, n in calls.items()
               if route.split(" ")[0] in ("POST", "PATCH", "DELETE") and "_keys" in route)


def key_reads(operator: Operator) -> int:
    return sum(operator.sim.state.calls().get("GET /api/v2/api_keys/{api_key_id}", {}).values())


def service_account(operator: Operator) -> str:
    """A service account in the client org, made with the org's own keys."""
    keys = secret_data(operator.api, operator.namespace, "acme-datadog-credentials")
    assert keys is not None
    answer = httpx.post(f"{operator.sim.base_url}/api/v2/service_accounts", timeout=10,
                        headers={"DD-API-KEY": keys["api-key"],
                                 "DD-APPLICATION-KEY": keys["app-key"]},
                        json={"data": {"type": "users", "attributes": {
                            "email": "senders@acme.example", "service_account": True}}})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["id"])


def test_key_rotates_on_schedule_with_both_keys_valid_during_the_grace_period(
        operator: Operator) -> None:
    operator.start()
    ready_org(operator)
    operator.apply(KEYS, ddkey("agent", "agent-key",
                               rotation={"every": "1m", "gracePeriod": "20s"}))
    operator.wait_condition(KEYS, "agent", timeout=60)
    first = status(operator, "agent")
    old = key_in(operator, "agent-key")
    assert old and works(operator, old)
    held = secret(operator, "agent-key")
    assert held is not None and held.metadata.annotations["ddmsp.io/api-key-id"] == \
        first["keyId"]
    old_hash = held.metadata.annotations["ddmsp.io/content-hash"]
    assert first["org"] == "acme" and first["secret"] == "agent-key"
    assert first["nextRotation"] and "previousKeyId" not in first
    listed = operator.cluster.kubectl("get", "ddkey", "agent", "-n", operator.namespace).stdout
    assert "KEY ID" in listed and "NEXT ROTATION" in listed and first["keyId"] in listed

    # The scheduled rotation, one minute after the key's creation (not the drift interval).
    rotated = wait_for(lambda: (s := status(operator, "agent")).get("previousKeyId") and s,
                       timeout=150, what="a scheduled rotation")
    new = key_in(operator, "agent-key")
    assert new and new != old
    assert rotated["previousKeyId"] == first["keyId"] and rotated["keyId"] != first["keyId"]
    assert works(operator, old) and works(operator, new)  # the grace period: both work
    held = secret(operator, "agent-key")
    assert held is not None and held.metadata.annotations["ddmsp.io/content-hash"] != old_hash
    assert held.metadata.annotations["ddmsp.io/api-key-id"] == rotated["keyId"]

    wait_for(lambda: not works(operator, old), timeout=60, what="the old key revoked")
    assert works(operator, new)
    wait_for(lambda: "previousKeyId" not in status(operator, "agent"), timeout=30,
             what="status forgets the revoked key")
    assert operator.condition(KEYS, "agent", "Ready")["status"] == "True"  # type: ignore[index]
    no_value_anywhere(operator, "agent", old, new)


def test_rotate_now_zero_grace_and_deletion_policies(operator: Operator) -> None:
    port = metered(operator)
    operator.start()
    ready_org(operator)
    sa = service_account(operator)
    operator.apply(KEYS, ddkey("leaked", "leaked-key", rotation={"gracePeriod": "0s"},
                               keyName="ci sender",
                               applicationKey={"serviceAccountId": sa,
                                               "scopes": ["dashboards_read"]}))
    operator.apply(KEYS, ddkey("graceful", "graceful-key", rotation={"gracePeriod": "10s"}))
    operator.apply(KEYS, ddkey("kept", "kept-key", deletionPolicy="Orphan",
                               secretRef={"name": "kept-key", "apiKeyKey": "DD_API_KEY"}))
    # A Secret someone else made is never written: Stalled, and no key is created for it.
    put_secret(operator.api, operator.namespace, "theirs", {"token": "not ours"})
    operator.apply(KEYS, ddkey("intruder", "theirs", keyName="intruder"))
    for name in ("leaked", "graceful", "kept"):
        operator.wait_condition(KEYS, name, timeout=60)
    stalled = operator.wait_condition(KEYS, "intruder", "Stalled", reason="SecretNotOwned",
                                      timeout=60)
    assert "kubectl label secret theirs" in stalled["message"]
    assert live_keys(operator, "intruder") == []
    assert secret_data(operator.api, operator.namespace, "theirs") == {"token": "not ours"}
    assert "nextRotation" not in status(operator, "leaked")  # no schedule: never on its own
    assert status(operator, "leaked")["keyName"].startswith("ci sender ")

    # A leaked key with no grace: revoked as soon as its successor is in the Secret.
    leaked = key_in(operator, "leaked-key")
    leaked_app = key_in(operator, "leaked-key", "app-key")
    assert leaked and works(operator, leaked) and leaked_app
    assert operator.sim.state.org_for_keys(leaked, leaked_app) is not None
    assert status(operator, "leaked")["serviceAccountId"] == sa
    before = status(operator, "leaked")["keyId"]
    operator.patch(KEYS, "leaked", {"metadata": {"annotations": {
        "ddmsp.io/rotate-now": "2026-12-06T09:00:00Z"}}})
    wait_for(lambda: status(operator, "leaked").get("keyId") not in (None, before),
             timeout=60, what="an on-demand rotation")
    replacement = key_in(operator, "leaked-key")
    assert replacement and replacement != leaked and works(operator, replacement)
    # Revoked right after the status write that names its successor (same pass).
    wait_for(lambda: not works(operator, leaked), timeout=15, what="the leaked key revoked")
    after = wait_for(lambda: (s := status(operator, "leaked")).get("previousKeyId") is None
                     and s, timeout=15, what="status forgets the leaked key")
    assert "previousKeyId" not in after and after["rotateNowHandled"] == "2026-12-06T09:00:00Z"
    assert len(live_keys(operator, "ci sender ")) == 1
    new_app = key_in(operator, "leaked-key", "app-key")
    assert new_app and new_app != leaked_app
    assert operator.sim.state.org_for_keys(replacement, new_app) is not None
    assert operator.sim.state.org_for_keys(replacement, leaked_app) is None  # revoked too
    assert live_app_keys(operator, "ci sender ") == [after["appKeyId"]]
    # The spec stops asking for an application key: it is revoked and leaves the Secret.
    operator.patch(KEYS, "leaked", {"spec": {"applicationKey": None}})
    wait_for(lambda: key_in(operator, "leaked-key", "app-key") is None, timeout=30,
             what="the application key removed from the Secret")
    assert live_app_keys(operator, "ci sender ") == []
    assert works(operator, replacement) and key_in(operator, "leaked-key") == replacement
    wait_for(lambda: "appKeyId" not in status(operator, "leaked"), timeout=15,
             what="status forgets the application key")

    # On demand with a grace period: both work, then the old one is refused.
    old = key_in(operator, "graceful-key")
    assert old
    operator.patch(KEYS, "graceful", {"metadata": {"annotations": {
        "ddmsp.io/rotate-now": "now"}}})
    wait_for(lambda: status(operator, "graceful").get("previousKeyId"), timeout=60,
             what="an on-demand rotation with a grace period")
    new = key_in(operator, "graceful-key")
    assert new and new != old and works(operator, old) and works(operator, new)
    wait_for(lambda: not works(operator, old), timeout=40, what="the old key revoked")
    assert works(operator, new)
    # Steady state: a pass over a settled key (forced here) makes no Datadog write, and the
    # same rotate-now value again rotates nothing.
    settled = status(operator, "graceful")["keyId"]
    writes = key_writes(operator)
    reads = key_reads(operator)
    passes = reconciles(port, "DatadogAPIKey")
    operator.patch(KEYS, "graceful", {"metadata": {"annotations": {"ddmsp.io/retry": "1"}}})
    wait_for(lambda: key_reads(operator) > reads, timeout=30, what="a forced pass")
    wait_reconciles(port, n=1, kind="DatadogAPIKey", since=passes)  # and it is over
    assert status(operator, "graceful")["keyId"] == settled
    assert key_writes(operator) == writes

    # Deletion: Delete revokes and empties the Secret's key; Orphan leaves both alone.
    kept = key_in(operator, "kept-key", "DD_API_KEY")
    assert kept and works(operator, kept)
    objects = client.CustomObjectsApi(operator.api)
    for name in ("leaked", "kept"):
        objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", operator.namespace,
                                                KEYS, name)
    for name in ("leaked", "kept"):
        wait_for(lambda n=name: not any(o["metadata"]["name"] == n for o in
                                        objects.list_namespaced_custom_object(
                                            "ddmsp.io", "v1alpha1", operator.namespace,
                                            KEYS)["items"]),
                 timeout=60, what=f"{name} deleted")
    assert not works(operator, replacement)
    assert key_in(operator, "leaked-key") is None and secret(operator, "leaked-key") is not None
    assert works(operator, kept) and key_in(operator, "kept-key", "DD_API_KEY") == kept
    no_value_anywhere(operator, "graceful", old, new, leaked, replacement, kept, leaked_app,
                      new_app)


@pytest.mark.parametrize("point", ["api-key-after-create-call", "api-key-after-secret-write",
                                   "app-key-after-create-call"])
def test_sigkill_around_a_key_create_leaves_one_working_key(operator: Operator,
                                                            point: str) -> None:
    operator.start()
    ready_org(operator)
    operator.process.stop()
    operator.start(crash_at=point)
    sa = service_account(operator)
    operator.apply(KEYS, ddkey("victim", "victim-key", keyName="victim",
                               applicationKey={"serviceAccountId": sa}))
    assert operator.process.wait_exit(timeout=90) == -signal.SIGKILL, \
        operator.process.log()[-2000:]
    operator.start()
    operator.wait_condition(KEYS, "victim", timeout=90)
    value = key_in(operator, "victim-key")
    assert value and works(operator, value)
    final = status(operator, "victim")
    assert live_keys(operator, "victim ") == [final["keyId"]]
    assert live_app_keys(operator, "victim ") == [final["appKeyId"]]
    app = key_in(operator, "victim-key", "app-key")
    assert app and operator.sim.state.org_for_keys(value, app) is not None
    assert not final.get("rotating")
    reasons = {e.reason for e in operator.events("victim")}
    assert ("Recovered" if point.endswith("secret-write") else "RevokedLostKey") in reasons


@pytest.mark.parametrize(("rotation", "fragment"), [
    ({"every": "30s", "gracePeriod": "0s"}, "spec.rotation.every must be at least 1m"),
    ({"every": "1h", "gracePeriod": "2h"}, "gracePeriod must be shorter than"),
    ({"every": "10m"}, "gracePeriod must be shorter than"),
    ({"every": "30d"}, "must be a duration"),
])
def test_admission_refuses_bad_rotations_with_the_fix(operator: Operator,
                                                      rotation: dict[str, str],
                                                      fragment: str) -> None:
    with pytest.raises(client.ApiException) as err:
        operator.apply(KEYS, ddkey("bad", "bad-key", rotation=rotation))
    assert err.value.status == 422 and fragment in str(err.value.body)
