"""DatadogRole: the external client for one custom role in a client's org.

Reading a role is one call: the role resource carries its permission IDs, and the
permission catalogue (names <-> IDs, restricted flags) is cached per site and refreshed
every ``CATALOGUE_TTL`` seconds. Correcting a role is one PATCH with the exact permission
set: the spec's plus, unless ``defaultPermissions: OptOut``, Datadog's defaults (which
Datadog re-adds to every PATCH without the opt-out), so a converged role costs no write.

Ownership is explicit: ``status.roleId`` is set only by a create or by ``spec.adopt``, and a
delete deletes only that ID. A role of the same name that this object cannot prove it made
stalls the object (``RoleExists``) instead of being taken over. Before a create,
``status.createStartedAt`` is saved, so a create whose answer is lost is recognised on the
next pass (the one role of that name, which did not exist when the create began).

Datadog's managed roles (Admin, Standard, Read Only) are never ours: a spec naming one, an
adoption of one, a status recording one (an adoption from before this rule) all stall with
``ManagedRole``, and no PATCH or DELETE is ever sent for one.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import time
from collections.abc import Iterable

from ddmsp.config import OperatorSettings
from ddmsp.controllers.datadog_access import (
    DatadogClients,
    DatadogConnector,
    failed_create,
)
from ddmsp.controllers.orgref import OrgTarget, act_in_org
from ddmsp.datadog import (
    ConflictError,
    DatadogClient,
    DatadogError,
    NotFoundError,
    Permission,
    Role,
)
from ddmsp.reconcile.claims import Claim, org_words
from ddmsp.reconcile.conditions import now_rfc3339
from ddmsp.reconcile.drift import named_set_diff
from ddmsp.reconcile.external import Observation, ReconcileContext
from ddmsp.reconcile.managed import ManagedObject
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.resources.orgref import OrgTargetFields
from ddmsp.resources.role import MANAGED_ROLE_NAMES, DatadogRoleSpec

CATALOGUE_TTL = 600.0


# ------------------------------------------------------------------ pure helpers
def _normal(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower())


def suggest(name: str, catalogue: Iterable[Permission], n: int = 3) -> list[str]:
    """The closest valid permission names to an unknown ``name`` (best first)."""
    perms = list(catalogue)
    names = [p.name for p in perms]
    out: list[str] = []
    wanted = _normal(name)
    for p in perms:  # a different spelling of an exact name or display name
        if wanted in (_normal(p.name), _normal(p.display_name or "")) and p.name not in out:
            out.append(p.name)
    for match in difflib.get_close_matches(wanted, names, n=n, cutoff=0.6):
        if match not in out:
            out.append(match)
    if not out:  # a fragment of a name, e.g. "dashboard"
        out = [p for p in names if wanted and wanted in p][:n]
    return out[:n]


def resolve_permissions(names: Iterable[str], catalogue: Iterable[Permission]) -> list[str]:
    """Permission IDs for names (any valid permission), or Blocked naming unknown ones."""
    perms = list(catalogue)
    by_name = {p.name: p for p in perms}
    ids: list[str] = []
    unknown: list[str] = []
    for name in names:
        perm = by_name.get(name)
        if perm is None:
            unknown.append(name)
        elif perm.id not in ids:
            ids.append(perm.id)
    if unknown:
        parts = []
        for name in unknown:
            close = suggest(name, perms)
            hint = f" (did you mean {', '.join(close)}?)" if close else " (no similar name)"
            parts.append(f"{name!r}{hint}")
        raise Blocked(
            "UnknownPermissions",
            f"unknown permission name{'s' if len(unknown) > 1 else ''} in spec.permissions: "
            f"{'; '.join(parts)}. Fix the names; `GET /api/v2/permissions` lists all "
            f"{len(perms)} valid ones",
        )
    return ids


def default_permission_ids(catalogue: Iterable[Permission]) -> list[str]:
    """Datadog's default permissions: every role gets them unless it opts out. The RBAC docs
    call them "restricted" and the catalogue flags exactly those (the recorded catalogue's
    ten `restricted: true` entries are the ten a new role receives)."""
    return [p.id for p in catalogue if p.restricted]


def desired_permission_ids(
    names: Iterable[str], catalogue: Iterable[Permission], default_permissions: str
) -> list[str]:
    """The exact set a role should hold: the spec's, plus the defaults unless OptOut."""
    perms = list(catalogue)
    ids = resolve_permissions(names, perms)
    if default_permissions == "Keep":
        ids += [i for i in default_permission_ids(perms) if i not in ids]
    return ids


