"""When a rotated key must act: the pure schedule logic, unit-tested without a clock.

Shared by DatadogAPIKey (controllers/apikey.py) and the operator's own service-account key
in each client org (controllers/serviceaccount.py): both take a ``Rotation``
(``every``, ``gracePeriod``) and a status-shaped record (``keyCreatedAt``,
``rotateNowHandled``, ``previousKeyId``/``previousAppKeyId``, ``previousRevokeAt``).

Every decision takes ``now`` and the status as the engine holds it, and answers what is due
(rotate, revoke the replaced key) and when the next pass must come (the earlier of the next
rotation and the replaced key's revocation), so nothing waits for the drift interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ddmsp.resources.apikey import Rotation, parse_duration


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as written in status; None when unset or unreadable."""
    if not text:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds(text: str | None) -> int | None:
    return parse_duration(text) if text else None


@dataclass(frozen=True)
class Plan:
    """What one pass must do for the key, and when the next pass is due."""

    rotate: list[str]  # why a new key is needed now (empty: not now)
    revoke_previous: bool  # the replaced key's grace period is over
    next_rotation: datetime | None
    wake_at: datetime | None  # the earliest moment something becomes due


def next_rotation(rotation: Rotation, created_at: datetime | None) -> datetime | None:
    """When the current key is due for its scheduled rotation (None: no schedule)."""
    every = seconds(rotation.every)
    if every is None or created_at is None:
        return None
    return created_at + timedelta(seconds=every)


def revoke_at(rotation: Rotation, now: datetime) -> datetime:
    """When a key replaced now stops working: after the grace period."""
    return now + timedelta(seconds=seconds(rotation.grace_period) or 0)


def plan(rotation: Rotation, status: dict[str, Any], rotate_now: str | None,
         now: datetime) -> Plan:
    """The pass's plan for a key that exists (status.keyId set and found in Datadog)."""
    reasons: list[str] = []
    created = parse_time(status.get("keyCreatedAt"))
    due = next_rotation(rotation, created)
    if due is not None and now >= due:
        reasons.append(f"the scheduled rotation was due at {rfc3339(due)} "
                       f"(rotation.every {rotation.every})")
    if rotate_now and rotate_now != status.get("rotateNowHandled"):
        reasons.append(f"the annotation ddmsp.io/rotate-now={rotate_now} asks for a rotation")
    revoke = parse_time(status.get("previousRevokeAt"))
    previous = bool(status.get("previousKeyId") or status.get("previousAppKeyId"))
    revoke_due = previous and (revoke is None or now >= revoke)
    wake_candidates = [t for t in (due, revoke if previous else None)
                       if t is not None and t > now]
    return Plan(rotate=reasons, revoke_previous=revoke_due, next_rotation=due,
                wake_at=min(wake_candidates) if wake_candidates else None)
