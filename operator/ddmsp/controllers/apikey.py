"""DatadogAPIKey: the external client for one rotated API key of a client org.

The "thing" is the current key: it exists when status.keyId names a key Datadog still has
and the Secret holds it. A rotation is a create through the engine's crash-safe create
(reconcile/createguard.py), because an API key create is not idempotent and its value is
shown once:

1. Before the call, the guard writes ``ddmsp.io/create-pending`` (a compare-and-swap); the
   new key's Datadog name carries that marker's timestamp, so the key an interrupted create
   may have made can be found by name later.
2. The answer is written to the Secret first (value, ``ddmsp.io/api-key-id``,
   ``ddmsp.io/content-hash``), then to status (current key, the replaced key with its
   revocation time); only then is the replaced key ever revoked.
3. A crash after the Secret write and before the status write: the next pass finds a key ID
   in the Secret that status does not know, and adopts it (``recover``).
4. A crash between the call and the Secret write: after the settle time, the keys named with
   the pending timestamp are keys whose value nobody holds; they are revoked, and a new key
   is made. So a crash never leaves a lost key, nor two keys unaccounted for.

Before a new key is made, a replaced key still in its grace period is revoked (a second
rotation ends the first one's grace period): at most two keys of one object exist at once.
Key values never go into status, events, logs or exceptions.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiException

from ddmsp import API_GROUP, metrics
from ddmsp.config import OperatorSettings
from ddmsp.controllers.apikey_schedule import Plan, parse_time, plan, revoke_at, rfc3339
from ddmsp.controllers.datadog_access import (
    DatadogClients,
    DatadogConnector,
    create_definitely_failed,
)
from ddmsp.controllers.orgref import OrgTarget, act_in_org
from ddmsp.datadog import NotFoundError
from ddmsp.datadog.models import CreatedApiKey, CreatedApplicationKey
from ddmsp.failpoints import crash_point
from ddmsp.reconcile.engine import Reconciler, Result
from ddmsp.reconcile.external import Observation, ReconcileContext
from ddmsp.reconcile.kube import KubeAPI, decode_secret
from ddmsp.reconcile.kubeerrors import refusal
from ddmsp.reconcile.managed import CREATE_PENDING_ANNOTATION, ManagedObject
from ddmsp.reconcile.outcomes import Blocked, Waiting
from ddmsp.resources import CLIENT_ORG
from ddmsp.resources.apikey import API_KEY, ROTATE_NOW_ANNOTATION, DatadogAPIKeySpec
from ddmsp.resources.orgref import OrgTargetFields

KEY_ID_ANNOTATION = f"{API_GROUP}/api-key-id"
APP_KEY_ID_ANNOTATION = f"{API_GROUP}/app-key-id"
CONTENT_HASH_ANNOTATION = f"{API_GROUP}/content-hash"


def secret_labels(owner: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "ddmsp",
        f"{API_GROUP}/owner-kind": API_KEY.kind,
        f"{API_GROUP}/owner-name": owner,
    }


def content_hash(data: dict[str, str]) -> str:
    """What reloaders and humans compare: a hash of the Secret's data (never the data)."""
    digest = hashlib.sha256()
    for key in sorted(data):
        digest.update(key.encode() + b"\0" + data[key].encode() + b"\0")
    return digest.hexdigest()


def key_name(base: str, stamp: str) -> str:
    """The Datadog name of a key made under the pending marker ``stamp``."""
    return f"{base} {stamp}"


def _now() -> datetime:
    return datetime.now(UTC)


class ApiKeyConnector(DatadogConnector):
    """Builds an ``ApiKeyExternal`` per reconcile and keeps each key's next due time."""

    identity_keys: tuple[str, ...] = ()  # nothing names a DatadogAPIKey

    def __init__(self, settings: OperatorSettings, clients: DatadogClients) -> None:
        super().__init__(settings, clients)
        # When each object's next rotation or revocation is due (epoch seconds): the
        # reconciler's next pass comes then rather than at the drift interval.
        self.wake_at: dict[tuple[str, str], float] = {}

    async def connect(self, ctx: ReconcileContext) -> ApiKeyExternal:
        spec: DatadogAPIKeySpec = ctx.obj.spec
        target = await act_in_org(ctx, OrgTargetFields(org_ref=spec.org_ref), self.settings,
                                  self.clients)
        return ApiKeyExternal(ctx, target, self, await self._service_account(ctx, spec))

    async def _service_account(self, ctx: ReconcileContext,
                               spec: DatadogAPIKeySpec) -> str | None:
        """The owner of the application keys: the spec's, else the org's own service
        account as its DatadogClientOrg records it."""
        if spec.application_key is None:
            return None
        if spec.application_key.service_account_id:
            return spec.application_key.service_account_id
        body = await ctx.kube.get(CLIENT_ORG, ctx.obj.namespace, spec.org_ref.name) or {}
        record = ((body.get("status") or {}).get("clientOrg") or {})
        found = (record.get("serviceAccount") or {}).get("id")
        return str(found) if found else None



