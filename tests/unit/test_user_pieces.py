"""DatadogUser's pure pieces and the simulator's users state (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ddmsp.controllers.user import invitation_expired, parse_time, role_diff
from ddmsp.simulator.state import SimState
from ddmsp.simulator.store import SimError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """Stands in for the simulator clock: a fixed instant tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def test_invitation_expiry_is_judged_at_the_given_instant() -> None:
    record = {"sentAt": T0.isoformat(), "expiresAt": (T0 + timedelta(days=2)).isoformat()}
    assert not invitation_expired(record, T0 + timedelta(days=1, hours=23))
    assert invitation_expired(record, T0 + timedelta(days=2))
    assert not invitation_expired(None, T0 + timedelta(days=30))
    assert not invitation_expired({"expiresAt": "garbage"}, T0)
    assert parse_time("2026-03-01T12:00:00Z") == T0


def test_role_diff_names_missing_and_extra_roles() -> None:
    names = {"a": "Datadog Read Only Role", "b": "ops", "c": "billing"}
    assert role_diff({"a", "b"}, {"a", "b"}, names) == []
    assert role_diff({"a", "b"}, {"b", "c"}, names) == [
        "roles missing: Datadog Read Only Role", "roles not in the spec: billing"]


def _state_with_org(clock: FakeClock | None = None) -> tuple[SimState, str]:
    state = SimState()
    if clock is not None:
        state.clock = clock  # type: ignore[attr-defined]
    partner = state.bootstrap("a" * 32, "b" * 40)
    return state, partner.public_id


def test_emails_are_unique_per_org_even_when_disabled() -> None:
    state, pid = _state_with_org()
    org = state.orgs[pid]
    user = state.create_user(org, "Ann@Example.com", "Ann", None, None)
    assert user.email == "ann@example.com" and user.status == "Pending"
    state.disable_user(org, user.id)
    with pytest.raises(SimError) as conflict:
        state.create_user(org, "ANN@example.com", None, None, None)
    assert conflict.value.status == 409
    with pytest.raises(SimError) as gone:
        state.disable_user(org, user.id)
    assert gone.value.status == 404
    # the org's creator is seeded as an Active admin
    admin = next(u for u in state.org_users(org).values() if u.created_by == "seed")
    assert admin.status == "Active"


def test_invitation_lifetime_follows_a_fake_clock_and_the_org_config() -> None:
    clock = FakeClock(T0)
    state, pid = _state_with_org(clock)
    org = state.orgs[pid]
    user = state.create_user(org, "bo@example.com", None, None, None)
    first = state.invite(org, user.id)
    assert parse_time(first.expires_at) == T0 + timedelta(days=2)
    state.update_org_config(org, "30d_invite_expiration", True)
    clock.current = T0 + timedelta(days=3)
    second = state.invite(org, user.id)
    assert second.invite_type == "basic_reminder"
    assert parse_time(second.expires_at) == T0 + timedelta(days=33)
    state.activate_user(pid, "bo@example.com")
    with pytest.raises(SimError):
        state.invite(org, user.id)  # only Pending users are invited (stricter reading)


def test_role_membership_counts_and_follows_role_deletion() -> None:
    state, pid = _state_with_org()
    org = state.orgs[pid]
    role = state.create_role(org, "ops", None)
    user = state.create_user(org, "cy@example.com", None, None, None)
    state.add_to_role(org, role.id, user.id)
    state.add_to_role(org, role.id, user.id)
    assert user.role_ids == [role.id] and role.user_count == 1
    state.delete_role(org, role.id)
    assert user.role_ids == []