def role_key(name: str) -> str:
    """A role name as compared for uniqueness. Datadog's case rule is undocumented (409 on
    a clone with a taken name is recorded, nothing on case): the broader, case-insensitive
    reading is used, so two names that might collide in Datadog are never both claimed."""
    return name.casefold()


def is_managed_role(name: str | None) -> bool:
    """Whether a name is one of Datadog's managed roles (compared as role names are)."""
    return name is not None and role_key(name.strip()) in {role_key(n) for n in
                                                            MANAGED_ROLE_NAMES}


def managed_role_refused(name: str, role_id: str | None, how: str) -> Blocked:
    """The one answer to any attempt at managing one of Datadog's managed roles."""
    which = f"{name!r} ({role_id})" if role_id else repr(name)
    return Blocked(
        "ManagedRole",
        f"{how} {which}, one of Datadog's managed roles ({', '.join(MANAGED_ROLE_NAMES)}): "
        "Datadog maintains them, and a DatadogRole never changes, adopts or deletes them; "
        "nothing was changed. To give users a managed role, name it in a DatadogUser's "
        "spec.roles[].roleName or a DatadogSAMLConfig mapping; for a role of your own, choose "
        "another spec.roleName (to start from a managed role's permissions, clone it in "
        "Datadog and adopt the clone with spec.adopt.roleId)")


def wanted_name(spec: DatadogRoleSpec, default: str) -> str | None:
    """The role's name as the spec sets it: spec.roleName, else the adopted role's name
    (spec.adopt.roleName), else metadata.name; None when a role adopted by ID keeps the name
    it has in Datadog."""
    if spec.role_name:
        return spec.role_name
    if spec.adopt is not None:
        return spec.adopt.role_name  # None with adopt.roleId: the name stays Datadog's
    return default


def org_identity(namespace: str, spec: OrgTargetFields) -> str:
    """Which org a spec acts in, from the spec alone (no API call)."""
    if spec.org_ref is not None:
        suffix = "" if spec.org_ref.org == "client" else "/parent"
        return f"orgRef:{namespace}/{spec.org_ref.name}{suffix}"
    assert spec.credentials_secret_ref is not None
    return f"secret:{namespace}/{spec.credentials_secret_ref.name}"


def permission_diff(
    desired: Iterable[str], actual: Iterable[str], names: dict[str, str]
) -> list[str]:
    """Human-readable differences between desired and actual permission ID sets."""
    return named_set_diff("permissions", desired, actual, names)


