"""DatadogUser: the external client for one user in a client's org.

What Datadog imposes, and how this client follows it (evidence in ``simulator/users.py``):
- An email is a user's identity and Datadog never deletes users: a create for an email that
  exists (even disabled) answers 409, so the user is found by email and adopted, never
  duplicated. That makes a create idempotent: no create guard is needed.
- ``DELETE /api/v2/users/{id}`` only disables; ``deletionPolicy: Delete`` means "disable".
  Only the user recorded in ``status.userId`` is ever disabled.
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

from ddmsp.config import OperatorSettings
from ddmsp.controllers.datadog_access import DatadogClients, translate_datadog_error
from ddmsp.controllers.orgref import OrgTarget, resolve_org
from ddmsp.controllers.role import org_identity
from ddmsp.datadog import ConflictError, NotFoundError, Role, User
from ddmsp.reconcile.conditions import READY, get_condition, now_rfc3339
from ddmsp.reconcile.external import Observation, ReconcileContext
from ddmsp.reconcile.managed import ManagedObject
from ddmsp.reconcile.outcomes import Blocked, ReconcileOutcome, Waiting
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
    diff: list[str] = []
    missing = sorted(names.get(i, i) for i in desired - actual)
    extra = sorted(names.get(i, i) for i in actual - desired)
    if missing:
        diff.append(f"roles missing: {', '.join(missing)}")
    if extra:
        diff.append(f"roles not in the spec: {', '.join(extra)}")
    return diff


class UserConnector:
    def __init__(self, settings: OperatorSettings, clients: DatadogClients) -> None:
        self.settings = settings
        self.clients = clients

    def claims(self, obj: ManagedObject) -> list[str]:
        """An email is one user per org: two objects naming it in one org conflict."""
        spec: DatadogUserSpec = obj.spec
        return [f"user/{org_identity(obj.namespace, spec)}/{spec.email.strip().lower()}"]

    async def connect(self, ctx: ReconcileContext) -> UserExternal:
        spec: DatadogUserSpec = ctx.obj.spec
        target = await resolve_org(ctx, spec, self.settings, self.clients)
        ctx.obj.status["org"] = target.label
        if target.public_id:
            ctx.obj.status["orgPublicId"] = target.public_id
        return UserExternal(ctx, target, self.settings.wait_poll)

    def translate_error(self, exc: BaseException) -> ReconcileOutcome | None:
        return translate_datadog_error(exc, self.settings.wait_poll)


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
    async def _find(self, by_email: bool) -> User | None:
        """The recorded user; by email only when asked (ObserveOnly never creates, so it
        must look; Full mode creates and adopts on Datadog's 409 instead)."""
        user_id = self.obj.status.get("userId")
        if user_id:
            try:
                return await self.dd.get_user(str(user_id))
            except NotFoundError:
                for key in ("userId", "datadogStatus", "adopted"):
                    self.obj.status.pop(key, None)
        if not by_email:
            return None
        found = await self.dd.find_user_by_email(self.email)
        if found is None:
            return None
        await self._adopted(found)
        return await self.dd.get_user(found.id)  # the full read, with Datadog's clock

    async def _adopted(self, user: User) -> None:
        self.obj.status.update(userId=user.id, adopted=True)
        await self.ctx.save_status()
        await self.ctx.event("Normal", "Adopted",
                             f"adopted the existing user {user.email} ({user.id}, "
                             f"{user.status or 'unknown status'})")

    def _record(self, user: User) -> None:
        held = sorted(self.names.get(r, r) for r in user.role_ids)
        self.obj.status.update(userId=user.id, email=user.email, roles=held,
                               rolesSummary=", ".join(held) if held else "-")
        if user.status in ("Pending", "Active", "Disabled"):
            self.obj.status["datadogStatus"] = user.status

    def _applied_before(self) -> bool:
        before = self.obj.original_status
        return bool(before.get("userId")) and before.get("observedGeneration") == \
            self.obj.generation

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
            user = await self._find(by_email=False)
            self.user = user
            return Observation(exists=user is not None and user.status != "Disabled")
        await self._resolve_roles()
        user = await self._find(by_email=self.obj.management_policy == "ObserveOnly")
        if user is None:
            return Observation(exists=False, phase="Pending",
                               message=f"no user {self.email} in org {self.target.label}")
        self.user = user
        self._record(user)
        diff = role_diff(self.desired, set(user.role_ids), self.names)
        if self.spec.disabled != (user.status == "Disabled"):
            diff.append("the user is disabled, the spec wants it enabled" if not
                        self.spec.disabled else "the user is enabled, the spec disables it")
        if self.spec.name is not None and user.name != self.spec.name:
            diff.append(f"name is {user.name!r}, the spec wants {self.spec.name!r}")
        if self._applied_before() and diff:
            self.obj.status["drift"] = {
                "detectedAt": now_rfc3339(), "differences": list(diff),
                "corrected": self.obj.management_policy != "ObserveOnly"}
        self.invite_due = self._invitation_due(user)
        if self.invite_due:
            diff.append(f"invitation due: {self.invite_due}")
        self.diff = diff
        held = ", ".join(sorted(self.names.get(r, r) for r in user.role_ids)) or "no roles"
        return Observation(
            exists=True, up_to_date=not diff, diff=diff,
            phase="Drifted" if diff else "Ready",
            message=f"user {user.email} ({user.id}) is {user.status} with {held}",
        )

    async def create(self) -> None:
        try:
            user = await self.dd.create_user(self.email, self.spec.name)
        except ConflictError:  # the email exists (perhaps disabled): adopt, never duplicate
            found = await self.dd.find_user_by_email(self.email)
            if found is None:
                raise Blocked(
                    "EmailTaken",
                    f"Datadog says a user {self.email} exists (409) but no user has that "
                    "email: another user probably has it as its handle; rename that user in "
                    "Datadog or use another email") from None
            await self._adopted(found)
            return  # observe reads it and plans roles, enablement and the invitation
        self.obj.status.update(userId=user.id, email=user.email,
                               datadogStatus=user.status or "Pending")
        self.obj.status.pop("adopted", None)
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
