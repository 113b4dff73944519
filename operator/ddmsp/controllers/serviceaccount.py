"""The operator's own identity in a client org: a service account owning its key.

Why: the key ``POST /api/v1/org`` returns belongs to the person whose keys created the org,
and Datadog stops a user's application keys when that user is disabled (Datadog docs,
"Service Accounts"). The hand-over, one step per pass-safe stage, each resumable:

1. find the bootstrap key's ID: the bootstrap keys list their owner's application keys
   (``GET /api/v2/current_user/application_keys``), matched by ``last4`` (v2 spec
   ``PartialApplicationKeyAttributes.last4``: "The last four characters of the application
   key"); exactly one match counts, anything else is recorded and nothing is revoked;
2. create the service account (``POST /api/v2/service_accounts``, Datadog Admin Role: the
   operator manages roles, users and SAML) through the engine's ``CreateGuard``: a
   service account create is not idempotent, so the marker comes before the call, the ID
   goes to the Secret (``service-account-id``) and status at once, and a lost answer is
   settled by the org's own user listing (exactly one account with the operator's email:
   recorded; none after the settle time: created again; several: Stalled for a human);
3. create its application key (``POST /api/v2/service_accounts/{id}/application_keys``)
   through the guard too; the key is stored at once in the Secret under ``app-key-next``
   (a key shown once is never held only in memory); keys of the account that the Secret
   does not name came from a lost answer and are revoked before a new one is made;
4. prove the new key (an authenticated read of the org with api key + new app key), then
   make it the Secret's ``app-key`` (``app-key-id`` names it) in one write;
5. only then, unless ``spec.credentials.keepBootstrapKey``, revoke the bootstrap key by ID
   with the new key (``DELETE /api/v2/application_keys/{id}``; 404 = already gone).

No scopes are set on the key: Datadog documents application-key scopes as a private beta
("contact Datadog support to enable scopes", v2 spec ``ApplicationKeyCreateAttributes``),
and the operator's v1 org calls (org read, rename, IdP upload) name no scope; an unscoped
key has exactly its owner's permissions, i.e. the service account's role.

Rotation (``spec.credentials.rotation`` of the DatadogClientOrg, else the DatadogPartner's
``spec.defaults.credentials.rotation``; ``ddmsp.io/rotate-now`` on the DatadogClientOrg) runs
steps 3 and 4 again with the schedule logic DatadogAPIKey uses (apikey_schedule.py): the new
key is made through the guard and stored under ``app-key-next``, proven, then swapped in by
one Secret write that also records the replaced key (``app-key-previous-id``) and when it is
revoked (``app-key-previous-revoke-at``, after the grace period); that key is revoked only
then, and only if it is not the key in use. A rotation during a grace period first revokes
the key still in its grace period: no more than two keys of the account are valid at once.

The Secret, not status, is the durable truth (a re-applied object loses its status): its
non-secret data keys ``service-account-id``, ``app-key-id``, ``bootstrap-app-key-id``
are read first, status mirrors them, written once with the pass's other changes (no status
write per step: a crash between steps is resumed from the Secret; a revoke repeated after a
crash answers 404, which counts as done).
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import pydantic
from pydantic import SecretStr

from ddmsp import metrics
from ddmsp.controllers.apikey_schedule import Plan, parse_time, plan, revoke_at, rfc3339
from ddmsp.controllers.datadog_access import (
    API_KEY,
    APP_KEY,
    create_definitely_failed,
)
from ddmsp.controllers.partners import get_partner
from ddmsp.datadog import (
    AuthenticationError,
    Credentials,
    DatadogClient,
    NotFoundError,
    Org,
)
from ddmsp.failpoints import crash_point
from ddmsp.reconcile.conditions import now_rfc3339
from ddmsp.reconcile.createguard import CREATION_RESULT_UNKNOWN
from ddmsp.reconcile.external import ReconcileContext
from ddmsp.reconcile.kube import KubeAPI, decode_secret
from ddmsp.reconcile.outcomes import Blocked, Waiting
from ddmsp.resources.apikey import Rotation
from ddmsp.resources.partner import DatadogPartnerSpec

log = logging.getLogger(__name__)

ADMIN_ROLE = "Datadog Admin Role"
SA_ID_KEY = "service-account-id"
APP_KEY_ID_KEY = "app-key-id"
NEXT_APP_KEY = "app-key-next"
NEXT_APP_KEY_ID = "app-key-next-id"
BOOTSTRAP_ID_KEY = "bootstrap-app-key-id"
CREATED_AT_KEY = "app-key-created-at"
PREVIOUS_ID_KEY = "app-key-previous-id"
PREVIOUS_REVOKE_KEY = "app-key-previous-revoke-at"
ROTATE_NOW_KEY = "rotate-now-handled"
SA_GUARD_KEY = "service-account"
KEY_GUARD_KEY = "service-account-key"


def service_account_email(public_id: str) -> str:
    """One email per org, made only by the operator: how an interrupted create is found.
    Service accounts never receive mail (they cannot log in)."""
    return f"ddmsp-operator+{public_id.lower()}@service-accounts.ddmsp.io"


def _parse_precise(stamp: str) -> datetime:
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def hand_over_needed(record: dict[str, Any], keep_bootstrap: bool) -> str | None:
    """What is left to do, from status alone (no API call: steady state costs nothing)."""
    sa = record.get("serviceAccount") or {}
    if not sa.get("handedOverAt"):
        return ("the operator's application key is the bootstrap key of a person (the org "
                "create's): handing over to a service account of the org")
    if not keep_bootstrap and sa.get("bootstrapKeyId") and not sa.get("bootstrapKeyRevoked"):
        return (f"the bootstrap application key {sa['bootstrapKeyId']} is still valid and "
                "spec.credentials.keepBootstrapKey is false: revoking it")
    return None


def key_schedule(record: dict[str, Any]) -> dict[str, Any]:
    """The service account's key in the shape apikey_schedule.plan reads."""
    sa = record.get("serviceAccount") or {}
    return {"keyCreatedAt": sa.get("applicationKeyCreatedAt") or sa.get("handedOverAt"),
            "rotateNowHandled": sa.get("rotateNowHandled"),
            "previousKeyId": sa.get("previousApplicationKeyId"),
            "previousRevokeAt": sa.get("previousRevokeAt")}


