"""Status writes that never erase another writer's part of the status.

Several writers share one object's status: the engine (Ready, Synced, ... and the kind's
fields), the cost refresher (``cost``, ``budget``, the ``BudgetWarning`` and
``BudgetExceeded`` conditions), and a DatadogPartner's check and cost merge. A JSON
merge patch replaces lists whole (the API server applies RFC 7386 to custom resources: no
strategic merge by key), so a writer that sends ``conditions`` computed from an older read
deletes the conditions another writer added since. Hence every write here is
read-modify-write with the object's ``resourceVersion`` as a precondition: a 409 means
someone wrote in between, so the status is read afresh and the writer's own change applied
again on top of it (conditions by type), then sent again.

Why not server-side apply with a field manager per writer: it needs the conditions list
declared a map keyed by ``type`` in every CRD, every apply must carry the writer's whole
owned part (the engine's status is most of the object), and each object then stores a
``managedFields`` entry per writer that every watch event and list carries. A precondition
costs nothing when nobody raced (the same single PATCH as before) and one GET plus one
PATCH when someone did; conflicts are rare (the refresher writes a client at most once
per refresh interval).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Protocol

from kubernetes import client

from ddmsp.resources.kinds import KindInfo

Status = dict[str, Any]


class StatusAPI(Protocol):
    async def get_fresh(self, info: KindInfo, namespace: str, name: str
                        ) -> dict[str, Any] | None: ...

    async def patch_status(self, info: KindInfo, namespace: str, name: str,
                           status: dict[str, Any], *, resource_version: str | None = None
                           ) -> dict[str, Any]: ...


class StatusConflict(Exception):
    """The object kept changing under every attempt of one status write."""


def merge_patch(old: Status, new: Status) -> Status:
    """The JSON merge patch (RFC 7386) turning ``old`` into ``new``: removed keys become
    null, so the server drops them instead of keeping them behind a merge."""
    patch: Status = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            sub = merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif key not in old or before != value:
            patch[key] = value
    return patch


def apply_merge_patch(target: Status, patch: Status) -> Status:
    """RFC 7386 applied to a copy of ``target`` (null removes; lists are replaced)."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = apply_merge_patch(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_conditions(server: list[Status], base: list[Status], mine: list[Status]
                     ) -> list[Status]:
    """``server``'s conditions with the changes ``mine`` made to ``base`` applied by type:
    a type this writer set or changed takes its value, one it removed goes, every other
    type (another writer's) stays as the server has it."""
    before = {c.get("type"): c for c in base}
    after = {c.get("type"): c for c in mine}
    out = [copy.deepcopy(c) for c in server]
    for type_, cond in after.items():
        if before.get(type_) == cond:
            continue
        for i, existing in enumerate(out):
            if existing.get("type") == type_:
                out[i] = copy.deepcopy(cond)
                break
        else:
            out.append(copy.deepcopy(cond))
    removed = before.keys() - after.keys()
    return [c for c in out if c.get("type") not in removed]


def rebase(server: Status, base: Status, mine: Status,
           sets: tuple[str, ...] = ()) -> Status:
    """The status ``mine`` would be had its changes since ``base`` been made to ``server``.
    ``sets``: list keys two writers share as sets (a DatadogPartner's
    ``missingPermissions``): the items this writer added or removed are applied to the
    server's list, the rest of it stays."""
    plain = merge_patch({k: v for k, v in base.items() if k != "conditions"},
                        {k: v for k, v in mine.items() if k != "conditions"})
    out = apply_merge_patch({k: v for k, v in server.items() if k != "conditions"}, plain)
    if "conditions" in server or "conditions" in mine:
        out["conditions"] = merge_conditions(list(server.get("conditions") or []),
                                             list(base.get("conditions") or []),
                                             list(mine.get("conditions") or []))
    for key in sets:
        before, after = set(base.get(key) or []), set(mine.get(key) or [])
        if before != after:
            out[key] = sorted((set(server.get(key) or []) - (before - after))
                              | (after - before))
    return out


async def update_status(
    kube: StatusAPI, info: KindInfo, namespace: str, name: str,
    mutate: Callable[[Status], bool | None], *, body: dict[str, Any] | None = None,
    attempts: int = 6,
) -> dict[str, Any] | None:
    """Read-modify-write of one object's status under a resourceVersion precondition.

    ``mutate`` changes a copy of the status in place (it is called again on a fresh read
    after a conflict, so it must apply *this writer's* change, not a whole status); it may
    return False to write nothing. ``body``: the object as already read (saves a GET when
    it is current). Returns the object as written (or as read, when nothing changed), None
    when the object is gone."""
    for _ in range(attempts):
        if body is None:
            body = await kube.get_fresh(info, namespace, name)
            if body is None:
                return None
        before: Status = copy.deepcopy(body.get("status") or {})
        after = copy.deepcopy(before)
        if mutate(after) is False:
            return body
        patch = merge_patch(before, after)
        if not patch:
            return body
        version = (body.get("metadata") or {}).get("resourceVersion")
        try:
            return await kube.patch_status(info, namespace, name, patch,
                                           resource_version=version or None)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status != 409 or not version:
                raise
            body = None  # someone wrote in between: read afresh, apply ours again
    raise StatusConflict(f"{info.kind} {namespace}/{name}: the status kept changing during "
                         f"{attempts} attempts to write it")
