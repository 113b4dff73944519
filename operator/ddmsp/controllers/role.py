"""DatadogRole: the external client for one custom role in a client's org.

Reading a role is one call: the role resource carries its permission IDs, and the
permission catalogue (names <-> IDs, restricted flags) is cached per org and refreshed
every ``CATALOGUE_TTL`` seconds. Correcting a role is one PATCH with the exact permission
set. Roles are adopted by name, so a create is idempotent by observation and needs no
create guard: a crash after the create finds the role by name on the next pass.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import time
from collections.abc import Iterable

from ddmsp.config import OperatorSettings
from ddmsp.controllers.datadog_access import DatadogClients, translate_datadog_error
from ddmsp.controllers.orgref import OrgTarget, resolve_org
from ddmsp.datadog import DatadogClient, NotFoundError, Permission, Role
from ddmsp.reconcile.conditions import now_rfc3339
from ddmsp.reconcile.external import Observation, ReconcileContext
from ddmsp.reconcile.outcomes import Blocked, ReconcileOutcome
from ddmsp.resources.role import DatadogRoleSpec

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


def resolve_permissions(
    names: Iterable[str], catalogue: Iterable[Permission], allow_restricted: bool
) -> list[str]:
    """Permission IDs for names, or Blocked naming unknown and restricted ones."""
    perms = list(catalogue)
    by_name = {p.name: p for p in perms}
    ids: list[str] = []
    unknown: list[str] = []
    restricted: list[str] = []
    for name in names:
        perm = by_name.get(name)
        if perm is None:
            unknown.append(name)
            continue
        if perm.restricted and not allow_restricted:
            restricted.append(name)
        if perm.id not in ids:
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
    if restricted:
        raise Blocked(
            "RestrictedPermissions",
            f"Datadog flags {', '.join(sorted(restricted))} as restricted: set "
            "spec.allowRestrictedPermissions: true to grant "
            f"{'them' if len(restricted) > 1 else 'it'}, or remove "
            f"{'them' if len(restricted) > 1 else 'it'} from spec.permissions",
        )
    return ids


def permission_diff(
    desired: Iterable[str], actual: Iterable[str], names: dict[str, str]
) -> list[str]:
    """Human-readable differences between desired and actual permission ID sets."""
    want, have = set(desired), set(actual)
    diff: list[str] = []
    missing = sorted(names.get(i, i) for i in want - have)
    extra = sorted(names.get(i, i) for i in have - want)
    if missing:
        diff.append(f"permissions missing: {', '.join(missing)}")
    if extra:
        diff.append(f"permissions not in the spec: {', '.join(extra)}")
    return diff


class _Catalogue:
    """The permission catalogue per org (keyed by client), refreshed after a TTL."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[float, list[Permission]]] = {}

    async def get(self, dd: DatadogClient) -> list[Permission]:
        key = id(dd)
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < CATALOGUE_TTL:
            return hit[1]
        perms = await dd.list_permissions()
        self._cache[key] = (time.monotonic(), perms)
        return perms


class RoleConnector:
    def __init__(self, settings: OperatorSettings, clients: DatadogClients) -> None:
        self.settings = settings
        self.clients = clients
        self.catalogue = _Catalogue()

    async def connect(self, ctx: ReconcileContext) -> RoleExternal:
        spec: DatadogRoleSpec = ctx.obj.spec
        target = await resolve_org(ctx, spec, self.settings, self.clients)
        ctx.obj.status["org"] = target.label
        if target.public_id:
            ctx.obj.status["orgPublicId"] = target.public_id
        return RoleExternal(ctx, target, await self.catalogue.get(target.dd))

    def translate_error(self, exc: BaseException) -> ReconcileOutcome | None:
        return translate_datadog_error(exc, self.settings.wait_poll)