def rotation_plan(record: dict[str, Any], rotation: Rotation, rotate_now: str | None,
                  now: datetime) -> Plan | None:
    """What the schedule asks of the operator's key now (None: not handed over yet)."""
    sa = record.get("serviceAccount") or {}
    if not sa.get("handedOverAt"):
        return None
    return plan(rotation, key_schedule(record), rotate_now, now)


def rotation_needed(found: Plan | None, record: dict[str, Any]) -> str | None:
    """Why a pass must act on the operator's key for its rotation (None: nothing due)."""
    if found is None:
        return None
    sa = record.get("serviceAccount") or {}
    if found.rotate:
        return f"the operator's application key {sa.get('applicationKeyId')}: " \
            + "; ".join(found.rotate)
    if found.revoke_previous:
        return (f"the grace period of the operator's replaced application key "
                f"{sa.get('previousApplicationKeyId')} is over: revoking it")
    return None


def _now() -> datetime:
    return datetime.now(UTC)


# One read of a partner serves all its clients for this long (as for spec.defaults.settings,
# controllers/orgsettings.py): a fleet's passes cost one GET per partner per PARTNER_TTL.
PARTNER_TTL = 5.0
_PARTNER_PREFIX = "DatadogPartner/"
_partner_rotations: dict[str, tuple[float, Rotation | None]] = {}


async def effective_rotation(kube: KubeAPI, own: Rotation | None,
                             partner: str | None) -> tuple[Rotation, str]:
    """The client's own ``spec.credentials.rotation``, else its DatadogPartner's
    ``spec.defaults.credentials.rotation``, else none (on demand only); and whose it is."""
    if own is not None:
        return own, "spec.credentials.rotation"
    if partner and partner.startswith(_PARTNER_PREFIX):
        seen = _partner_rotations.get(partner)
        if seen is None or time.monotonic() - seen[0] >= PARTNER_TTL:
            body = await get_partner(kube, partner[len(_PARTNER_PREFIX):])
            found: Rotation | None = None
            with contextlib.suppress(pydantic.ValidationError):  # its own status says why
                spec = DatadogPartnerSpec.model_validate((body or {}).get("spec") or {})
                found = spec.defaults.credentials.rotation \
                    if spec.defaults and spec.defaults.credentials else None
            seen = (time.monotonic(), found)
            _partner_rotations[partner] = seen
        if seen[1] is not None:
            return seen[1], f"{partner} spec.defaults.credentials.rotation"
    return Rotation(), "none (on demand only)"