class _Catalogue:
    """The permission catalogue per Datadog site, refreshed after a TTL.

    Datadog's catalogue is the same for every org of a site, and at ~300 permissions it is
    about 550 KiB of parsed models: one copy per site (at most the handful of sites there
    are), not one per org."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, list[Permission]]] = {}

    async def get(self, dd: DatadogClient) -> list[Permission]:
        key = dd.base_url
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < CATALOGUE_TTL:
            return hit[1]
        perms = await dd.list_permissions()
        self._cache[key] = (time.monotonic(), perms)
        return perms

    def __len__(self) -> int:
        return len(self._cache)


class RoleConnector(DatadogConnector):
    applied_keys = ("roleId",)  # drift counts once a role was recorded (reconcile/drift.py)
    # What users and SAML configs name a role by: a change or deletion wakes them at once
    # (reconcile/handlers.py).
    identity_keys = ("roleId", "roleName")

    def __init__(self, settings: OperatorSettings, clients: DatadogClients) -> None:
        super().__init__(settings, clients)
        self.catalogue = _Catalogue()

    def claims(self, obj: ManagedObject) -> list[str]:
        """The Datadog things this object claims (spec only): its role name in its org, and
        the adopted role's ID. Two objects claiming one of these conflict. Each claim says in
        words what it is, for the conflict message."""
        spec: DatadogRoleSpec = obj.spec
        org = org_identity(obj.namespace, spec)
        where = org_words(org)
        out: dict[str, Claim] = {}
        name = wanted_name(spec, obj.name)
        if name is not None:
            key = f"role/{org}/{role_key(name)}"
            out[key] = Claim(key, f"the role named {name!r} in {where}")
        if spec.adopt is not None and spec.adopt.role_id:
            key = f"role/{org}/id:{spec.adopt.role_id}"
            out[key] = Claim(key, f"the role with ID {spec.adopt.role_id} in {where}")
        elif spec.adopt is not None and spec.adopt.role_name:
            key = f"role/{org}/{role_key(spec.adopt.role_name)}"
            out.setdefault(key, Claim(key, f"the role named {spec.adopt.role_name!r} in "
                                           f"{where}"))
        return list(out.values())

    async def connect(self, ctx: ReconcileContext) -> RoleExternal:
        spec: DatadogRoleSpec = ctx.obj.spec
        target = await act_in_org(ctx, spec, self.settings, self.clients)
        return RoleExternal(ctx, target, await self.catalogue.get(target.dd))


_OWNED_KEYS = ("roleId", "adopted", "createStartedAt")
_SEEN_KEYS = ("roleName", "permissions", "permissionCount")


class RoleExternal:
    def __init__(
        self, ctx: ReconcileContext, target: OrgTarget, catalogue: list[Permission]
    ) -> None:
        self.ctx = ctx
        self.obj = ctx.obj
        self.spec: DatadogRoleSpec = ctx.obj.spec
        self.dd = target.dd
        self.org = target.public_id or target.label
        self.catalogue = catalogue
        self.names = {p.id: p.name for p in catalogue}
        # The role as this pass's own create or update answered it: the observe right after
        # the write reads it from here, not with another GET (reconcile/engine.py)
        self._answered: Role | None = None
        self.role: Role | None = None

    @property
    def role_name(self) -> str:
        """The name to create, find or report the role by."""
        return wanted_name(self.spec, self.obj.name) or (
            self.role.name if self.role is not None else self.obj.name)

    @property
    def managed_name(self) -> str | None:
        """The name the role must have, or None when the spec leaves it to Datadog."""
        return wanted_name(self.spec, self.obj.name)

    @property
    def opt_out(self) -> bool:
        return self.spec.default_permissions == "OptOut"

    def desired_ids(self) -> list[str]:
        return desired_permission_ids(self.spec.permissions, self.catalogue,
                                      self.spec.default_permissions)

    def _record(self, role: Role, *, owned: bool = True) -> None:
        names = sorted(self.names.get(i, i) for i in role.permission_ids)
        self.obj.status.update(roleName=role.name, permissions=names,
                               permissionCount=len(names))
        if owned:
            self.obj.status["roleId"] = role.id

    def _forget(self) -> None:
        for key in (*_OWNED_KEYS, *_SEEN_KEYS):
            self.obj.clear_status(key)

    # ------------------------------------------------------------------ finding the role
    async def _owned(self) -> tuple[Role | None, list[str]]:
        """The role status proves this object owns, if it still exists."""
        role_id = str(self.obj.status["roleId"])
        adopt = self.spec.adopt
        if adopt is not None and adopt.role_id and adopt.role_id != role_id:
            raise Blocked("AdoptionMismatch",
                          f"this resource already manages role {role_id}; spec.adopt.roleId "
                          f"{adopt.role_id} cannot move it to another role. Remove "
                          "spec.adopt.roleId, or manage that role with a new DatadogRole")
        answered, self._answered = self._answered, None
        try:
            role = answered if answered is not None and answered.id == role_id \
                else await self.dd.get_role(role_id)
        except NotFoundError:
            self._forget()
            return None, [f"role {role_id} was deleted in Datadog"]
        if is_managed_role(role.name):  # adopted before managed roles were refused
            self._forget()  # status no longer claims it: nothing of it is ever deleted
            raise managed_role_refused(role.name, role.id, "status recorded")
        return role, []

    async def _adopt(self) -> Role:
        """The role spec.adopt names; Blocked when it is missing or ambiguous."""
        adopt = self.spec.adopt
        assert adopt is not None
        if adopt.role_id:
            try:
                role = await self.dd.get_role(adopt.role_id)
            except NotFoundError:
                raise Blocked("AdoptTargetNotFound",
                              f"spec.adopt.roleId {adopt.role_id}: no such role in org "
                              f"{self.org}. Fix the ID (`GET /api/v2/roles` lists them), or "
                              "remove spec.adopt to create the role") from None
        else:
            assert adopt.role_name
            named = self._single(await self.dd.roles_named(adopt.role_name),
                                 adopt.role_name, "spec.adopt.roleName")
            if named is None:
                raise Blocked("AdoptTargetNotFound",
                              f"spec.adopt.roleName {adopt.role_name!r}: no role of that name "
                              f"in org {self.org}. Fix the name, or remove spec.adopt to "
                              "create the role")
            role = named
        if is_managed_role(role.name):
            raise managed_role_refused(role.name, role.id, "spec.adopt names")
        self.obj.status["adopted"] = True
        await self.ctx.event("Normal", "Adopted",
                             f"adopted the existing role {role.name!r} ({role.id})")
        return role

    def _single(self, roles: list[Role], name: str, field: str) -> Role | None:
        if len(roles) > 1:
            ids = ", ".join(f"{r.name!r} ({r.id})" for r in roles)
            raise Blocked("AmbiguousRole",
                          f"{field} {name!r} matches {len(roles)} roles in org {self.org}: "
                          f"{ids}. Name one by ID with spec.adopt.roleId")
        return roles[0] if roles else None

    async def _unowned_by_name(self) -> Role | None:
        """A role of our name that this object has no proof of owning: ours only when our
        own create was in flight (its answer lost); otherwise someone else's."""
        found = self._single(await self.dd.roles_named(self.role_name), self.role_name,
                             "spec.roleName")
        started = self.obj.status.get("createStartedAt")
        self.obj.clear_status("createStartedAt")
        if found is None:
            return None
        if is_managed_role(found.name):  # never adopted, not even after a lost create
            raise managed_role_refused(found.name, found.id, "the spec's role name matches")
        if started:  # the only role of this name appeared after our create began
            await self.ctx.event("Normal", "Created",
                                 f"role {found.name!r} ({found.id}) found after a create "
                                 f"whose answer was lost (started {started})")
            return found
        if self.obj.management_policy == "ObserveOnly":
            return found  # read-only: observed and reported, never owned (no roleId)
        raise Blocked("RoleExists",
                      f"a role named {found.name!r} ({found.id}) already exists in org "
                      f"{self.org} and this resource did not create it: nothing was "
                      f"changed. To manage that role, set spec.adopt.roleId: {found.id} "
                      "(its permissions then follow this spec, and deletionPolicy Delete "
                      "deletes it with this resource); otherwise choose another "
                      "spec.roleName")

    async def _find(self) -> tuple[Role | None, list[str]]:
        gone: list[str] = []
        if self.obj.status.get("roleId"):
            role, gone = await self._owned()
            if role is not None:
                return role, gone
        if self.obj.deleting:  # nothing (left) that status proves ours: nothing to delete
            return None, gone
        if self.spec.adopt is not None:
            return await self._adopt(), gone
        return await self._unowned_by_name(), gone

    # ------------------------------------------------------------------ contract
    async def observe(self) -> Observation:
        if self.obj.deleting:  # finalize: only a role status proves ours matters
            role, _ = await self._find()
            self.role = role
            return Observation(exists=role is not None)
        if is_managed_role(self.managed_name):  # admission refuses it; this is the backstop
            raise managed_role_refused(str(self.managed_name), None, "the spec names")
        desired = self.desired_ids()  # a bad spec stops here, before any adoption
        role, gone = await self._find()
        if role is None:
            return Observation(exists=False, phase="Pending", drift=gone,
                               message=f"role {self.role_name!r} does not exist")
        self.role = role
        owned = self.obj.management_policy != "ObserveOnly" or bool(self.obj.status.get("roleId")) \
            or self.spec.adopt is not None
        self._record(role, owned=owned)
        diff = list(gone)
        if self.managed_name is not None and role.name != self.managed_name:
            diff.append(f"name is {role.name!r}, the spec wants {self.managed_name!r}")
        diff += permission_diff(desired, role.permission_ids, self.names)
        defaults = "" if self.opt_out else " (Datadog's defaults kept)"
        return Observation(
            exists=True, up_to_date=not diff, diff=diff, drift=diff,
            phase="Drifted" if diff else "Ready",
            message=f"role {role.name!r} ({role.id}) has {len(role.permission_ids)} "
            f"permissions{defaults}",
        )

    async def create(self) -> None:
        desired = self.desired_ids()
        self.obj.status["createStartedAt"] = now_rfc3339()
        await self.ctx.save_status()  # before the call: a lost answer is recognised later
        try:
            role = await self.dd.create_role(self.role_name, desired,
                                             default_permissions_opt_out=self.opt_out)
        except ConflictError:
            self.obj.clear_status("createStartedAt")
            raise Blocked("RoleExists",
                          f"Datadog answered 409: a role named {self.role_name!r} already "
                          f"exists in org {self.org} and this resource did not create it. "
                          "Set spec.adopt to manage it, or choose another spec.roleName") \
                from None
        except DatadogError as exc:
            outcome = failed_create(exc, f"role {self.role_name!r}", "looks for it by name",
                                    lambda: self.obj.clear_status("createStartedAt"))
            if outcome is None:
                raise
            raise outcome from None
        self.obj.clear_status("createStartedAt", "adopted")
        # The role ID goes out with the pass's status write (also when a later step fails).
        # A crash before it leaves createStartedAt, and the next pass finds the role by
        # name, as after a lost answer: no write of its own is needed here.
        self._record(role)
        if set(role.permission_ids) != set(desired):
            role = await self._apply(role, desired)
        self._answered = role
        await self.ctx.event("Normal", "Created",
                             f"created role {role.name!r} ({role.id}) with "
                             f"{len(role.permission_ids)} permissions")

    async def update(self, observation: Observation) -> None:
        assert self.role is not None
        self._answered = await self._apply(self.role, self.desired_ids())

    async def _apply(self, role: Role, desired: list[str]) -> Role:
        """One PATCH to the exact set (and name); Blocked if Datadog will not hold it, so an
        unreachable set never turns into a PATCH on every pass."""
        if is_managed_role(role.name):  # the last guard before any write to a role
            raise managed_role_refused(role.name, role.id, "an update would change")
        want = self.managed_name
        name = want if want is not None and role.name != want else None
        perms = desired if set(desired) != set(role.permission_ids) else None
        updated = await self.dd.update_role(role.id, name=name, permission_ids=perms,
                                            default_permissions_opt_out=self.opt_out)
        self._record(updated)
        if perms is not None and set(updated.permission_ids) != set(desired):
            kept = sorted(self.names.get(i, i) for i in set(updated.permission_ids) -
                          set(desired))
            missing = sorted(self.names.get(i, i) for i in set(desired) -
                             set(updated.permission_ids))
            parts = ([f"kept {', '.join(kept)}"] if kept else []) + \
                ([f"did not grant {', '.join(missing)}"] if missing else [])
            fix = ("list them in spec.permissions, or set defaultPermissions: Keep"
                   if self.opt_out else "list them in spec.permissions")
            raise Blocked("PermissionsNotApplied",
                          f"Datadog {' and '.join(parts)} on role {updated.name!r} "
                          f"({updated.id}) after an exact update, so the operator stops "
                          "instead of updating again on every pass. Datadog keeps some "
                          f"permissions on every role (Minimal Access Roles off): {fix}")
        return updated

    async def delete(self) -> None:
        role_id = self.obj.status.get("roleId")
        if not role_id:  # only what status proves this object created or adopted
            return
        role = self.role if self.role is not None and self.role.id == role_id else None
        if role is None:
            try:
                role = await self.dd.get_role(str(role_id))
            except NotFoundError:
                return
        if is_managed_role(role.name):  # never, whatever status says
            raise managed_role_refused(role.name, role.id, "deleting this resource would delete")
        with contextlib.suppress(NotFoundError):
            await self.dd.delete_role(str(role_id))
