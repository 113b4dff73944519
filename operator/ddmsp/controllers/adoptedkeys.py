"""An adopted org handed over to the operator's own service account (issue 21, item 1).

Why not hand over in place: the adopt Secret (``spec.adopt.credentialsSecretRef``) is the
user's, and its keys may be used by anyone else; the operator never writes its data and
never revokes its keys. Instead, for an adopted org under Full management (unless
``spec.credentials.useAdoptSecret``):

1. a service account with the operator's email that the operator's Secret does not name
   (another DatadogClientOrg's, another cluster's) stops the hand-over before anything is
   written: never two operator accounts in one org, never a key of someone else's account
   revoked by a recovery. The org stays driven by the adopt Secret, status says why
   (``serviceAccount.skipped``, ``note``), a spec change or ``ddmsp.io/retry`` tries again.
   The same when the adopt keys may not make the account (HandOverNotPermitted: the org
   was Ready with them and stays so);
2. the operator's own credentials Secret (``adopted_secret_name``, labelled as this
   object's, like a created org's) receives a copy of the adopt Secret's keys: the bootstrap
   keys, exactly what a created org's Secret holds before its hand-over;
3. ``KeyHandOver`` runs on that Secret unchanged (crash-safe creates through the engine's
   ``CreateGuard``, the Secret as durable record), with the bootstrap key always kept;
4. from then on the operator's Secret drives the org (status ``credentialsSecret``;
   ``adoptSecret`` names the user's), rotation and escrow work as for a created org, an
   event says that the adopt Secret's application key is no longer used, and the
   operator's finalizer on the adopt Secret is released.

The API key is the exception: it is copied, not replaced (API keys belong to the org, not
to a person, so they survive the person's departure); the event says so.
"""

from __future__ import annotations

import logging
from typing import Any

from ddmsp.controllers.datadog_access import (
    API_KEY,
    APP_KEY,
    ORG_ID_KEY,
    ORG_NAME_KEY,
    SITE_KEY,
)
from ddmsp.controllers.keyescrow import KeyEscrow, has_keys, meta_of
from ddmsp.controllers.serviceaccount import (
    APP_KEY_ID_KEY,
    SA_GUARD_KEY,
    SA_ID_KEY,
    KeyHandOver,
    mirror,
    service_account_email,
)
from ddmsp.datadog import AuthenticationError, DatadogClient
from ddmsp.reconcile.external import ReconcileContext
from ddmsp.reconcile.kube import decode_secret
from ddmsp.reconcile.managed import RETRY_ANNOTATION
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.resources.apikey import Rotation
from ddmsp.resources.clientorg import DEFAULT_SUFFIX, DatadogClientOrgSpec

log = logging.getLogger(__name__)

OWN_SUFFIX = "-ddmsp"  # fits: the default name keeps room for "-parent", unused when adopting
OWNER_NAME = "ddmsp.io/owner-name"


def adopted_secret_name(name: str, spec: DatadogClientOrgSpec) -> str:
    """The operator's own credentials Secret of an adopted org: spec.credentialsSecretName,
    else ``<name>-datadog-credentials`` (``-ddmsp`` appended when the adopt Secret already
    has that name: a common choice, and one Secret cannot be both)."""
    if spec.credentials_secret_name:
        return spec.credentials_secret_name
    default = f"{name}{DEFAULT_SUFFIX}"
    adopt = spec.adopt.credentials_secret_ref.name if spec.adopt is not None else None
    return default + OWN_SUFFIX if default == adopt else default


def skip_token(generation: int, annotations: dict[str, str]) -> str:
    return f"{generation}/{annotations.get(RETRY_ANNOTATION, '')}"


def handed_over(data: dict[str, str] | None, owner: str, labels: dict[str, str] | None,
                public_id: str) -> bool:
    """The operator's Secret holds a proven service-account key of this org."""
    return bool(data and has_keys(data) and data.get(APP_KEY_ID_KEY)
                and (labels or {}).get(OWNER_NAME) == owner
                and data.get(ORG_ID_KEY, "").strip() == public_id)


