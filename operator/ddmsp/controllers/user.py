"""DatadogUser: the external client for one user in a client's org.

What Datadog imposes, and how this client follows it (evidence in ``simulator/users.py``):
- An email is a user's identity and Datadog never deletes users: a create for an email that
  exists (even disabled) answers 409. Adoption is explicit, as for every kind: that user is
  taken over only when ``spec.adopt`` names it; otherwise the object stalls (``UserExists``)
  naming the user and the fix, and nothing is sent. The email is looked up before a create
  and ``status.createStartedAt`` saved, so the 409 that follows a create whose answer was
  lost (no user had the email when it began) is recognised as this object's own user.
- ``DELETE /api/v2/users/{id}`` only disables; ``deletionPolicy: Delete`` means "disable".
  Only the user recorded in ``status.userId`` (created or adopted) is ever disabled;
  ObserveOnly reports the user with the spec's email without recording it as its own.
- Role membership lives on the roles (``/api/v2/roles/{id}/users``); the user resource lists
  its role IDs, so one GET reads it all. The set is exact.
- Invitations expire (two days, 30 with the org config ``30d_invite_expiration``). A user still
  Pending when the recorded invitation expired gets one more, judged by Datadog's own clock
  (the Date header of the GET), so each expiry triggers at most one email.
- Users nobody named (SAML just-in-time ones, the org's admin) are never listed or touched:
  this client only looks up the email in its spec.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from ddmsp.controllers.datadog_access import (
    DatadogConnector,
    failed_create,
)
from ddmsp.controllers.orgref import OrgTarget, act_in_org
from ddmsp.controllers.role import org_identity
from ddmsp.datadog import (
    ConflictError,
    DatadogError,
    NotFoundError,
    Role,
    User,
)
from ddmsp.reconcile.claims import Claim, org_words
from ddmsp.reconcile.conditions import READY, get_condition, now_rfc3339
from ddmsp.reconcile.drift import named_set_diff
from ddmsp.reconcile.external import Observation, ReconcileContext
from ddmsp.reconcile.managed import ManagedObject
from ddmsp.reconcile.outcomes import Blocked, Waiting
from ddmsp.resources import ROLE
from ddmsp.resources.user import DatadogUserSpec

ROLE_NOT_FOUND_POLL = 60.0


# ------------------------------------------------------------------ pure helpers
def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp from status or the API, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def invitation_expired(invitation: dict[str, Any] | None, now: datetime) -> bool:
    """True when the recorded invitation's expiry has passed at ``now`` (Datadog's clock)."""
    expires = parse_time((invitation or {}).get("expiresAt"))
    return expires is not None and now >= expires


def role_diff(desired: set[str], actual: set[str], names: dict[str, str]) -> list[str]:
    """Human-readable differences between desired and held role IDs."""
    return named_set_diff("roles", desired, actual, names)


class UserConnector(DatadogConnector):
    applied_keys = ("userId", "email")  # drift counts once recorded (reconcile/drift.py)

    def claims(self, obj: ManagedObject) -> list[str]:
        """An email is one user per org: two objects naming it in one org conflict."""
        spec: DatadogUserSpec = obj.spec
        org = org_identity(obj.namespace, spec)
        email = spec.email.strip().lower()
        return [Claim(f"user/{org}/{email}", f"the user {email} in {org_words(org)}")]

    async def connect(self, ctx: ReconcileContext) -> UserExternal:
        spec: DatadogUserSpec = ctx.obj.spec
        target = await act_in_org(ctx, spec, self.settings, self.clients)
        return UserExternal(ctx, target, self.settings.wait_poll)


class UserExternal:
    def __init__(self, ctx: ReconcileContext, target: OrgTarget, poll: float) -> None:
        self.ctx = ctx
        self.obj = ctx.obj
        self.spec: DatadogUserSpec = ctx.obj.spec
        self.target = target
        self.dd = target.dd
        self.poll = poll
        self.user: User | None = None
        self.desired: set[str] = set()
        self.names: dict[str, str] = {}
        self.diff: list[str] = []
        self.invite_due: str | None = None  # why an invitation is due, if one is

    @property
    def email(self) -> str:
        return self.spec.email.strip().lower()

    # ------------------------------------------------------------------ roles
    async def _resolve_roles(self) -> None:
        """The role IDs the spec asks for; waits for DatadogRoles that are not Ready."""
        roles: list[Role] = await self.dd.list_roles()
        self.names = {r.id: r.name for r in roles}
        by_name = {r.name: r.id for r in roles}
        desired: set[str] = set()
        for entry in self.spec.roles:
            if entry.role_ref:
                desired.add(await self._role_ref(entry.role_ref))
            elif entry.role_name:
                role_id = by_name.get(entry.role_name)
                if role_id is None:
                    raise Waiting(
                        "RoleNotFound",
                        f"no role named {entry.role_name!r} in org {self.target.label}; create "
                        "it (or a DatadogRole with that roleName) or fix spec.roles",
                        delay=max(self.poll, ROLE_NOT_FOUND_POLL), phase="Pending")
                desired.add(role_id)
        self.desired = desired

    async def _role_ref(self, name: str) -> str:
        body = await self.ctx.kube.get(ROLE, self.obj.namespace, name)
        status = (body or {}).get("status") or {}
        ready = get_condition(list(status.get("conditions") or []), READY)
        role_id = status.get("roleId")
        if body is None or not role_id or not ready or ready.get("status") != "True":
            state = "does not exist yet" if body is None else \
                f"is not Ready ({(ready or {}).get('reason') or 'Pending'})"
            raise Waiting("RoleNotReady",
                          f"waiting for DatadogRole {self.obj.namespace}/{name}: it {state}",
                          delay=self.poll, phase="Pending")
        role_org = status.get("orgPublicId")
        if self.target.public_id and role_org and role_org != self.target.public_id:
            raise Blocked("RoleInAnotherOrg",
                          f"DatadogRole {name} lives in org {role_org}, this user in "
                          f"{self.target.public_id}: name a role of the same org")
        self.names.setdefault(str(role_id), str(status.get("roleName") or name))
        return str(role_id)

    # ------------------------------------------------------------------ finding
    async def _find(self) -> tuple[User | None, bool]:
        """The user and whether it is this object's: the one status proves (created or
        adopted), else the one spec.adopt names. ObserveOnly without spec.adopt looks the
        email up to report it, never to own it; Full mode creates, and meets any other user
        of this email as Datadog's 409 (``create``)."""
        user_id = self.obj.status.get("userId")
        if user_id:
            adopt = self.spec.adopt
            if adopt is not None and adopt.user_id and adopt.user_id != user_id:
                raise Blocked("AdoptionMismatch",
                              f"this resource already manages user {user_id}; "
                              f"spec.adopt.userId {adopt.user_id} cannot move it to another "
                              "user. Fix or remove spec.adopt.userId")
            try:
                return await self.dd.get_user(str(user_id)), True
            except NotFoundError:
                self.obj.clear_status("userId", "datadogStatus", "adopted")
        if self.obj.deleting:  # nothing (left) that status proves ours: nothing to disable
            return None, False
        if self.spec.adopt is not None:
            return await self._adopt(), True
        if self.obj.management_policy == "ObserveOnly":
            found = await self.dd.find_user_by_email(self.email)
            # the full read, with Datadog's clock; reported, not owned (no userId)
            return (await self.dd.get_user(found.id) if found else None), False
        return None, False

    async def _adopt(self) -> User:
        """The user spec.adopt names, recorded as adopted; Blocked when it is not there."""
        adopt = self.spec.adopt
        assert adopt is not None
        org = self.target.label
        if adopt.user_id:
            try:
                user = await self.dd.get_user(adopt.user_id)
            except NotFoundError:
                raise Blocked("AdoptTargetNotFound",
                              f"spec.adopt.userId {adopt.user_id}: no such user in org {org}. "
                              "Fix the ID, or remove spec.adopt to create the user") from None
            if (user.email or "").strip().lower() != self.email:
                raise Blocked("AdoptionMismatch",
                              f"spec.adopt.userId {adopt.user_id} is the user {user.email}, "
                              f"not {self.email} (spec.email): a DatadogUser manages the user "
                              "with its own email. Fix spec.adopt.userId")
        else:
            found = await self.dd.find_user_by_email(self.email)
            if found is None:
                raise Blocked("AdoptTargetNotFound",
                              f"spec.adopt.email {self.email}: no user with that email in org "
                              f"{org}. Remove spec.adopt to create the user")
            user = await self.dd.get_user(found.id)  # the full read, with Datadog's clock
        await self._adopted(user)
        return user

    async def _adopted(self, user: User) -> None:
        self.obj.status.update(userId=user.id, adopted=True)
        self.obj.clear_status("createStartedAt")
        await self.ctx.save_status()
        await self.ctx.event("Normal", "Adopted",
                             f"adopted the existing user {user.email} ({user.id}, "
                             f"{user.status or 'unknown status'}) as spec.adopt asks")

    def _exists(self, user: User) -> Blocked:
        """The refusal to take over a user nobody adopted, naming it and the fix."""
        held = sorted(self.names.get(r, r) for r in user.role_ids)
        roles = f", holding {', '.join(held)}" if held else ""
        return Blocked(
            "UserExists",
            f"a user {user.email} ({user.id}, {user.status or 'unknown status'}{roles}) "
            f"already exists in org {self.target.label} and this resource did not create it: "
            f"nothing was changed. To manage that user, set spec.adopt.userId: {user.id} (its "
            "roles, name and enablement then follow this spec, and deletionPolicy Delete "
            "disables it when this resource is deleted); otherwise use another email")

    def _record(self, user: User, *, owned: bool = True) -> None:
        held = sorted(self.names.get(r, r) for r in user.role_ids)
        self.obj.status.update(email=user.email, roles=held,
                               rolesSummary=", ".join(held) if held else "-")
        if owned:
            self.obj.status["userId"] = user.id
        if user.status in ("Pending", "Active", "Disabled"):
            self.obj.status["datadogStatus"] = user.status

    def _invitation_due(self, user: User) -> str | None:
        """Why an invitation should go out now, or None."""
        if not self.spec.invite or self.spec.disabled or user.status != "Pending":
            return None
        if self.obj.management_policy == "ObserveOnly":
            return None
        invitation = self.obj.status.get("invitation")
        if not invitation:
            return "the user is Pending and was never invited by this object"
        now = user.observed_at or datetime.now(UTC)
        if invitation_expired(invitation, now):
            return (f"the invitation sent {invitation.get('sentAt')} expired at "
                    f"{invitation.get('expiresAt')} unaccepted")
        return None

    # ------------------------------------------------------------------ contract
    async def observe(self) -> Observation:
        if self.obj.deleting:  # only the user this object recorded may be disabled
            user, _ = await self._find()
            self.user = user
            return Observation(exists=user is not None and user.status != "Disabled")
        await self._resolve_roles()
        user, owned = await self._find()
        if user is None:
            return Observation(exists=False, phase="Pending",
                               message=f"no user {self.email} in org {self.target.label}")
        self.user = user
        self._record(user, owned=owned)
        diff = role_diff(self.desired, set(user.role_ids), self.names)
        if self.spec.disabled != (user.status == "Disabled"):
            diff.append("the user is disabled, the spec wants it enabled" if not
                        self.spec.disabled else "the user is enabled, the spec disables it")
        if self.spec.name is not None and user.name != self.spec.name:
            diff.append(f"name is {user.name!r}, the spec wants {self.spec.name!r}")
        drift = list(diff)  # the invitation below is due, not drift
        self.invite_due = self._invitation_due(user)
        if self.invite_due:
            diff.append(f"invitation due: {self.invite_due}")
        self.diff = diff
        held = ", ".join(sorted(self.names.get(r, r) for r in user.role_ids)) or "no roles"
        return Observation(
            exists=True, up_to_date=not diff, diff=diff, drift=drift,
            phase="Drifted" if diff else "Ready",
            message=f"user {user.email} ({user.id}) is {user.status} with {held}",
        )

    async def create(self) -> None:
        started = self.obj.status.get("createStartedAt")
        if not started:
            # Only an email nobody has is created: an existing user (even disabled) is
            # someone else's until spec.adopt names it. Nothing is sent for it.
            existing = await self.dd.find_user_by_email(self.email)
            if existing is not None:
                raise self._exists(existing)
            started = now_rfc3339()
            self.obj.status["createStartedAt"] = started
            await self.ctx.save_status()  # before the call: a lost answer is recognised later
        try:
            user = await self.dd.create_user(self.email, self.spec.name)
        except ConflictError:  # the email exists (perhaps disabled): never duplicated
            found = await self.dd.find_user_by_email(self.email)
            self.obj.clear_status("createStartedAt")
            if found is None:
                raise Blocked(
                    "EmailTaken",
                    f"Datadog says a user {self.email} exists (409) but no user has that "
                    "email: another user probably has it as its handle; rename that user in "
                    "Datadog or use another email") from None
            # No user had this email when our create began (looked up just before it, here
            # or by the pass whose answer was lost): the one that has it now is that
            # create's, its answer lost (the client may also have sent it again and met
            # the 409 itself). The same reading as a role's lost create.
            self.obj.status.update(userId=found.id, email=found.email)
            self.obj.clear_status("adopted")
            await self.ctx.save_status()
            await self.ctx.event("Normal", "Created",
                                 f"user {found.email} ({found.id}) found after a create whose "
                                 f"answer was lost (started {started})")
            return  # observe reads it and plans roles, enablement and the invitation
        except DatadogError as exc:
            outcome = failed_create(exc, f"user {self.email}", "recognises it by its email",
                                    lambda: self.obj.clear_status("createStartedAt"))
            if outcome is None:
                raise
            raise outcome from None
        self.obj.status.update(userId=user.id, email=user.email,
                               datadogStatus=user.status or "Pending")
        self.obj.clear_status("adopted", "createStartedAt")
        await self.ctx.save_status()  # the user ID before anything else can fail
        for role_id in sorted(self.desired):
            await self.dd.add_user_to_role(role_id, user.id)
        await self.ctx.event("Normal", "Created",
                             f"created user {user.email} ({user.id}) with "
                             f"{len(self.desired)} role(s)")
        if self.spec.invite and not self.spec.disabled:
            await self._invite(reminder=False)

    async def _invite(self, reminder: bool) -> None:
        user_id = str(self.obj.status["userId"])
        invitation = await self.dd.send_invitation(user_id)
        count = int((self.obj.status.get("invitation") or {}).get("count") or 0) + 1
        record = {"id": invitation.id, "count": count,
                  "sentAt": (invitation.created_at or datetime.now(UTC)).isoformat()}
        if invitation.expires_at is not None:
            record["expiresAt"] = invitation.expires_at.isoformat()
        self.obj.status["invitation"] = record
        await self.ctx.save_status()  # at most one email per expiry, even after a crash
        reason = "Reinvited" if reminder else "Invited"
        await self.ctx.event("Normal", reason,
                             f"Datadog sent an invitation email to {self.email} (expires "
                             f"{record.get('expiresAt', 'unknown')})")

    async def update(self, observation: Observation) -> None:
        user = self.user
        assert user is not None
        enabled_wanted = self.spec.disabled != (user.status == "Disabled")
        name = self.spec.name if self.spec.name is not None and user.name != self.spec.name \
            else None
        if enabled_wanted or name is not None:
            user = await self.dd.update_user(
                user.id, name=name, disabled=self.spec.disabled if enabled_wanted else None)
        held = set(user.role_ids)
        for role_id in sorted(self.desired - held):
            await self.dd.add_user_to_role(role_id, user.id)
        for role_id in sorted(held - self.desired):
            await self.dd.remove_user_from_role(role_id, user.id)
        if enabled_wanted and not self.spec.disabled:  # re-enabled: may be Pending again
            user = await self.dd.get_user(user.id)
            self.invite_due = self._invitation_due(user)
        if self.invite_due:
            await self._invite(reminder=bool(self.obj.status.get("invitation")))

    async def delete(self) -> None:
        user_id = self.obj.status.get("userId")
        if not user_id:
            return
        with contextlib.suppress(NotFoundError):  # already disabled
            await self.dd.disable_user(str(user_id))