class RoleExternal:
    def __init__(
        self, ctx: ReconcileContext, target: OrgTarget, catalogue: list[Permission]
    ) -> None:
        self.ctx = ctx
        self.obj = ctx.obj
        self.spec: DatadogRoleSpec = ctx.obj.spec
        self.dd = target.dd
        self.catalogue = catalogue
        self.names = {p.id: p.name for p in catalogue}
        self.role: Role | None = None

    @property
    def role_name(self) -> str:
        return self.spec.role_name or self.obj.name

    def desired_ids(self) -> list[str]:
        return resolve_permissions(
            self.spec.permissions, self.catalogue, self.spec.allow_restricted_permissions
        )

    def _applied_before(self) -> bool:
        """True when this generation was already reconciled: differences now are drift."""
        before = self.obj.original_status
        return bool(before.get("roleId")) and before.get("observedGeneration") == \
            self.obj.generation

    def _record(self, role: Role) -> None:
        names = sorted(self.names.get(i, i) for i in role.permission_ids)
        self.obj.status.update(roleId=role.id, roleName=role.name, permissions=names,
                               permissionCount=len(names))

    def _drift(self, differences: list[str]) -> None:
        if self._applied_before() and differences:
            self.obj.status["drift"] = {
                "detectedAt": now_rfc3339(),
                "differences": differences,
                "corrected": self.obj.management_policy != "ObserveOnly",
            }

    async def _find(self) -> tuple[Role | None, list[str]]:
        role_id = self.obj.status.get("roleId")
        if role_id:
            try:
                return await self.dd.get_role(str(role_id)), []
            except NotFoundError:
                for key in ("roleId", "permissions", "permissionCount", "adopted"):
                    self.obj.status.pop(key, None)
                gone = [f"role {role_id} was deleted in Datadog"]
                return await self.dd.find_role_by_name(self.role_name), gone
        role = await self.dd.find_role_by_name(self.role_name)
        if role is not None:
            self.obj.status["adopted"] = True
            await self.ctx.event("Normal", "Adopted",
                                 f"adopted the existing role {role.name!r} ({role.id})")
        return role, []

    # ------------------------------------------------------------------ contract
    async def observe(self) -> Observation:
        if self.obj.deleting:  # finalize: only where the role is matters
            role, _ = await self._find()
            self.role = role
            return Observation(exists=role is not None)
        desired = self.desired_ids()
        role, gone = await self._find()
        if role is None:
            self._drift(gone)
            return Observation(exists=False, phase="Pending",
                               message=f"role {self.role_name!r} does not exist")
        self.role = role
        self._record(role)
        diff = list(gone)
        if role.name != self.role_name:
            diff.append(f"name is {role.name!r}, the spec wants {self.role_name!r}")
        diff += permission_diff(desired, role.permission_ids, self.names)
        self._drift(diff)
        return Observation(
            exists=True, up_to_date=not diff, diff=diff,
            phase="Drifted" if diff else "Ready",
            message=f"role {role.name!r} ({role.id}) has {len(role.permission_ids)} "
            "permissions",
        )

    async def create(self) -> None:
        desired = self.desired_ids()
        role = await self.dd.create_role(self.role_name, desired)
        self._record(role)
        self.obj.status.pop("adopted", None)
        await self.ctx.save_status()  # the role ID before anything else can fail
        if set(role.permission_ids) != set(desired):  # Datadog added its defaults
            role = await self.dd.update_role(role.id, permission_ids=desired)
            self._record(role)
        await self.ctx.event("Normal", "Created",
                             f"created role {role.name!r} ({role.id}) with "
                             f"{len(desired)} permissions")

    async def update(self, observation: Observation) -> None:
        assert self.role is not None
        desired = self.desired_ids()
        name = self.role_name if self.role.name != self.role_name else None
        perms = desired if set(desired) != set(self.role.permission_ids) else None
        role = await self.dd.update_role(self.role.id, name=name, permission_ids=perms)
        self._record(role)

    async def delete(self) -> None:
        role_id = self.obj.status.get("roleId") or (self.role.id if self.role else None)
        if not role_id:
            return
        with contextlib.suppress(NotFoundError):
            await self.dd.delete_role(str(role_id))