def record_next_rotation(kind: str, namespace: str, name: str, found: Plan | None) -> None:
    """``ddmsp_key_next_rotation_timestamp_seconds`` of the operator's own key."""
    metrics.set_next_rotation(kind, namespace, name, "application",
                              found.next_rotation if found else None)


def _put(sa: dict[str, Any], key: str, value: Any) -> None:
    """Set a status field, or clear it (only when present: no write for nothing)."""
    if value:
        sa[key] = value
    elif sa.get(key) is not None:
        sa[key] = None


def mirror(record: dict[str, Any], data: dict[str, str]) -> None:
    """Status follows the Secret's IDs and times (it may have been lost with a re-applied
    object, or be behind a crash): the Secret is the durable record."""
    sa = record.get("serviceAccount")
    if not isinstance(sa, dict):
        if not data.get(SA_ID_KEY):
            return
        sa = record["serviceAccount"] = {}
    if data.get(SA_ID_KEY):
        sa["id"] = data[SA_ID_KEY]
        sa.setdefault("email", service_account_email(str(record.get("publicId") or "")))
    if data.get(BOOTSTRAP_ID_KEY):
        sa["bootstrapKeyId"] = data[BOOTSTRAP_ID_KEY]
    if data.get(APP_KEY_ID_KEY):
        sa["applicationKeyId"] = data[APP_KEY_ID_KEY]
        sa.setdefault("handedOverAt", now_rfc3339())
        if data.get(CREATED_AT_KEY):
            sa["applicationKeyCreatedAt"] = data[CREATED_AT_KEY]
        _put(sa, "previousApplicationKeyId", data.get(PREVIOUS_ID_KEY))
        _put(sa, "previousRevokeAt", data.get(PREVIOUS_REVOKE_KEY))
        if data.get(ROTATE_NOW_KEY):
            sa["rotateNowHandled"] = data[ROTATE_NOW_KEY]


