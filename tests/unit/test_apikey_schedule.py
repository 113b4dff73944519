"""DatadogAPIKey schedule logic and spec rules, without waiting for a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ddmsp.controllers.apikey import ApiKeyConnector, ApiKeyReconciler, content_hash, key_name
from ddmsp.controllers.apikey_schedule import parse_time, plan, rfc3339
from ddmsp.reconcile.engine import Result
from ddmsp.resources.apikey import API_KEY, DatadogAPIKeySpec, parse_duration

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def spec(**rotation: Any) -> DatadogAPIKeySpec:
    return DatadogAPIKeySpec.model_validate({
        "orgRef": {"name": "acme"}, "secretRef": {"name": "agent-key"},
        **({"rotation": rotation} if rotation else {})})


@pytest.mark.parametrize(("text", "seconds"), [
    ("720h", 720 * 3600), ("90m", 5400), ("1h30m", 5400), ("0s", 0), ("1m", 60),
    ("2h0m5s", 7205), ("", None), ("30d", None), ("1.5h", None), ("m", None), ("5m1h", None),
    ("-1h", None), ("1h ", None),
])
def test_durations_parse_as_documented(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


def test_defaults_never_rotate_on_a_schedule_and_keep_an_hour_of_grace() -> None:
    s = spec()
    assert s.rotation.every is None and s.rotation.grace_period == "1h"
    assert s.secret_ref.api_key_key == "api-key" and s.deletion_policy == "Delete"
    p = plan(s.rotation, {"keyId": "k1", "keyCreatedAt": rfc3339(NOW - timedelta(days=999))},
             None, NOW)
    assert p.rotate == [] and p.next_rotation is None and p.wake_at is None


@pytest.mark.parametrize(("rotation", "fragment"), [
    ({"every": "30s", "gracePeriod": "0s"}, "spec.rotation.every must be at least 1m"),
    ({"every": "1h", "gracePeriod": "1h"}, "gracePeriod must be shorter than"),
    ({"every": "10m"}, "gracePeriod must be shorter than"),  # the 1h default grace
    ({"every": "30 days"}, "must be a duration"),
    ({"gracePeriod": "soon"}, "must be a duration"),
])
def test_bad_rotations_are_refused_with_the_fix(rotation: dict[str, str],
                                                fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        spec(**rotation)
    assert fragment in str(err.value)


def test_admitted_rotations() -> None:
    assert spec(every="1m", gracePeriod="59s").rotation.every == "1m"
    assert spec(every="720h").rotation.grace_period == "1h"
    assert spec(gracePeriod="0s").rotation.every is None  # on demand only, no grace


def test_the_crd_states_the_same_rules_for_admission() -> None:
    import json

    from ddmsp.resources.crdgen import crd

    text = json.dumps(crd(API_KEY))
    assert "duration(self.gracePeriod) < duration(self.every)" in text
    assert "duration(self.every) >= duration('60s')" in text
    assert "ddkey" in text and "Next rotation" in text


def test_scheduled_rotation_is_due_at_created_plus_every() -> None:
    s = spec(every="720h", gracePeriod="1h")
    status = {"keyId": "k1", "keyCreatedAt": rfc3339(NOW - timedelta(hours=700))}
    p = plan(s.rotation, status, None, NOW)
    assert p.rotate == [] and p.next_rotation == NOW + timedelta(hours=20)
    assert p.wake_at == NOW + timedelta(hours=20)
    later = plan(s.rotation, status, None, NOW + timedelta(hours=20))
    assert len(later.rotate) == 1 and "scheduled rotation was due" in later.rotate[0]


def test_rotate_now_acts_once_per_annotation_value() -> None:
    s = spec()
    status = {"keyId": "k1", "keyCreatedAt": rfc3339(NOW)}
    assert plan(s.rotation, status, "2026-12-06T09:00:00Z", NOW).rotate
    handled = {**status, "rotateNowHandled": "2026-12-06T09:00:00Z"}
    assert plan(s.rotation, handled, "2026-12-06T09:00:00Z", NOW).rotate == []
    assert plan(s.rotation, handled, "2026-12-06T10:00:00Z", NOW).rotate


def test_the_replaced_key_is_revoked_when_its_grace_period_ends() -> None:
    s = spec(every="24h", gracePeriod="1h")
    status = {"keyId": "k2", "keyCreatedAt": rfc3339(NOW), "previousKeyId": "k1",
              "previousRevokeAt": rfc3339(NOW + timedelta(hours=1))}
    during = plan(s.rotation, status, None, NOW + timedelta(minutes=59))
    assert not during.revoke_previous and during.rotate == []
    assert during.wake_at == NOW + timedelta(hours=1)  # the revocation comes before rotation
    after = plan(s.rotation, status, None, NOW + timedelta(hours=1))
    assert after.revoke_previous and after.wake_at == NOW + timedelta(hours=24)
    # A replaced key without a readable time is revoked now: it must not live forever.
    assert plan(s.rotation, {**status, "previousRevokeAt": "?"}, None, NOW).revoke_previous


def test_a_settled_key_is_requeued_at_its_due_time_not_the_drift_interval() -> None:
    connector = ApiKeyConnector.__new__(ApiKeyConnector)
    connector.wake_at = {}
    rec = ApiKeyReconciler(API_KEY, connector, kube=None, drift_interval=600)  # type: ignore[arg-type]
    key = ("ns", "k")
    now = datetime.now(UTC).timestamp()
    connector.wake_at[key] = now + 30
    delay = rec.next_delay(key, Result(settled=True))
    assert delay is not None and 25 < delay <= 31
    assert key not in connector.wake_at  # consumed: the next pass records a new one
    far = rec.next_delay(key, Result(settled=True))  # nothing due: the drift interval
    assert far is not None and far >= 540
    connector.wake_at[key] = now + 30
    assert rec.next_delay(key, Result(stalled=True)) is None  # a stall waits for a change


def test_names_and_hashes_never_carry_a_key_value() -> None:
    assert key_name("team-a/agent", "2026-12-06T09:00:00.000001Z") == \
        "team-a/agent 2026-12-06T09:00:00.000001Z"
    value = "0123456789abcdef0123456789abcdef"
    digest = content_hash({"api-key": value})
    assert value not in digest and len(digest) == 64
    assert digest != content_hash({"api-key": value[::-1]})
    assert parse_time("2026-12-06T09:00:00.000001Z") == NOW.replace(microsecond=1)