class AdoptedHandOver:
    """Steps 1 to 4 of the module docstring for one adopted org; one pass, resumable."""

    def __init__(self, ctx: ReconcileContext, record: dict[str, Any], site_client: Any,
                 adopt_dd: DatadogClient, adopt_data: dict[str, str], secret: str,
                 labels: dict[str, str], site: str, settle_seconds: float, escrow: KeyEscrow,
                 rotation: Rotation | None = None, rotate_now: str | None = None) -> None:
        self.ctx = ctx
        self.record = record
        self.client_for = site_client
        self.adopt_dd = adopt_dd
        self.adopt_data = adopt_data
        self.secret = secret
        self.labels = labels
        self.site = site
        self.settle = settle_seconds
        self.escrow = escrow
        self.rotation = rotation
        self.rotate_now = rotate_now
        self.ns = ctx.obj.namespace
        self.public_id = str(record["publicId"])
        self.adopt_secret = str(record.get("adoptSecret") or record["credentialsSecret"])

    @property
    def sa(self) -> dict[str, Any]:
        sa = self.record.get("serviceAccount")
        if not isinstance(sa, dict):
            sa = self.record["serviceAccount"] = {}
        return sa

    async def _skip(self, reason: str, note: str) -> None:
        """Not handed over now: the adopt Secret keeps driving the org; said once."""
        token = skip_token(self.ctx.obj.generation, self.ctx.obj.annotations)
        told = self.sa.get("skipped") == reason and self.sa.get("note") == note
        self.sa.update(skipped=reason, skippedFor=token, note=note)
        if not told:
            await self.ctx.event("Warning", reason, note)

    def _clear_skip(self) -> None:
        for key in ("skipped", "skippedFor", "note"):
            if self.sa.get(key) is not None:
                self.sa[key] = None

    async def run(self) -> None:
        found = await self.ctx.kube.read_secret(self.ns, self.secret)
        data = decode_secret(found) if found is not None else {}
        owner = self.labels[OWNER_NAME]
        if found is not None and (meta_of(found).labels or {}).get(OWNER_NAME) != owner:
            await self._skip("SecretNotOwned", (
                f"Secret {self.ns}/{self.secret}, where the operator would keep its own key "
                f"for the adopted org {self.public_id}, exists but its labels do not name this "
                "DatadogClientOrg as its owner: the org stays driven by the adopt Secret "
                f"{self.adopt_secret}. Delete or rename that Secret, or label it: kubectl "
                f"label secret {self.secret} -n {self.ns} {OWNER_NAME}={owner}"))
            return
        named = data.get(ORG_ID_KEY, "").strip()
        if named and named != self.public_id:
            await self._skip("SecretConflict", (
                f"Secret {self.ns}/{self.secret} holds the keys of org {named}, not of the "
                f"adopted org {self.public_id}: the operator will not overwrite them; the org "
                f"stays driven by the adopt Secret {self.adopt_secret}"))
            return
        if not data.get(SA_ID_KEY):
            if found is None and await self._restore_from_escrow():
                return
            self.ctx.guard.key = SA_GUARD_KEY
            if not self.ctx.guard.unresolved and await self._someone_elses_account():
                return
        self._clear_skip()
        if not data.get(APP_KEY_ID_KEY):  # the bootstrap keys (again: the user may rotate)
            await self.ctx.kube.write_secret(self.ns, self.secret, {
                API_KEY: self.adopt_data.get(API_KEY, "").strip(),
                APP_KEY: self.adopt_data.get(APP_KEY, "").strip(),
                SITE_KEY: self.site, ORG_ID_KEY: self.public_id,
                ORG_NAME_KEY: str(self.record.get("name") or "")}, self.labels)
        self.record["credentialsSecret"] = self.secret
        try:
            await KeyHandOver(self.ctx, self.record, self.client_for, self.labels, True,
                              self.settle, self.rotation, self.rotate_now).run()
        except (AuthenticationError, Blocked) as exc:
            # the adopt keys may not do it (their owner is no admin, or the org has no
            # Datadog Admin Role): the org was Ready with them and stays so, said why
            if not (isinstance(exc, AuthenticationError) or exc.reason == "AdminRoleMissing"):
                raise
            now = await self.ctx.kube.read_secret_data(self.ns, self.secret) or {}
            if now.get(SA_ID_KEY):
                raise  # a hand-over under way: its own outcome, as for a created org
            # nothing of the operator's was made: the copy of the adopt keys goes again
            await self.ctx.kube.write_secret(self.ns, self.secret, {API_KEY: "", APP_KEY: ""},
                                             self.labels, exists=True)
            await self._not_permitted(exc)
            return
        await self._done()

    async def _not_permitted(self, exc: Exception) -> None:
        why = (f"Datadog answered {exc.status}" if isinstance(exc, AuthenticationError)
               else str(exc))
        await self._skip("HandOverNotPermitted", (
            f"the keys of the adopt Secret {self.adopt_secret} may not create the operator's "
            f"service account in org {self.public_id} ({why}): the org stays driven by "
            "them. Put keys of a user with the Datadog Admin Role in that Secret, or set "
            f"spec.credentials.useAdoptSecret: true; then: kubectl annotate ddorg "
            f"{self.ctx.obj.name} -n {self.ns} {RETRY_ANNOTATION}=$(date +%s) --overwrite"))

    async def _someone_elses_account(self) -> bool:
        """Step 1: one listing with the adopt keys, only before the first create."""
        email = service_account_email(self.public_id)
        try:
            accounts = await self.adopt_dd.find_service_accounts(email)
        except AuthenticationError as exc:
            await self._not_permitted(exc)
            return True
        if not accounts:
            return False
        ids = ", ".join(a.id for a in accounts)
        await self._skip("ServiceAccountExists", (
            f"org {self.public_id} already has the operator's service account ({email}: "
            f"{ids}), which Secret {self.ns}/{self.secret} does not name (another "
            "DatadogClientOrg, or another cluster, manages this org, or did); a second one is "
            f"never made. The org stays driven by the adopt Secret {self.adopt_secret}. If "
            "nothing uses that account, disable it in Datadog; if it was this object's, "
            f"restore Secret {self.secret} from your backup or escrow; then: kubectl annotate "
            f"ddorg {self.ctx.obj.name} -n {self.ns} {RETRY_ANNOTATION}=$(date +%s) "
            "--overwrite"))
        return True

    async def _restore_from_escrow(self) -> bool:
        """This object's own hand-over, kept in escrow when it was deleted (same namespace,
        or approved by a cluster admin as for created orgs), is taken back rather than
        skipped for ServiceAccountExists. Never the adopt Secret's keys: only a record of
        a finished hand-over (app-key-id) whose key is not the adopt Secret's."""
        found = [e for e in await self.escrow.find_source(self.ns, self.ctx.obj.name, "client")
                 if e.public_id == self.public_id and e.data.get(APP_KEY_ID_KEY)
                 and e.data.get(APP_KEY, "").strip() != self.adopt_data.get(APP_KEY, "").strip()]
        if len(found) != 1:
            return False
        kept = found[0]
        same = bool(kept.source_namespace_uid) and \
            kept.source_namespace_uid == await self.ctx.kube.namespace_uid(self.ns)
        if not (same or kept.restore_approved):
            return False
        await self.ctx.kube.write_secret(self.ns, self.secret, kept.data, self.labels)
        await self.ctx.event("Normal", "KeysRestored",
                             f"the operator's keys of the adopted org {self.public_id} were "
                             f"restored from escrow Secret {self.escrow.namespace}/{kept.name} "
                             f"into Secret {self.secret}")
        self.record["credentialsSecret"] = self.secret
        mirror(self.record, kept.data)
        return True

    async def _done(self) -> None:
        """Step 4, once the operator's Secret holds the proven key."""
        if self.sa.get("handedOverAt") and self.sa.get("applicationKeyId"):
            await release_adopt_secret(self.ctx, self.escrow, self.record, self.secret,
                                       self.adopt_secret)


async def release_adopt_secret(ctx: ReconcileContext, escrow: KeyEscrow,
                               record: dict[str, Any], secret: str, adopt_secret: str) -> None:
    """Tell the user that the adopt Secret's key is no longer used, and take the operator's
    finalizer off that Secret (its keys are the user's business from now on)."""
    sa = record.get("serviceAccount") or {}
    ns = ctx.obj.namespace
    adopt_key = sa.get("bootstrapKeyId")
    which = f"application key {adopt_key}" if adopt_key else "application key"
    await ctx.event(
        "Normal", "AdoptSecretUnused",
        f"the operator drives the adopted org {record.get('publicId')} with application key "
        f"{sa.get('applicationKeyId')} of its service account {sa.get('id')} (Secret "
        f"{ns}/{secret}); the {which} of Secret {ns}/{adopt_secret} "
        "(spec.adopt.credentialsSecretRef) is no longer used by the operator, which never "
        "revokes it: revoke it in Datadog yourself if nothing else uses it. That Secret's "
        f"API key was copied into Secret {secret} and is still used (API keys belong to the "
        "org, not to a person): replace it there before revoking it")
    await escrow.unguard(ns, adopt_secret)
