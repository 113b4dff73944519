"""The operator's own service-account key: which schedule applies (the client's, else its
partner's default) and what the shared schedule logic asks of it, without a clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ddmsp.controllers import serviceaccount as sa_mod
from ddmsp.controllers.apikey_schedule import rfc3339
from ddmsp.controllers.serviceaccount import (
    effective_rotation,
    mirror,
    rotation_needed,
    rotation_plan,
)
from ddmsp.resources.apikey import Rotation

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class FakeCustom:
    def __init__(self, body: dict[str, Any] | None) -> None:
        self.body = body
        self.reads = 0

    def get_cluster_custom_object(self, *args: Any) -> dict[str, Any] | None:
        self.reads += 1
        return self.body


class FakeKube:
    def __init__(self, body: dict[str, Any] | None) -> None:
        self.custom = FakeCustom(body)


def partner(rotation: dict[str, str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"credentialsSecretRef": {"namespace": "ops", "name": "p"}}
    if rotation is not None:
        spec["defaults"] = {"credentials": {"rotation": rotation}}
    return {"spec": spec}


def test_the_clients_rotation_overrides_the_partners_default() -> None:
    sa_mod._partner_rotations.clear()
    kube = FakeKube(partner({"every": "720h", "gracePeriod": "2h"}))
    own = Rotation(every="2160h")
    found, source = asyncio.run(effective_rotation(kube, own, "DatadogPartner/p"))  # type: ignore[arg-type]
    assert found is own and source == "spec.credentials.rotation"
    found, source = asyncio.run(effective_rotation(kube, None, "DatadogPartner/p"))  # type: ignore[arg-type]
    assert (found.every, found.grace_period) == ("720h", "2h")
    assert source == "DatadogPartner/p spec.defaults.credentials.rotation"
    asyncio.run(effective_rotation(kube, None, "DatadogPartner/p"))  # type: ignore[arg-type]
    assert kube.custom.reads == 1  # one read serves the partner's clients for PARTNER_TTL


def test_without_either_the_key_rotates_only_on_demand() -> None:
    sa_mod._partner_rotations.clear()
    for kube, key in ((FakeKube(partner(None)), "DatadogPartner/p"),
                      (FakeKube(None), "Secret/legacy")):
        found, source = asyncio.run(effective_rotation(kube, None, key))  # type: ignore[arg-type]
        assert found.every is None and source.startswith("none")


def handed_over(**sa: Any) -> dict[str, Any]:
    return {"publicId": "abc", "serviceAccount": {
        "id": "sa1", "applicationKeyId": "k1", "handedOverAt": rfc3339(NOW), **sa}}


def test_a_key_not_yet_handed_over_has_no_rotation() -> None:
    assert rotation_plan({"publicId": "abc"}, Rotation(every="2h"), "now", NOW) is None
    assert rotation_needed(None, {}) is None


def test_the_schedule_counts_from_the_keys_creation_and_rotate_now_acts_once() -> None:
    record = handed_over(applicationKeyCreatedAt=rfc3339(NOW - timedelta(hours=30)))
    rotation = Rotation(every="24h", grace_period="1h")
    due = rotation_plan(record, rotation, None, NOW)
    assert due is not None and due.rotate
    assert "k1" in (rotation_needed(due, record) or "")
    fresh = handed_over(applicationKeyCreatedAt=rfc3339(NOW - timedelta(hours=1)))
    calm = rotation_plan(fresh, rotation, None, NOW)
    assert calm is not None and rotation_needed(calm, fresh) is None
    assert calm.wake_at == NOW + timedelta(hours=23)
    # no creation time recorded (handed over before rotation existed): from handedOverAt
    assert rotation_plan(handed_over(), rotation, None, NOW).next_rotation == \
        NOW + timedelta(hours=24)  # type: ignore[union-attr]
    asked = rotation_plan(fresh, Rotation(), "2026-12-06T09:00:00Z", NOW)
    assert asked is not None and asked.rotate
    done = handed_over(rotateNowHandled="2026-12-06T09:00:00Z")
    assert rotation_needed(rotation_plan(done, Rotation(), "2026-12-06T09:00:00Z", NOW),
                           done) is None


def test_the_replaced_key_is_revoked_after_its_grace_period() -> None:
    record = handed_over(previousApplicationKeyId="k0",
                         previousRevokeAt=rfc3339(NOW + timedelta(minutes=5)))
    during = rotation_plan(record, Rotation(), None, NOW)
    assert during is not None and rotation_needed(during, record) is None
    assert during.wake_at == NOW + timedelta(minutes=5)
    after = rotation_plan(record, Rotation(), None, NOW + timedelta(minutes=5))
    assert "k0" in (rotation_needed(after, record) or "")


def test_status_follows_the_secrets_record_and_never_a_value() -> None:
    record: dict[str, Any] = handed_over(previousApplicationKeyId="k0",
                                         previousRevokeAt="2026-12-06T10:00:00Z")
    secret = {"app-key": "a" * 40, "api-key": "b" * 32, "service-account-id": "sa1",
              "app-key-id": "k2", "app-key-created-at": "2026-12-06T09:00:00Z",
              "app-key-previous-id": "", "rotate-now-handled": "x"}
    mirror(record, secret)
    sa = record["serviceAccount"]
    assert sa["applicationKeyId"] == "k2" and sa["applicationKeyCreatedAt"] == \
        "2026-12-06T09:00:00Z" and sa["rotateNowHandled"] == "x"
    assert sa["previousApplicationKeyId"] is None and sa["previousRevokeAt"] is None
    assert "a" * 40 not in str(record) and "b" * 32 not in str(record)