class ScheduledReconciler(Reconciler):
    """The engine, plus one thing: a settled object's next pass comes when a key's rotation
    or its replaced key's revocation is due, if that is before the drift check. The
    connector books those times in its ``wake_at`` (DatadogAPIKey, and DatadogClientOrg for
    the operator's own key)."""

    def next_delay(self, key: tuple[str, str], result: Result) -> float | None:
        delay = super().next_delay(key, result)
        wake_at: dict[tuple[str, str], float] = getattr(self.connector, "wake_at", {})
        due = wake_at.pop(key, None) if result.settled or result.gone else None
        if due is None or not result.settled:
            return delay
        until = max(0.5, due - _now().timestamp() + 0.5)
        return until if delay is None else min(delay, until)


ApiKeyReconciler = ScheduledReconciler


@dataclass(frozen=True)
class Slot:
    """One of the keys an object keeps: the API key, and optionally an application key."""

    what: str  # for messages: "API key" / "application key"
    guard_key: str  # the create guard's name for this slot's create
    id_field: str
    previous_field: str
    annotation: str


API_SLOT = Slot("API key", "api-key", "keyId", "previousKeyId", KEY_ID_ANNOTATION)
APP_SLOT = Slot("application key", "app-key", "appKeyId", "previousAppKeyId",
                APP_KEY_ID_ANNOTATION)