class KeyHandOver:
    """Runs the hand-over for the client org ``record`` of one DatadogClientOrg."""

    def __init__(self, ctx: ReconcileContext, record: dict[str, Any], site_client: Any,
                 labels: dict[str, str], keep_bootstrap: bool, settle_seconds: float,
                 rotation: Rotation | None = None, rotate_now: str | None = None) -> None:
        self.ctx = ctx
        self.rotation = rotation or Rotation()
        self.rotate_now = rotate_now
        self.record = record
        self.client_for = site_client  # Credentials -> DatadogClient
        self.labels = labels
        self.keep_bootstrap = keep_bootstrap
        self.settle = settle_seconds
        self.ns = ctx.obj.namespace
        self.secret = str(record["credentialsSecret"])
        self.public_id = str(record["publicId"])
        self.email = service_account_email(self.public_id)
        # The Secret as this pass last read or wrote it (every write answers with it):
        # the pass is its only writer, so reading it back after each step is not needed.
        self._known: dict[str, str] | None = None
        # The org as the newly swapped-in key read it (its proof): the pass's observe right
        # after the hand-over reads it from here instead of asking Datadog again
        self.proven_org: Org | None = None
        # The hand-over's steps done in this pass, told in one event when the pass ends
        # (one event instead of one per step: a fleet's first passes write enough).
        self._steps: list[tuple[str, str]] = []

    # ------------------------------------------------------------ helpers
    @property
    def sa(self) -> dict[str, Any]:
        sa = self.record.get("serviceAccount")
        if not isinstance(sa, dict):
            sa = {}
            self.record["serviceAccount"] = sa
        return sa

    async def _data(self) -> dict[str, str]:
        """The Secret's data: read (and its owner checked) once per pass, then as each of
        this pass's writes left it."""
        if self._known is not None:
            return dict(self._known)
        found = await self.ctx.kube.read_secret(self.ns, self.secret)
        if found is None:
            raise Blocked("CredentialsLost", f"Secret {self.ns}/{self.secret} with the client "
                          "org's keys is missing: restore it from your backup")
        have = dict((found.metadata and found.metadata.labels) or {})
        owner = self.labels.get("ddmsp.io/owner-name")
        if have.get("ddmsp.io/owner-name") != owner:
            raise Blocked("SecretNotOwned", f"Secret {self.ns}/{self.secret} does not name "
                          f"DatadogClientOrg {owner} as its owner: the operator will not "
                          "write a service account's key into it")
        self._known = decode_secret(found)
        return dict(self._known)

    async def _write(self, data: dict[str, str]) -> None:
        """Merge into the Secret ``_data`` found (a patch first, not a create answered 409)."""
        self._known = None  # should the write fail, the next step reads afresh
        self._known = await self.ctx.kube.write_secret(self.ns, self.secret, data,
                                                       self.labels, exists=True)

    def _tell(self, reason: str, message: str) -> None:
        """A step of the hand-over, told with the others in one event (``_told``)."""
        self._steps.append((reason, message))

    async def _told(self) -> None:
        """One event for this pass's steps: reason KeyHandedOver when the pass completed
        the hand-over, else its last step's; the message names every step in order."""
        if not self._steps:
            return
        steps, self._steps = self._steps, []
        reasons = [reason for reason, _ in steps]
        reason = "KeyHandedOver" if "KeyHandedOver" in reasons else reasons[-1]
        await self.ctx.event("Normal", reason, "; ".join(message for _, message in steps))

    def _dd(self, api_key: str, app_key: str) -> DatadogClient:
        creds = Credentials(api_key=SecretStr(api_key), app_key=SecretStr(app_key),
                            source=f"Secret {self.ns}/{self.secret}")
        dd: DatadogClient = self.client_for(creds)
        return dd

    # ------------------------------------------------------------ the flow
    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self._told()

    async def _run(self) -> None:
        data = await self._data()
        self._mirror(data)
        if not data.get(APP_KEY_ID_KEY):  # not handed over yet
            if not data.get(SA_ID_KEY):
                await self._find_bootstrap_key(data)
            # each guard runs while the hand-over is open, also when the Secret already
            # holds its result: recover() then closes an interrupted marker
            await self._create_service_account(data)
            data = await self._data()
            await self._create_key(data)
            data = await self._data()
            await self._prove_and_swap(data)
            data = await self._data()
            self._mirror(data)
        else:
            data = await self._rotate(data)
        if not self.keep_bootstrap:
            await self._revoke_bootstrap(data)

    # ------------------------------------------------------------ rotation
    def _interrupted(self, data: dict[str, str]) -> bool:
        """A rotation's key create began and its key is not yet in use."""
        self.ctx.guard.key = KEY_GUARD_KEY
        return bool(data.get(NEXT_APP_KEY)) or self.ctx.guard.unresolved

    async def _rotate(self, data: dict[str, str]) -> dict[str, str]:
        """Rotate when due (or finish an interrupted rotation); revoke the replaced key
        when its grace period is over. The plan comes from the Secret's record (mirrored
        into status just before), never from a status that may be stale."""
        due = plan(self.rotation, key_schedule(self.record), self.rotate_now, _now())
        if due.revoke_previous:
            data = await self._revoke_previous(data, "its grace period is over")
        if due.rotate or self._interrupted(data):
            if data.get(PREVIOUS_ID_KEY):
                # never a third key: a new rotation ends the older one's grace period
                data = await self._revoke_previous(
                    data, "a new rotation began before its grace period ended")
            await self._create_key(data)
            data = await self._data()
            await self._prove_and_swap(data)
            data = await self._data()
            self._mirror(data)
            revoke = parse_time(data.get(PREVIOUS_REVOKE_KEY))
            if data.get(PREVIOUS_ID_KEY) and (revoke is None or revoke <= _now()):
                data = await self._revoke_previous(data, "the grace period is zero")
        return data

    async def _revoke_previous(self, data: dict[str, str], why: str) -> dict[str, str]:
        """Revoke the replaced key (never the one in use), then forget it in the Secret;
        a crash in between revokes again next pass (404 counts as done)."""
        previous = data.get(PREVIOUS_ID_KEY)
        if not previous:
            return data
        if previous != data.get(APP_KEY_ID_KEY):
            dd = self._dd(data.get(API_KEY, "").strip(), data.get(APP_KEY, "").strip())
            crash_point("before-revoke-previous-service-account-key")
            with contextlib.suppress(NotFoundError):
                await dd.delete_org_application_key(previous)
            crash_point("after-revoke-previous-service-account-key")
        await self._write({PREVIOUS_ID_KEY: "", PREVIOUS_REVOKE_KEY: ""})
        data = await self._data()
        self._mirror(data)
        await self.ctx.event("Normal", "KeyRevoked",
                             f"revoked the operator's replaced application key {previous} "
                             f"({why})")
        return data

    def _mirror(self, data: dict[str, str]) -> None:
        mirror(self.record, data)

    async def _find_bootstrap_key(self, data: dict[str, str]) -> None:
        """The ID of the Secret's (bootstrap) app key among its owner's keys, by last4."""
        if self.sa.get("bootstrapKeyId") or self.sa.get("note"):
            return
        app_key = data.get(APP_KEY, "").strip()
        dd = self._dd(data.get(API_KEY, "").strip(), app_key)
        keys = await dd.list_application_keys()
        matches = [k for k in keys if k.last4 and app_key.endswith(k.last4)]
        if len(matches) == 1:
            self.sa["bootstrapKeyId"] = matches[0].id
        else:
            self.sa["note"] = (f"the bootstrap application key could not be identified "
                               f"({len(matches)} of its owner's {len(keys)} keys end like it): "
                               "it is not revoked; revoke it in Datadog by hand")
            await self.ctx.event("Warning", "BootstrapKeyUnknown", self.sa["note"])

    async def _create_service_account(self, data: dict[str, str]) -> None:
        dd = self._dd(data.get(API_KEY, "").strip(), data.get(APP_KEY, "").strip())
        kube_data = dict(data)

        async def listed() -> list[Any]:
            return list(await dd.find_service_accounts(self.email))

        async def record(sa_id: str) -> None:
            extra = {SA_ID_KEY: sa_id}
            if self.sa.get("bootstrapKeyId"):
                extra[BOOTSTRAP_ID_KEY] = str(self.sa["bootstrapKeyId"])
            await self._write(extra)
            crash_point("after-service-account-secret-write")
            kube_data.update(extra)
            self.sa.update(id=sa_id, email=self.email)

        async def recover() -> bool:
            if kube_data.get(SA_ID_KEY):
                return True
            if not self.ctx.guard.unresolved:
                return False
            found = await listed()
            if len(found) == 1 and self._settled():
                await record(found[0].id)
                await self.ctx.event("Normal", "Recovered",
                                     f"found service account {found[0].id} from an "
                                     "interrupted create; using it")
                return True
            return False

        async def nothing_created(pending: str) -> bool:
            self._wait_settle(pending, "service account")
            return not await listed()

        async def candidates() -> str:
            try:
                found = await listed()
            except Exception as exc:  # advice only
                return f"(listing service accounts failed: {type(exc).__name__})"
            ids = ", ".join(u.id for u in found) or "none"
            return f"Service accounts with email {self.email}: {ids}."

        role_ids: list[str] = []

        async def reserve() -> None:
            """Before the marker: the role the account needs exists (a refusal here is
            no create attempt)."""
            role = await dd.find_role_by_name(ADMIN_ROLE)
            if role is None:
                raise Blocked("AdminRoleMissing", f"the org has no {ADMIN_ROLE!r}: the "
                              "operator's service account needs it")
            role_ids[:] = [role.id]

        async def call() -> Any:
            crash_point("before-create-service-account")
            created = await dd.create_service_account(
                self.email, name="ddmsp operator", role_ids=role_ids)
            crash_point("after-create-service-account-call")
            return created

        async def persist(created: Any) -> None:
            await record(str(created.id))

        how = (f"If one of them is the operator's, put its ID in Secret {self.ns}/"
               f"{self.secret} under `{SA_ID_KEY}`; if none was created, allow a new attempt "
               f"with: kubectl annotate ddorg {self.ctx.obj.name} -n {self.ns} "
               "ddmsp.io/create-pending-")
        result = await self._guarded(
            "service account",
            what=f"the operator's service account in org {self.public_id}",
            call=call, persist=persist, recover=recover, candidates=candidates,
            definitely_failed=create_definitely_failed, how_to_resolve=how,
            nothing_created=nothing_created, reserve=reserve, key=SA_GUARD_KEY,
            success_recoverable=True,  # recover() reads the account's ID from the Secret
        )
        if result is not None:
            self._tell("ServiceAccountCreated",
                       f"created service account {result.id} ({self.email}, {ADMIN_ROLE}) in "
                       f"org {self.public_id}")

    async def _guarded(self, label: str, **kwargs: Any) -> Any:
        """``CreateGuard.run``; a lost answer (or a result that could not be stored) is a
        wait, not a stall: unlike an org, the operator's own account and keys are found
        in the org's own listings, which the next pass reads after the settle time (one
        account: recorded; none: created again; several: Stalled, CreationResultUnknown;
        a key nobody holds: revoked, then a new one)."""
        sent = False
        call = kwargs["call"]

        async def tracked() -> Any:
            nonlocal sent
            sent = True
            return await call()

        kwargs["call"] = tracked
        try:
            return await self.ctx.guard.run(**kwargs)
        except Blocked as blocked:
            if blocked.reason != CREATION_RESULT_UNKNOWN or not sent:
                raise
            raise Waiting("CreationResultPending",
                          f"the create of the operator's {label} got no usable answer; the "
                          f"next pass settles it from the org's own listing in "
                          f"{self.settle:.0f}s", delay=max(1.0, self.settle),
                          phase=self.ctx.obj.status.get("phase")) from None

    def _settled(self) -> bool:
        pending = self.ctx.guard.pending()
        if pending is None:
            return True
        return (datetime.now(UTC) - _parse_precise(pending[0])).total_seconds() >= self.settle

    def _wait_settle(self, pending: str, what: str) -> None:
        age = (datetime.now(UTC) - _parse_precise(pending)).total_seconds()
        if age < self.settle:
            raise Waiting("CreationResultPending",
                          f"an earlier create of the operator's {what} was interrupted; "
                          f"checking whether it happened in {self.settle - age:.0f}s",
                          delay=max(1.0, self.settle - age),
                          phase=self.ctx.obj.status.get("phase"))

    async def _create_key(self, data: dict[str, str]) -> None:
        """A key of the service account, stored under app-key-next the moment it exists."""
        sa_id = data[SA_ID_KEY]
        dd = self._dd(data.get(API_KEY, "").strip(), data.get(APP_KEY, "").strip())
        name = f"ddmsp operator ({self.ctx.obj.namespace}/{self.ctx.obj.name})"

        async def recover() -> bool:
            """A key is shown once: only the Secret can hold an earlier result."""
            return bool(data.get(NEXT_APP_KEY))

        async def nothing_created(pending: str) -> bool:
            """Keys of our own account that the Secret does not name came from a lost
            answer: nobody holds them, so they are revoked and a new one is made."""
            self._wait_settle(pending, "application key")
            known = {data.get(APP_KEY_ID_KEY), data.get(NEXT_APP_KEY_ID),
                     data.get(PREVIOUS_ID_KEY)}
            for key in await dd.list_service_account_application_keys(sa_id):
                if key.id not in known:
                    await dd.delete_service_account_application_key(sa_id, key.id)
                    await self.ctx.event("Normal", "LostKeyRevoked",
                                         f"revoked application key {key.id} of service "
                                         f"account {sa_id}: its create answer was lost")
            return True

        async def candidates() -> str:
            return ""

        async def call() -> Any:
            crash_point("before-create-service-account-key")
            created = await dd.create_service_account_application_key(sa_id, name)
            crash_point("after-create-service-account-key-call")
            return created

        async def persist(created: Any) -> None:
            await self._write({NEXT_APP_KEY: created.key.get_secret_value(),
                               NEXT_APP_KEY_ID: str(created.id)})
            crash_point("after-service-account-key-secret-write")
            self.sa["applicationKeyId"] = str(created.id)

        await self._guarded(
            "application key",
            what=f"an application key of service account {sa_id}", call=call,
            persist=persist, recover=recover, candidates=candidates,
            definitely_failed=create_definitely_failed,
            how_to_resolve="Allow a new attempt with: kubectl annotate ddorg "
            f"{self.ctx.obj.name} -n {self.ns} ddmsp.io/create-pending-",
            nothing_created=nothing_created, key=KEY_GUARD_KEY,
        )

    async def _prove_and_swap(self, data: dict[str, str]) -> None:
        """The staged key must read the org before it replaces the working one."""
        if not data.get(NEXT_APP_KEY):
            return
        dd = self._dd(data.get(API_KEY, "").strip(), data[NEXT_APP_KEY].strip())
        try:
            proven = await dd.get_org(self.public_id)
        except AuthenticationError as exc:
            raise Waiting("ServiceAccountKeyNotWorking",
                          f"the new application key {data.get(NEXT_APP_KEY_ID)} of the "
                          f"operator's service account was refused ({exc.status}) reading org "
                          f"{self.public_id}; the key in use stays in use and the check "
                          "is repeated", delay=15, phase=self.ctx.obj.status.get("phase"),
                          ) from None
        crash_point("after-service-account-key-proven")
        key_id = data[NEXT_APP_KEY_ID]
        now = _now()
        old = data.get(APP_KEY_ID_KEY)
        swap = {APP_KEY: data[NEXT_APP_KEY], APP_KEY_ID_KEY: key_id,
                NEXT_APP_KEY: "", NEXT_APP_KEY_ID: "", CREATED_AT_KEY: rfc3339(now)}
        if old and old != key_id:  # a rotation: the replaced key works for the grace period
            swap[PREVIOUS_ID_KEY] = old
            swap[PREVIOUS_REVOKE_KEY] = rfc3339(revoke_at(self.rotation, now))
        if self.rotate_now:  # one Secret write: a crash never rotates twice for one value
            swap[ROTATE_NOW_KEY] = self.rotate_now
        await self._write(swap)
        crash_point("after-service-account-key-swap")
        self.proven_org = proven  # the org as the key in use now read it
        if old and old != key_id:
            self.sa.update(applicationKeyId=key_id, lastRotation=rfc3339(now))
            await self.ctx.event("Normal", "KeyRotated",
                                 f"the operator now uses application key {key_id} of service "
                                 f"account {data.get(SA_ID_KEY)} (Secret {self.secret}); the "
                                 f"replaced key {old} is revoked at "
                                 f"{swap[PREVIOUS_REVOKE_KEY]}")
            return
        self.sa.update(applicationKeyId=key_id, handedOverAt=now_rfc3339())
        self._tell("KeyHandedOver",
                   f"the operator now uses application key {key_id} of service account "
                   f"{data.get(SA_ID_KEY)} (Secret {self.secret})")

    async def _revoke_bootstrap(self, data: dict[str, str]) -> None:
        key_id = self.sa.get("bootstrapKeyId")
        if not key_id or self.sa.get("bootstrapKeyRevoked") or not data.get(APP_KEY_ID_KEY):
            return
        if key_id == data.get(APP_KEY_ID_KEY):
            return  # never revoke the key in use
        dd = self._dd(data.get(API_KEY, "").strip(), data.get(APP_KEY, "").strip())
        crash_point("before-revoke-bootstrap-key")
        with contextlib.suppress(NotFoundError):  # already gone (by hand, or a past pass)
            await dd.delete_org_application_key(str(key_id))
        self.sa.update(bootstrapKeyRevoked=True, bootstrapKeyRevokedAt=now_rfc3339())
        self._tell("BootstrapKeyRevoked",
                   f"revoked the bootstrap application key {key_id} (the org create's, owned "
                   "by a person)")