class ApiKeyExternal:
    def __init__(self, ctx: ReconcileContext, target: OrgTarget,
                 connector: ApiKeyConnector, service_account: str | None) -> None:
        self.ctx = ctx
        self.obj: ManagedObject = ctx.obj
        self.spec: DatadogAPIKeySpec = ctx.obj.spec
        self.target = target
        self.dd = target.dd
        self.settings = connector.settings
        self.connector = connector
        self.org = target.public_id or target.label
        self.service_account = service_account
        self.plan: Plan | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def kube(self) -> KubeAPI:
        return self.ctx.kube

    @property
    def secret(self) -> str:
        return self.spec.secret_ref.name

    @property
    def slots(self) -> list[Slot]:
        return [API_SLOT, APP_SLOT] if self.spec.application_key is not None else [API_SLOT]

    def data_key(self, slot: Slot) -> str:
        ref = self.spec.secret_ref
        return ref.api_key_key if slot is API_SLOT else ref.app_key_key

    @property
    def base_name(self) -> str:
        return self.spec.key_name or f"{self.obj.namespace}/{self.obj.name}"

    @property
    def rotate_now(self) -> str | None:
        return self.obj.annotations.get(ROTATE_NOW_ANNOTATION) or None

    def unresolved(self, slot: Slot) -> bool:
        self.ctx.guard.key = slot.guard_key
        return self.ctx.guard.unresolved

    async def _read_secret(self) -> tuple[dict[str, str], dict[str, str]] | None:
        """(data, annotations) of our Secret, None when absent; Blocked when not ours."""
        found = await self.kube.read_secret(self.obj.namespace, self.secret)
        if found is None:
            return None
        meta = found.metadata
        labels = dict((meta and meta.labels) or {})
        want = secret_labels(self.obj.name)
        if any(labels.get(k) != v for k, v in want.items()):
            owner = labels.get(f"{API_GROUP}/owner-name")
            whose = f"owned by {owner}" if owner else "no ddmsp owner labels"
            raise Blocked(
                "SecretNotOwned",
                f"Secret {self.obj.namespace}/{self.secret} exists but its labels do not "
                f"name this DatadogAPIKey ({whose}); the operator writes keys only into a "
                "Secret it made or one labelled as this object's. Choose another "
                f"spec.secretRef.name, or label it: kubectl label secret {self.secret} -n "
                f"{self.obj.namespace} app.kubernetes.io/managed-by=ddmsp "
                f"{API_GROUP}/owner-kind={API_KEY.kind} "
                f"{API_GROUP}/owner-name={self.obj.name} --overwrite")
        return decode_secret(found), dict((meta and meta.annotations) or {})

    async def _patch_secret(self, patch: dict[str, Any]) -> None:
        await self.kube.patch_secret(self.obj.namespace, self.secret, patch)

    def _wake(self, when: datetime | None) -> None:
        key = (self.obj.namespace, self.obj.name)
        if when is None:
            self.connector.wake_at.pop(key, None)
        else:
            self.connector.wake_at[key] = when.timestamp()

    # ------------------------------------------------------------------ Datadog, per slot
    def _sa(self) -> str:
        assert self.service_account is not None
        return self.service_account

    async def _exists(self, slot: Slot, key_id: str) -> bool:
        try:
            if slot is API_SLOT:
                await self.dd.get_api_key(key_id)
            else:
                await self.dd.get_application_key(key_id)
        except NotFoundError:
            return False
        return True

    async def _create(self, slot: Slot, name: str) -> CreatedApiKey | CreatedApplicationKey:
        if slot is API_SLOT:
            return await self.dd.create_api_key(name)
        scopes = self.spec.application_key.scopes if self.spec.application_key else None
        return await self.dd.create_service_account_application_key(self._sa(), name, scopes)

    async def _named(self, slot: Slot, name: str) -> list[str]:
        """Keys with exactly this name (Datadog's filter matches names loosely)."""
        if slot is API_SLOT:
            return [k.id for k in await self.dd.list_api_keys(name_filter=name)
                    if k.name == name]
        return [k.id for k in await self.dd.list_service_account_application_keys(self._sa())
                if k.name == name]

    async def _revoke(self, slot: Slot, key_id: str) -> None:
        with contextlib.suppress(NotFoundError):  # already revoked
            if slot is API_SLOT:
                await self.dd.delete_api_key(key_id)
            else:
                await self.dd.delete_org_application_key(key_id)

    # ------------------------------------------------------------------ contract
    def _out_of_step(self, secret: tuple[dict[str, str], dict[str, str]] | None) -> list[str]:
        """Why the Secret does not hold the keys status names (empty: it does)."""
        out = []
        for slot in self.slots:
            key_id = self.obj.status.get(slot.id_field)
            if not key_id:
                out.append(f"no {slot.what} has been created yet")
            elif secret is None or not secret[0].get(self.data_key(slot)):
                out.append(f"Secret {self.secret} no longer holds the {slot.what} under "
                           f"{self.data_key(slot)!r}")
            elif secret[1].get(slot.annotation) != key_id:
                out.append(f"Secret {self.secret} holds {slot.what} "
                           f"{secret[1].get(slot.annotation) or '(unknown)'}, status names "
                           f"{key_id}")
            if self.unresolved(slot):
                out.append(f"an earlier {slot.what} create was interrupted")
        return out

    async def observe(self) -> Observation:
        status = self.obj.status
        if self.obj.deleting:  # only the keys status names; any of them still in Datadog
            for slot in (API_SLOT, APP_SLOT):
                for field in (slot.id_field, slot.previous_field):
                    key_id = status.get(field)
                    if key_id and await self._exists(slot, str(key_id)):
                        return Observation(exists=True, message=f"{slot.what} {key_id} "
                                           "is still valid")
            return Observation(exists=False)
        key_id = status.get("keyId")
        if not key_id:
            return Observation(exists=False, phase="Pending",
                               message="no API key has been created yet")
        for slot in self.slots:
            found = status.get(slot.id_field)
            if found and not await self._exists(slot, str(found)):
                self.obj.clear_status(slot.id_field, *(("keyName", "keyCreatedAt", "nextRotation")
                                             if slot is API_SLOT else ()))
                if slot is API_SLOT:
                    return Observation(exists=False, phase="Pending",
                                       message=f"the current key {found} was deleted in "
                                       "Datadog")
        now = _now()
        self.plan = plan(self.spec.rotation, status, self.rotate_now, now)
        reasons = list(self.plan.rotate) + self._out_of_step(await self._read_secret())
        if self._dropped_app_keys():
            reasons.append("spec.applicationKey was removed: its application keys are "
                           "revoked and removed from the Secret")
        if status.get("rotating"):
            reasons.append(f"a rotation is unfinished ({', '.join(status['rotating'])} to go)")
        if self.plan.revoke_previous:
            reasons.append("the grace period of the replaced key "
                           f"{status.get('previousKeyId') or status.get('previousAppKeyId')} "
                           "is over")
        status["nextRotation"] = rfc3339(self.plan.next_rotation) \
            if self.plan.next_rotation else None
        if status["nextRotation"] is None and "nextRotation" not in self.obj.original_status:
            del status["nextRotation"]
        self._wake(self.plan.wake_at)
        for slot in (API_SLOT, APP_SLOT):
            metrics.set_next_rotation(
                self.obj.info.kind, self.obj.namespace, self.obj.name,
                "api" if slot is API_SLOT else "application",
                self.plan.next_rotation if slot in self.slots else None)
        grace = ""
        previous = status.get("previousKeyId") or status.get("previousAppKeyId")
        if previous and not self.plan.revoke_previous:
            grace = (f"; the replaced key {previous} works until "
                     f"{status.get('previousRevokeAt')}")
        app = f" with application key {status['appKeyId']}" \
            if self.spec.application_key is not None and status.get("appKeyId") else ""
        return Observation(
            exists=True, up_to_date=not reasons, diff=reasons,
            phase="Rotating" if reasons else "Ready",
            message=f"key {key_id}{app} is in Secret {self.secret}{grace}")

    async def create(self) -> None:
        await self._rotate(self.slots)

    def _dropped_app_keys(self) -> list[str]:
        """Application keys status still names although the spec no longer asks for one."""
        if self.spec.application_key is not None:
            return []
        return [str(self.obj.status[f]) for f in (APP_SLOT.id_field, APP_SLOT.previous_field)
                if self.obj.status.get(f)]

    async def _drop_app_keys(self) -> None:
        """Revoke them at once (the spec says they are no longer wanted) and take the
        current one out of the Secret."""
        dropped = self._dropped_app_keys()
        for key_id in dropped:
            await self._revoke(APP_SLOT, key_id)
        secret = await self._read_secret()
        if secret is not None and secret[1].get(APP_SLOT.annotation) in dropped:
            data = {k: v for k, v in secret[0].items() if k != self.data_key(APP_SLOT)}
            await self._patch_secret({
                "data": {self.data_key(APP_SLOT): None},
                "metadata": {"annotations": {APP_SLOT.annotation: None,
                                             CONTENT_HASH_ANNOTATION: content_hash(data)}}})
        self.obj.clear_status(APP_SLOT.id_field, APP_SLOT.previous_field, "serviceAccountId")
        await self.ctx.save_status()
        await self.ctx.event("Normal", "Revoked", f"revoked application key(s) "
                             f"{', '.join(dropped)}: spec.applicationKey was removed")

    async def update(self, observation: Observation) -> None:
        assert self.plan is not None
        if self._dropped_app_keys():
            await self._drop_app_keys()
        unfinished = self.obj.status.get("rotating") or []
        if unfinished:  # a rotation a crash interrupted: finish it, keep the grace periods
            await self._rotate([s for s in self.slots if s.guard_key in unfinished],
                               resume=True)
            return
        if self.plan.revoke_previous:
            await self._revoke_previous("its grace period is over")
        if self.plan.rotate:
            await self._rotate(self.slots)
            return
        secret = await self._read_secret()
        lagging = [slot for slot in self.slots
                   if self.unresolved(slot) or not self.obj.status.get(slot.id_field)
                   or secret is None or not secret[0].get(self.data_key(slot))
                   or secret[1].get(slot.annotation) != self.obj.status.get(slot.id_field)]
        if lagging:
            await self._rotate(lagging)

    async def delete(self) -> None:
        status = self.obj.status
        for slot in (API_SLOT, APP_SLOT):
            for field in (slot.previous_field, slot.id_field):
                key_id = status.get(field)
                if key_id:
                    await self._revoke(slot, str(key_id))
        try:
            secret = await self._read_secret()
        except Blocked:  # no longer labelled ours: the revoked keys stay in it, untouched
            return
        if secret is None:
            return
        data, annotations = secret
        drop = [s for s in (API_SLOT, APP_SLOT) if annotations.get(s.annotation) and
                annotations.get(s.annotation) in (status.get(s.id_field),
                                                  status.get(s.previous_field))]
        if drop:
            keys = {self.data_key(s) for s in drop}
            left = {k: v for k, v in data.items() if k not in keys}
            await self._patch_secret({
                "data": dict.fromkeys(keys),
                "metadata": {"annotations": {
                    **{s.annotation: None for s in drop},
                    CONTENT_HASH_ANNOTATION: content_hash(left)}}})

    # ------------------------------------------------------------------ revocation
    async def _revoke_previous(self, why: str) -> None:
        status = self.obj.status
        revoked = []
        for slot in (API_SLOT, APP_SLOT):
            previous = status.get(slot.previous_field)
            if previous:
                await self._revoke(slot, str(previous))
                revoked.append(f"{slot.what} {previous}")
                self.obj.clear_status(slot.previous_field)
        if not revoked:
            return
        self.obj.clear_status("previousRevokeAt")
        await self.ctx.save_status()
        await self.ctx.event("Normal", "Revoked",
                             f"revoked the replaced {' and '.join(revoked)} ({why})")

    # ------------------------------------------------------------------ rotation
    async def _rotate(self, slots: list[Slot], *, resume: bool = False) -> None:
        """New keys through the crash-safe create, each written to the Secret before status;
        the keys they replace are revoked after the grace period (at once when it is 0s).
        ``status.rotating`` lists the keys still to make, saved before the first create,
        so a crash between the API key and the application key is finished later, never
        restarted (which would cut the first key's grace period short)."""
        status = self.obj.status
        if APP_SLOT in slots and not self.service_account:
            raise Waiting("ServiceAccountMissing",
                          "spec.applicationKey needs a service account: set "
                          "spec.applicationKey.serviceAccountId, or wait for the "
                          f"DatadogClientOrg {self.spec.org_ref.name} to record its own "
                          "(status.clientOrg.serviceAccount.id)", delay=30)
        if not resume:
            if status.get("previousKeyId") or status.get("previousAppKeyId"):
                # Never a third key: a new rotation ends the older one's grace period.
                await self._revoke_previous("a new rotation began before its grace period "
                                            "ended")
            status["rotating"] = [s.guard_key for s in slots]
            if self.rotate_now:
                status["rotateNowHandled"] = self.rotate_now
            await self.ctx.save_status()
        made = []
        for slot in slots:
            created = await self._rotate_slot(slot)
            if created is not None:
                made.append(f"{slot.what} {created}")
        self.obj.clear_status("rotating")
        if made:
            previous = [status[s.previous_field] for s in slots if status.get(s.previous_field)]
            await self.ctx.event(
                "Normal", "Rotated" if previous else "Created",
                f"created {' and '.join(made)} and wrote "
                f"{'them' if len(made) > 1 else 'it'} to Secret {self.secret}" + (
                    f"; the replaced {', '.join(previous)} "
                    f"{'are' if len(previous) > 1 else 'is'} revoked at "
                    f"{status.get('previousRevokeAt')}" if previous else ""))
        revoke = parse_time(status.get("previousRevokeAt"))
        if (status.get("previousKeyId") or status.get("previousAppKeyId")) and \
                (revoke is None or revoke <= _now()):
            await self._revoke_previous("the grace period is zero")

    async def _rotate_slot(self, slot: Slot) -> str | None:
        """One key through the guard; returns the new key's ID (None when recovered)."""
        status = self.obj.status
        guard = self.ctx.guard
        guard.key = slot.guard_key
        labels = secret_labels(self.obj.name)
        ns = self.obj.namespace
        rotate_now = self.rotate_now
        data_key = self.data_key(slot)

        def stamp() -> str:
            """The pending marker's timestamp, written (compare-and-swap) before the call."""
            return self.obj.annotations.get(CREATE_PENDING_ANNOTATION, "").partition(" ")[0]

        def name_for(when: str) -> str:
            return key_name(self.base_name, when)

        async def reserve() -> None:
            await self._read_secret()  # Blocked when not ours
            try:
                await self.kube.reserve_secret(ns, self.secret, labels, [data_key])
            except ApiException as exc:
                raise Waiting(
                    "SecretNotWritable",
                    f"the new {slot.what} would go to Secret {ns}/{self.secret}, but it "
                    f"cannot be written ({refusal(exc)}); "
                    "no key is created until it can "
                    "(check the operator's RBAC, admission webhooks, or whether the Secret "
                    "is immutable)", delay=30) from None

        async def call() -> CreatedApiKey | CreatedApplicationKey:
            created = await self._create(slot, name_for(stamp()))
            crash_point(f"{slot.guard_key}-after-create-call")
            return created

        async def persist(created: CreatedApiKey | CreatedApplicationKey) -> None:
            secret = await self._read_secret()
            data = dict(secret[0]) if secret else {}
            value = created.key.get_secret_value()
            data[data_key] = value
            await self._patch_secret({
                "metadata": {"labels": labels, "annotations": {
                    slot.annotation: created.id, CONTENT_HASH_ANNOTATION: content_hash(data)}},
                "stringData": {data_key: value}})
            crash_point(f"{slot.guard_key}-after-secret-write")
            self._record(slot, created.id, created.name or name_for(stamp()), rotate_now)
            await self.ctx.save_status()

        async def recover() -> bool:
            """A key in the Secret that status does not know: a rotation whose status
            write was lost. Adopt it (it is the current key), never create another."""
            secret = await self._read_secret()
            if secret is None or not secret[0].get(data_key):
                return False
            found = secret[1].get(slot.annotation)
            if not found or found in (status.get(slot.id_field),
                                      status.get(slot.previous_field)):
                return False
            if not await self._exists(slot, found):
                return False
            self._record(slot, found, None, rotate_now)
            await self.ctx.save_status()
            await self.ctx.event("Normal", "Recovered",
                                 f"Secret {self.secret} holds {slot.what} {found}, made by a "
                                 "rotation whose status write was lost; it is the current key")
            return True

        async def candidates() -> str:
            found = guard.pending()
            ids = await self._named(slot, name_for(found[0])) if found else []
            return (f"Keys named with that attempt's timestamp: {', '.join(ids)}."
                    if ids else "No key named with that attempt's timestamp is visible.")

        async def nothing_created(when: str) -> bool:
            """After the settle time, the keys the interrupted create may have made are
            found by name: their value was never stored, so nobody can be using them.
            They are revoked, and the create may run again."""
            started = parse_time(when)
            age = (_now() - started).total_seconds() if started else 0.0
            settle = self.settings.create_settle_seconds
            if age < settle:
                raise Waiting("CreationResultPending",
                              f"an earlier {slot.what} create was interrupted; checking in "
                              f"{settle - age:.0f}s whether it made a key",
                              delay=max(1.0, settle - age))
            for key_id in await self._named(slot, name_for(when)):
                await self._revoke(slot, key_id)
                await self.ctx.event("Normal", "RevokedLostKey",
                                     f"revoked {slot.what} {key_id}: an interrupted create "
                                     "made it and its value was never stored")
            return True

        created = await guard.run(
            what=f"an {slot.what} in org {self.org}", call=call, persist=persist,
            recover=recover, candidates=candidates,
            definitely_failed=create_definitely_failed,
            how_to_resolve="Revoke the keys named above in Datadog if nobody holds them, "
            "then remove the annotation ddmsp.io/create-pending.",
            nothing_created=nothing_created, reserve=reserve, key=slot.guard_key)
        return created.id if created is not None else None

    def _record(self, slot: Slot, key_id: str, name: str | None,
                rotate_now: str | None) -> None:
        """The new current key in status; the one it replaces becomes the previous key."""
        status = self.obj.status
        now = _now()
        old = status.get(slot.id_field)
        if old and old != key_id:
            status[slot.previous_field] = old
            status["previousRevokeAt"] = rfc3339(revoke_at(self.spec.rotation, now))
            status["lastRotation"] = rfc3339(now)
        status[slot.id_field] = key_id
        if slot is API_SLOT:
            if name:
                status["keyName"] = name
            status["keyCreatedAt"] = rfc3339(now)
        else:
            status["serviceAccountId"] = self.service_account
        status["secret"] = self.secret
        if rotate_now:
            status["rotateNowHandled"] = rotate_now
        left = [k for k in status.get("rotating") or [] if k != slot.guard_key]
        status["rotating"] = left or None
