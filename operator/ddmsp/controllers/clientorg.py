"""DatadogClientOrg: the external client for one MSP client's org(s).

ChildOrg: create one child org under the partner. SpinOff (Datadog's MSP guide): create
org A under the partner, spin A off, wait for the partner's DPN registration of A, then
create the client's org C under A with A's own keys. Every org create goes through the
engine's crash-safe ``CreateGuard``; keys go to a Secret before anything else.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiException

from ddmsp import API_GROUP
from ddmsp.config import OperatorSettings
from ddmsp.controllers.adoptedkeys import (
    AdoptedHandOver,
    adopted_secret_name,
    handed_over,
    release_adopt_secret,
    skip_token,
)
from ddmsp.controllers.costrefresh import CostRefresher
from ddmsp.controllers.datadog_access import (
    API_KEY,
    APP_KEY,
    CREDENTIALS_MAX_AGE,
    ORG_ID_KEY,
    ORG_NAME_KEY,
    SITE_KEY,
    DatadogClients,
    DatadogConnector,
    create_definitely_failed,
    credentials_from_secret,
)
from ddmsp.controllers.keycheck import KeyInUse, keys_refused, keys_valid
from ddmsp.controllers.keyescrow import KeyEscrow, has_keys, meta_of
from ddmsp.controllers.opsconnection import sync_ops_connection
from ddmsp.controllers.orgsettings import (
    SettingsPlan,
    apply_settings,
    effective_settings,
    observe_settings,
    partner_defaults,
)
from ddmsp.controllers.partners import resolve_partner
from ddmsp.controllers.serviceaccount import (
    APP_KEY_ID_KEY,
    KeyHandOver,
    effective_rotation,
    hand_over_needed,
    mirror,
    record_next_rotation,
    rotation_needed,
    rotation_plan,
)
from ddmsp.datadog import (
    AuthenticationError,
    ConflictError,
    CreatedOrg,
    Credentials,
    DatadogClient,
    DatadogError,
    ForbiddenError,
    NotFoundError,
    Org,
    ValidationError,
)
from ddmsp.datadog.errors import org_not_accessible
from ddmsp.failpoints import crash_point
from ddmsp.reconcile.claims import Claim
from ddmsp.reconcile.conditions import now_rfc3339
from ddmsp.reconcile.deletion import FINALIZER
from ddmsp.reconcile.external import Observation, ReconcileContext
from ddmsp.reconcile.kube import decode_secret
from ddmsp.reconcile.kubeerrors import refusal
from ddmsp.reconcile.managed import ManagedObject
from ddmsp.reconcile.outcomes import Blocked, Waiting
from ddmsp.resources.apikey import ROTATE_NOW_ANNOTATION, Rotation
from ddmsp.resources.clientorg import CLIENT_ORG, DatadogClientOrgSpec

log = logging.getLogger(__name__)

CLIENT = "clientOrg"
PARENT = "parentOrg"


def client_secret_name(name: str, spec: DatadogClientOrgSpec) -> str:
    return spec.credentials_secret_name or f"{name}-datadog-credentials"


def parent_secret_name(name: str, spec: DatadogClientOrgSpec) -> str:
    return f"{client_secret_name(name, spec)}-parent"


def secret_labels(owner: str, role: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "ddmsp",
        f"{API_GROUP}/owner-kind": CLIENT_ORG.kind,
        f"{API_GROUP}/owner-name": owner,
        f"{API_GROUP}/org-role": role,
    }


SPUN_OFF_ANNOTATION = f"{API_GROUP}/spun-off"
# spec.credentialsSecretName is immutable (admission), even while no org exists yet
RECREATE_WITH_OTHER_SECRET = ("delete this DatadogClientOrg (it has created no org yet) and "
                              "create it again with another spec.credentialsSecretName")


def org_is_standalone(org: Org) -> bool:
    """Whether an org's own answer shows it left a partner's hierarchy. Datadog documents
    that a spin-off places the org "on a 30-day trial"; ddmsp never creates trial orgs, so
    a trial subscription on an org whose spin-off was requested is read as spun off."""
    subscription = (org.subscription.type or "") if org.subscription else ""
    return bool(org.trial) or subscription.lower() == "trial"


def _key_secrets(obj: ManagedObject) -> dict[str, tuple[str, str | None]]:
    """Secret name -> (org role, recorded public ID or None) of every Secret that may hold
    this object's org keys: the ones status names, and the spec's own names (keys written
    by a create whose status write was lost)."""
    found: dict[str, tuple[str, str | None]] = {}
    for key, role in ((CLIENT, "client"), (PARENT, "parent")):
        record = obj.status.get(key)
        if isinstance(record, dict) and record.get("credentialsSecret"):
            found[str(record["credentialsSecret"])] = (role, str(record.get("publicId") or "")
                                                       or None)
    spec: DatadogClientOrgSpec | None = obj.spec
    if spec is not None and spec.adopt is not None:  # the operator's own (adoptedkeys.py)
        found.setdefault(adopted_secret_name(obj.name, spec), ("client", None))
    if spec is not None and spec.adopt is None:
        found.setdefault(client_secret_name(obj.name, spec), ("client", None))
        if spec.provisioning == "SpinOff":
            found.setdefault(parent_secret_name(obj.name, spec), ("parent", None))
    return found


def _org_claim(public_id: str) -> Claim:
    return Claim(
        f"org {public_id}", f"Datadog org {public_id}",
        "Only one DatadogClientOrg manages an org. To move it to this one, delete the older "
        "one (the org stays in Datadog, its keys go to escrow; what names it in orgRef must "
        "be pointed at this one first): this one then takes over. Otherwise delete this one "
        "(deleting a DatadogClientOrg changes nothing in Datadog)")


def _parse_precise(stamp: str) -> datetime:
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)  # unreadable marker: treat as old


class ClientOrgConnector(DatadogConnector):
    """Builds a ``ClientOrgExternal`` per reconcile; shares the Datadog client pool and,
    with every Datadog kind, the one translation of Datadog's errors."""

    applied_keys: tuple[str, ...] = ()  # an org keeps no status.drift: Ready names a difference
    identity_keys: tuple[str, ...] = ()  # dependents follow its readiness, not its IDs

    def __init__(self, settings: OperatorSettings, clients: DatadogClients,
                 refresher: CostRefresher | None = None) -> None:
        super().__init__(settings, clients)
        self.refresher = refresher  # cost and usage come from it (status.cost, status.usage)
        # Key Secrets found being deleted and escrowed (namespace, name, uid): said once;
        # and parents' Secrets guarded (namespace, name, "parent"): read once.
        self.escrowed: set[tuple[str, str, str]] = set()
        # When each object's key rotation or revocation is due (apikey.ScheduledReconciler)
        self.wake_at: dict[tuple[str, str], float] = {}

    async def connect(self, ctx: ReconcileContext) -> ClientOrgExternal:
        external = ClientOrgExternal(ctx, self.settings, self.clients, self.refresher)
        external.escrowed = self.escrowed
        external.wake_at = self.wake_at
        if not ctx.obj.deleting:
            await sync_ops_connection(ctx)  # spec.opsOrgConnection: controllers/opsconnection
        return external

    async def release(self, ctx: ReconcileContext) -> None:
        """The org object goes (its dependents have finished): copy the keys of every org
        it made or adopted to escrow, then release the Secrets' finalizers. An event (on
        the escrow Secret too: a namespace being deleted takes no new events) says where
        the keys went. Datadog orgs themselves cannot be deleted: they stay."""
        obj, kube, ns = ctx.obj, ctx.kube, ctx.obj.namespace
        escrow = KeyEscrow(kube, self.settings.key_escrow_namespace)
        for secret, (role, public_id) in _key_secrets(obj).items():
            found = await kube.read_secret(ns, secret)
            data = decode_secret(found) if found is not None else {}
            labels = dict((meta_of(found).labels if found is not None else None) or {})
            recorded = public_id is not None
            ours = recorded or labels.get(f"{API_GROUP}/owner-name") == obj.name
            pid = public_id or data.get(ORG_ID_KEY, "").strip()
            if ours and pid and has_keys(data) and not data.get(APP_KEY_ID_KEY):
                held = await escrow.find_org(pid, ns)
                if held is not None and held.data.get(APP_KEY_ID_KEY):
                    # a service account's key in escrow (one escrow per org) is never
                    # replaced by keys without one (an adopt Secret's: the user's own)
                    ours = False
            if ours and pid and has_keys(data):
                kept = await escrow.deposit(
                    data={**data, ORG_ID_KEY: pid}, source_namespace=ns,
                    source_name=obj.name, source_secret=secret, role=role)
                where = f"Secret {escrow.namespace}/{kept}"
                message = (f"the keys of the {role} org {pid} (it lives on in Datadog) are kept "
                           f"in escrow {where}; Secret {ns}/{secret} is released. Applying "
                           f"DatadogClientOrg {ns}/{obj.name} again re-attaches that org "
                           "(docs/operations.md, \"Keys in escrow\")")
                kind = "Normal"
                if escrow.namespace == ns:  # the escrow would go with the client's namespace
                    kind = "Warning"
                    message += (f". The escrow namespace is this client's own: deleting "
                                f"namespace {ns} deletes these keys too. Copy them, and give "
                                "the operator an escrow namespace of its own "
                                "(--escrow-namespace, DDMSP_ESCROW_NAMESPACE)")
                log.log(logging.WARNING if kind == "Warning" else logging.INFO,
                        "DatadogClientOrg %s/%s: %s", ns, obj.name, message)
                await ctx.event(kind, "KeysEscrowed", message)
                await kube.post_event(
                    {"apiVersion": "v1", "kind": "Secret",
                     "metadata": {"name": kept, "namespace": escrow.namespace}},
                    kind, "KeysEscrowed",
                    f"keys of the {role} org {pid} of DatadogClientOrg {ns}/{obj.name} "
                    f"(from Secret {ns}/{secret})")
            elif recorded and pid and await escrow.find_org(pid, ns) is None:
                await ctx.event("Warning", "KeysLost",
                                f"the keys of the {role} org {pid} are neither in Secret "
                                f"{ns}/{secret} nor in escrow: restore them from a backup "
                                "if that org is still needed")
            if found is not None and not await escrow.unguard(ns, secret):
                raise Waiting("ObjectChanged", f"Secret {ns}/{secret} changed while it was "
                              "being released; again", delay=1, phase="Deleting")
        # an adopted org's own Secret (spec.adopt.credentialsSecretRef) no longer in use:
        # only our finalizer is taken off, its keys are the user's (never escrowed here)
        adopt = str((obj.status.get(CLIENT) or {}).get("adoptSecret") or "")
        if adopt and adopt not in _key_secrets(obj) and not await escrow.unguard(ns, adopt):
            raise Waiting("ObjectChanged", f"Secret {ns}/{adopt} changed while it was "
                          "being released; again", delay=1, phase="Deleting")

    # The status records that name this object's orgs: its claims follow them.
    claim_status_keys = (CLIENT, PARENT)

    def claims(self, obj: ManagedObject) -> list[str]:
        """The Secrets that hold this client's keys, and every Datadog org it manages: the
        adopted one, and each org its status records (created by it, or re-attached). Two
        objects naming one of them would overwrite each other's keys or fight over the org
        (its name, settings, SAML): the younger one waits, told which object holds it. An
        ObserveOnly object writes nothing to its org, so it claims none: it may watch an org
        another object manages."""
        spec: DatadogClientOrgSpec = obj.spec
        observer = obj.management_policy == "ObserveOnly"
        found: list[str] = []
        if spec.adopt is not None:
            if not observer:  # and the Secret that may take the operator's own key
                found.append(_org_claim(spec.adopt.public_id))
                found.append(f"Secret {obj.namespace}/{adopted_secret_name(obj.name, spec)}")
        else:
            names = [client_secret_name(obj.name, spec)]
            if spec.provisioning == "SpinOff":
                names.append(parent_secret_name(obj.name, spec))
            found += [f"Secret {obj.namespace}/{n}" for n in names]
        for key in () if observer else (CLIENT, PARENT):
            record = obj.status.get(key)
            public_id = str(record.get("publicId") or "") if isinstance(record, dict) else ""
            if public_id and _org_claim(public_id) not in found:
                found.append(_org_claim(public_id))
        return found


class ClientOrgExternal:
    """observe/create/update for one DatadogClientOrg (orgs are never deleted)."""

    def __init__(
        self, ctx: ReconcileContext, settings: OperatorSettings, clients: DatadogClients,
        refresher: CostRefresher | None = None,
    ) -> None:
        self.ctx = ctx
        self.refresher = refresher
        self.obj = ctx.obj
        self.spec: DatadogClientOrgSpec = ctx.obj.spec
        self.settings = settings
        self.clients = clients
        self.escrowed: set[tuple[str, str, str]] = set()
        self.wake_at: dict[tuple[str, str], float] = {}
        self._rotation = Rotation()  # of the operator's own key (spec, else the partner's)
        self._org_plan = SettingsPlan()  # spec.settings that differ (controllers/orgsettings)
        self._name_differs = False
        # an adopted org still driven by the adopt Secret (not handed over: adoptedkeys.py)
        self._adopt_bootstrap = False
        self._adopt_found: Any = None  # the adopt Secret, when this pass read it already
        # The org as this pass's key hand-over read it with the key now in the Secret (the
        # new key's proof): the observe right after reads it from here
        self._answered_org: Org | None = None

    # ---------------------------------------------------------------- helpers
    async def _guard_parent_keys(self) -> None:
        """A Ready SpinOff org no longer reads its parent's keys: their Secret is guarded
        once per process here (a namespace deletion must not take them first)."""
        parent = self._record(PARENT)
        secret = str((parent or {}).get("credentialsSecret") or "")
        memo = (self.obj.namespace, secret, "parent")
        if not secret or memo in self.escrowed:
            return
        found = await self.ctx.kube.read_secret(self.obj.namespace, secret)
        if found is not None and has_keys(decode_secret(found)):
            await self._guard_keys(found, "parent")
            self.escrowed.add(memo)

    def _escrow(self) -> KeyEscrow:
        return KeyEscrow(self.ctx.kube, self.settings.key_escrow_namespace)

    async def _guard_keys(self, found: Any, what: str) -> None:
        """Hold the Secret with a living org's keys (keyescrow.py); one that is being
        deleted meanwhile stays readable, its keys are copied to escrow, and a warning
        says what happens."""
        meta = meta_of(found)
        if meta.deletion_timestamp is None:
            await self._escrow().guard(found)  # no call when it is held already
            return
        memo = (self.obj.namespace, str(meta.name), str(meta.uid))
        if memo in self.escrowed or FINALIZER not in (meta.finalizers or []):
            return  # told already; or going without our finalizer: nothing holds it
        self.escrowed.add(memo)
        data = decode_secret(found)
        pid = data.get(ORG_ID_KEY, "").strip()
        if not (pid and has_keys(data)):
            return
        kept = await self._escrow().deposit(
            data=data, source_namespace=self.obj.namespace, source_name=self.obj.name,
            source_secret=str(meta.name), role=what)
        await self.ctx.event(
            "Warning", "KeysSecretDeleting",
            f"Secret {self.obj.namespace}/{meta.name} with the keys of the {what} org {pid} "
            f"is being deleted while this DatadogClientOrg uses it: it stays (finalizer "
            f"{FINALIZER}) until this object is deleted; a copy is in escrow Secret "
            f"{self.settings.key_escrow_namespace}/{kept}")

    def _dd(self, credentials: Credentials) -> DatadogClient:
        return self.clients.get(credentials, self.spec.site)

    async def _partner(self) -> Credentials:
        """The partner's keys, only where the partner policy allows this namespace."""
        choice = await resolve_partner(self.ctx.kube, self.settings, self.obj.namespace,
                                       self.spec)
        if self.obj.status.get("partner") != choice.key:
            self.obj.status["partner"] = choice.key
        return choice.credentials

    async def _org_credentials(self, record: dict[str, Any], what: str) -> Credentials:
        secret = record.get("credentialsSecret")
        if not secret:
            raise Blocked("CredentialsLost", f"status names no Secret for the {what} org")
        found = await self.ctx.kube.read_secret(self.obj.namespace, secret)
        data = decode_secret(found) if found is not None else None
        if found is not None and has_keys(data):
            await self._guard_keys(found, what)
        if data is None or not data.get(API_KEY) or not data.get(APP_KEY):
            raise Blocked(
                "CredentialsLost",
                f"Secret {self.obj.namespace}/{secret} with the keys of the {what} org "
                f"{record.get('publicId')} is missing or empty: restore it from your backup "
                f"(keys {API_KEY}, {APP_KEY}); the operator never creates a second org",
            )
        return await credentials_from_secret(
            self.ctx.kube, self.obj.namespace, secret, f"{what} org keys"
        )

    def _record(self, key: str) -> dict[str, Any] | None:
        record = self.obj.status.get(key)
        return record if isinstance(record, dict) and record.get("publicId") else None

    async def _phase(self, phase: str) -> None:
        if self.obj.status.get("phase") != phase:
            self.obj.status["phase"] = phase
            await self.ctx.save_status()

    # ---------------------------------------------------------------- observe
    async def observe(self) -> Observation:
        if self.spec.adopt is not None:
            made = [r for r in (self._record(CLIENT), self._record(PARENT))
                    if r and not r.get("adopted")]
            if made:
                raise Blocked(
                    "AdoptAfterCreate",
                    f"spec.adopt was added, but this object already created org "
                    f"{made[0]['publicId']} (status): it will not switch to another org. "
                    "Remove spec.adopt (kubectl patch ddorg NAME --type=json -p "
                    "'[{\"op\":\"remove\",\"path\":\"/spec/adopt\"}]'), or create a new "
                    "DatadogClientOrg to adopt that org",
                )
            self._adopt_bootstrap = not await self._adopted_handed_over()
            if self._adopt_bootstrap:
                return await self._observe_adopted(self._adopt_found)
            # handed over: the operator's own Secret drives it, as for a created org
        record = self._record(CLIENT)
        if record is None:
            return Observation(exists=False, phase=self._pending_phase(),
                               message="the client's org does not exist yet")
        credentials = await self._org_credentials(record, "client")
        await self._guard_parent_keys()
        dd = self._dd(credentials)
        answered, self._answered_org = self._answered_org, None
        try:
            org = answered or await dd.get_org(record["publicId"])
        except AuthenticationError as exc:
            raise await keys_refused(self.obj, dd, self._key_in_use(record), exc,
                                     max(self.settings.wait_poll, 30)) from None
        except (NotFoundError, ValidationError) as exc:
            if isinstance(exc, ValidationError) and not org_not_accessible(exc):
                raise
            raise Blocked(
                "OrgNotFound",
                f"org {record['publicId']} recorded in status is not visible with the keys in "
                f"Secret {self.obj.namespace}/{record.get('credentialsSecret')} (Datadog "
                f"answered {exc.status}: {'; '.join(exc.api_errors) or exc.message}): the "
                "Secret no longer holds that org's keys, or the org was deleted in Datadog. "
                "Restore the org's keys from your backup",
            ) from None
        record["name"] = org.name or record.get("name", "")
        # (an adopted org, handed over, asks for no early cost refresh: as before it was)
        refresher = None if record.get("adopted") else self.refresher
        if refresher is not None and not self.obj.status.get("cost"):
            refresher.poke()  # a new client: cost arrives with the next (early) refresh
        elif refresher is not None and not self.ctx.drift_check:
            # a spec change (a budget added, changed or removed): judged now from the cost
            # already known, not at the next hourly refresh
            refresher.rejudge(self.obj.namespace, self.obj.name)
        keys_valid(self.obj)
        observation = await self._compare(org, dd)
        todo = await self._hand_over_todo(record)
        if todo:
            return Observation(exists=True, up_to_date=False, diff=[*observation.diff, todo])
        return observation

    # ------------------------------------------- the operator's service account
    async def _hand_over_todo(self, record: dict[str, Any]) -> str | None:
        """What the key hand-over and rotation (controllers/serviceaccount.py) still have
        to do; the next pass is booked for the next rotation or revocation."""
        if self.obj.management_policy == "ObserveOnly":
            return None
        if record.get("adopted") and self._adopt_bootstrap:
            return self._adopted_todo(record)
        secret = str(record.get("credentialsSecret") or "")
        data = await self.ctx.kube.read_secret_data(self.obj.namespace, secret,
                                                    max_age=CREDENTIALS_MAX_AGE) if secret else None
        mirror(record, data or {})  # the Secret's record (this pass read it already)
        self._rotation, _ = await effective_rotation(
            self.ctx.kube, self.spec.credentials.rotation, self.obj.status.get("partner"))
        found = rotation_plan(record, self._rotation,
                              self.obj.annotations.get(ROTATE_NOW_ANNOTATION) or None,
                              datetime.now(UTC))
        record_next_rotation(CLIENT_ORG.kind, self.obj.namespace, self.obj.name, found)
        key = (self.obj.namespace, self.obj.name)
        if found is not None:
            sa = record["serviceAccount"]
            due = found.next_rotation.strftime("%Y-%m-%dT%H:%M:%SZ") \
                if found.next_rotation else None
            if due or sa.get("nextRotation") is not None:
                sa["nextRotation"] = due
        if found is not None and found.wake_at is not None:
            self.wake_at[key] = found.wake_at.timestamp()
        else:
            self.wake_at.pop(key, None)
        return hand_over_needed(record, self._keep_bootstrap(record)) \
            or rotation_needed(found, record)

    def _keep_bootstrap(self, record: dict[str, Any]) -> bool:
        """An adopted org's bootstrap key is the adopt Secret's: never revoked."""
        return self.spec.credentials.keep_bootstrap_key or bool(record.get("adopted"))

    def _adopted_todo(self, record: dict[str, Any]) -> str | None:
        """Whether an adopted org still driven by the adopt Secret is to be handed over
        (adoptedkeys.py); from status and spec alone: no call."""
        adopt = self.spec.adopt
        if adopt is None or self.spec.credentials.use_adopt_secret:
            return None
        theirs, ours = adopt.credentials_secret_ref.name, adopted_secret_name(self.obj.name,
                                                                               self.spec)
        sa = record.get("serviceAccount") if isinstance(record.get("serviceAccount"),
                                                        dict) else None
        token = skip_token(self.obj.generation, self.obj.annotations)
        if ours == theirs:
            note = (f"spec.credentialsSecretName names the adopt Secret {theirs}, which the "
                    "operator never writes: the org is not handed over to a service account "
                    "of the operator's. Create this DatadogClientOrg again with another "
                    "spec.credentialsSecretName (it is immutable), or set "
                    "spec.credentials.useAdoptSecret: true")
            if sa is None or sa.get("note") != note:
                record["serviceAccount"] = {**(sa or {}), "skipped": "SecretNameTaken",
                                            "skippedFor": token, "note": note}
            return None
        if sa and sa.get("skipped") and sa.get("skippedFor") == token:
            return None
        return (f"the adopted org is driven with the keys of Secret {theirs} "
                "(spec.adopt.credentialsSecretRef): handing over to a service account of the "
                f"operator's own, its key in Secret {ours}")

    def _key_in_use(self, record: dict[str, Any]) -> KeyInUse:
        sa = record.get("serviceAccount") or {}
        if sa.get("handedOverAt"):
            return KeyInUse(str(record.get("credentialsSecret")), sa.get("applicationKeyId"),
                            f"service account {sa.get('id')}")
        return KeyInUse(str(record.get("credentialsSecret")), sa.get("bootstrapKeyId"),
                        "the person whose keys created the org (bootstrap key)")

    async def _hand_over(self, record: dict[str, Any]) -> None:
        labels = secret_labels(self.obj.name, "client")
        rotate_now = self.obj.annotations.get(ROTATE_NOW_ANNOTATION) or None
        if record.get("adopted") and self._adopt_bootstrap:
            adopt = self.spec.adopt
            assert adopt is not None
            ns, theirs = self.obj.namespace, adopt.credentials_secret_ref.name
            credentials = await credentials_from_secret(self.ctx.kube, ns, theirs,
                                                        "adopted org keys")
            data = await self.ctx.kube.read_secret_data(ns, theirs,
                                                        max_age=CREDENTIALS_MAX_AGE) or {}
            await AdoptedHandOver(
                self.ctx, record, self._dd, self._dd(credentials), data,
                adopted_secret_name(self.obj.name, self.spec), labels, self.spec.site,
                self.settings.create_settle_seconds, self._escrow(), self._rotation,
                rotate_now,
            ).run()
            return
        hand_over = KeyHandOver(
            self.ctx, record, self._dd, labels, self._keep_bootstrap(record),
            self.settings.create_settle_seconds, self._rotation, rotate_now,
        )
        await hand_over.run()
        self._answered_org = hand_over.proven_org

    async def _adopted_handed_over(self) -> bool:
        """Whether the operator's own Secret drives this adopted org (adoptedkeys.py), read
        from that Secret, the durable record (a re-applied object has no status); if so,
        status names it, and the adopt Secret is released once per process.

        An adopt Secret labelled as this object's (``ddmsp.io/owner-name``) that holds a
        finished hand-over is the operator's own by that label (the rule created orgs
        follow: docs/operations.md, moving an org between namespaces): used, and rotated,
        in place."""
        adopt = self.spec.adopt
        assert adopt is not None
        ns, name, theirs = self.obj.namespace, self.obj.name, adopt.credentials_secret_ref.name
        secret = adopted_secret_name(name, self.spec)
        found = await self.ctx.kube.read_secret(ns, secret) if secret != theirs else None
        data = decode_secret(found) if found is not None else None
        if found is None or not handed_over(data, name, meta_of(found).labels,
                                            adopt.public_id):
            found = self._adopt_found = await self.ctx.kube.read_secret(ns, theirs)
            data = decode_secret(found) if found is not None else None
            if found is None or not handed_over(data, name, meta_of(found).labels,
                                                adopt.public_id):
                return False
            secret = theirs
        assert data is not None
        old = self.obj.status.get(CLIENT)
        record = old if isinstance(old, dict) and old.get("publicId") == adopt.public_id \
            else {}
        record.update(publicId=adopt.public_id, credentialsSecret=secret, adoptSecret=theirs,
                      adopted=True)
        record.setdefault("name", data.get(ORG_NAME_KEY, ""))
        self.obj.status[CLIENT] = record
        told = bool((record.get("serviceAccount") or {}).get("handedOverAt"))
        mirror(record, data)
        memo = (ns, theirs, "adopt-released")
        if secret == theirs:
            return True  # the adopt Secret is the operator's own: nothing to release
        if not told:  # a crash after the swap, or a re-applied object: status did not know
            await release_adopt_secret(self.ctx, self._escrow(), record, secret, theirs)
        elif memo not in self.escrowed:  # our finalizer on it goes, once per process
            await self._escrow().unguard(ns, theirs)
        self.escrowed.add(memo)
        return True

    def _compare_name(self, org: Org) -> Observation:
        want = self.spec.display_name
        if org.name is not None and org.name != want:
            return Observation(exists=True, up_to_date=False,
                               diff=[f"org name is {org.name!r}, spec.displayName is {want!r}"])
        return Observation(exists=True, phase="Ready", message=f"org {org.public_id} is ready")

    async def _observe_adopted(self, found: Any = None) -> Observation:
        adopt = self.spec.adopt
        assert adopt is not None
        ns, secret = self.obj.namespace, adopt.credentials_secret_ref.name
        if found is None:
            found = await self.ctx.kube.read_secret(ns, secret)
        if found is not None and has_keys(decode_secret(found)):
            await self._guard_keys(found, "client")
        credentials = await credentials_from_secret(self.ctx.kube, ns, secret,
                                                    "adopted org keys")
        data = await self.ctx.kube.read_secret_data(ns, secret,
                                                    max_age=CREDENTIALS_MAX_AGE) or {}
        named = data.get(ORG_ID_KEY, "").strip()
        if named and named != adopt.public_id:
            self.ctx.kube.forget_secret(ns, secret)  # the fix shows on the very next pass
            raise Blocked(
                "SecretConflict",
                f"Secret {ns}/{secret} (spec.adopt.credentialsSecretRef) holds the keys of "
                f"org {named} (its `{ORG_ID_KEY}`), not of org {adopt.public_id} "
                "(spec.adopt.publicId): nothing was read or changed. Put the keys of org "
                f"{adopt.public_id} in the Secret, then {self._retry_hint()}; or, if org {named} "
                f"is the one to adopt, {self._recreate_hint()}",
            )
        dd = self._dd(credentials)
        try:
            org = await dd.get_org(adopt.public_id)
        except (NotFoundError, ValidationError) as exc:
            if isinstance(exc, ValidationError) and not org_not_accessible(exc):
                raise
            self.ctx.kube.forget_secret(ns, secret)  # the fix shows on the very next pass
            raise await self._adopted_org_refused(dd, secret, named, exc) from None
        old = self.obj.status.get(CLIENT)
        kept = {k: v for k, v in old.items() if k == "serviceAccount"} \
            if isinstance(old, dict) and old.get("publicId") == org.public_id else {}
        record = self.obj.status[CLIENT] = {
            **kept,
            "publicId": org.public_id,
            "name": org.name or "",
            "created": org.created,
            "credentialsSecret": secret,
            "adoptSecret": secret,
            "adopted": True,
        }
        observation = await self._compare(org, dd)
        todo = await self._hand_over_todo(record)
        if todo:
            return Observation(exists=True, up_to_date=False, diff=[*observation.diff, todo])
        return observation

    async def _compare(self, org: Org, dd: DatadogClient) -> Observation:
        """The org's name, then spec.settings (controllers/orgsettings.py), with its keys."""
        observation = self._compare_name(org)
        self._name_differs = not observation.up_to_date
        self._org_plan = await self._observe_settings(org, dd)
        if not self._org_plan:
            return observation
        return Observation(exists=True, up_to_date=False,
                           diff=observation.diff + self._org_plan.diff)

    async def _observe_settings(self, org: Org, dd: DatadogClient) -> SettingsPlan:
        """spec.settings over the partner's defaults; status.settingsSources says whose."""
        partner = self.obj.status.get("partner")
        defaults = await partner_defaults(self.ctx.kube, partner)
        wanted, sources = effective_settings(self.spec.settings, defaults, partner)
        if (self.obj.status.get("settingsSources") or None) != (sources or None):
            self.obj.status["settingsSources"] = sources or None
        return await observe_settings(dd, org, wanted, sources)

    async def _adopted_org_refused(self, dd: DatadogClient, secret: str, named: str,
                                   exc: DatadogError) -> Blocked:
        """Why the adopted org cannot be read with the adopt Secret's keys, named truthfully.

        Datadog answers an org ID the keys may not touch, unknown or another org's, with
        400 "Not allowed to access this organization": the answer alone cannot tell a wrong
        ID from wrong keys. The keys' own org (the listing with them: a child org's keys list
        exactly that org, as recorded) tells which: a Secret whose `org-public-id` names the
        wanted org but whose keys are another org's is a SecretConflict; otherwise the ID
        is not one these keys can reach (AdoptedOrgNotFound), with the org they do belong to.
        """
        adopt = self.spec.adopt
        assert adopt is not None
        ns, wanted = self.obj.namespace, adopt.public_id
        answer = f"{exc.status} {'; '.join(exc.api_errors) or exc.message}"
        try:
            listed = await dd.list_orgs()
        except DatadogError:
            listed = []
        own = listed[0] if listed else None
        whose = (f"; they are the keys of org {own.public_id} ({own.name!r})"
                 if own is not None and own.public_id != wanted else "")
        if named == wanted and own is not None and own.public_id != wanted:
            return Blocked(
                "SecretConflict",
                f"Secret {ns}/{secret} (spec.adopt.credentialsSecretRef) says `{ORG_ID_KEY}: "
                f"{wanted}`, but its keys belong to another org{whose} (Datadog answered "
                f"{answer} for org {wanted}); nothing was changed. Put the keys of org "
                f"{wanted} in the Secret, then {self._retry_hint()}",
            )
        if any(o.public_id == wanted for o in listed[1:]):
            return Blocked(
                "AdoptedOrgNotFound",
                f"org {wanted} is a child of the org whose keys are in Secret {ns}/{secret}"
                f"{whose}: a parent's keys cannot read or change a child org (Datadog "
                f"answered {answer}). Put keys made in org {wanted} itself in the Secret, "
                f"then {self._retry_hint()}",
            )
        return Blocked(
            "AdoptedOrgNotFound",
            f"no org {wanted} (spec.adopt.publicId) is visible with the keys in Secret "
            f"{ns}/{secret}{whose} (Datadog answered {answer}); nothing was changed. If the ID "
            f"is wrong, {self._recreate_hint()}; if the keys are, put the keys of org {wanted} "
            f"in the Secret, then {self._retry_hint()}",
        )

    def _retry_hint(self) -> str:
        return (f"ask for a new attempt: kubectl annotate ddorg {self.obj.name} -n "
                f"{self.obj.namespace} {API_GROUP}/retry=$(date +%s) --overwrite")

    def _recreate_hint(self) -> str:
        return ("delete this DatadogClientOrg (it created and changed nothing in Datadog) and "
                "create it again with that spec.adopt.publicId (spec.adopt cannot be changed "
                "in place)")

    def _pending_phase(self) -> str:
        if self.spec.provisioning == "ChildOrg":
            return "Creating" if self.obj.status.get("phase") == "Creating" else "Pending"
        parent = self._record(PARENT)
        if parent is None:
            return "CreatingParent"
        if not parent.get("spunOff"):
            return "SpinningOff"
        reg = self.spec.registration
        if not (reg and reg.confirmed and reg.org_public_id == parent["publicId"]):
            return "AwaitingRegistration"
        return "CreatingClientOrg"

    # ----------------------------------------------------------------- create
    async def create(self) -> None:
        if self.spec.adopt is not None:  # observe found it or raised: never reached
            raise Blocked("AdoptedOrgNotFound",
                          f"org {self.spec.adopt.public_id} (spec.adopt.publicId) is not "
                          "visible with the keys in spec.adopt.credentialsSecretRef; fix the "
                          "ID or the keys")
        partner = await self._partner()
        if self.spec.provisioning == "ChildOrg":
            # Shown with the write that records the new org (a second or so later), not
            # with one of its own: the create-pending annotation is the crash-safe marker.
            self.obj.status["phase"] = "Creating"
            await self._create_org(CLIENT, partner, client_secret_name(self.obj.name, self.spec))
            return
        await self._spin_off_flow(partner)

    async def _spin_off_flow(self, partner: Credentials) -> None:
        name, spec = self.obj.name, self.spec
        if self._record(PARENT) is None:
            await self._phase("CreatingParent")
            if not await self._create_org(PARENT, partner, parent_secret_name(name, spec)):
                return
        parent = self._record(PARENT)
        assert parent is not None
        if not parent.get("spunOff"):
            await self._phase("SpinningOff")
            await self._spin_off(partner, parent)
        await self._await_registration(parent)
        await self._phase("CreatingClientOrg")
        parent_credentials = await self._org_credentials(parent, "parent")
        await self._create_org(CLIENT, parent_credentials, client_secret_name(name, spec))

    async def _spin_off(self, partner: Credentials, parent: dict[str, Any]) -> None:
        """Spin the parent org off, recorded from Datadog's own answer, never skipped.

        The request time is saved before the call. A later pass that finds it without a
        confirmation (a crash in between) asks again; if Datadog then refuses, only an
        answer of the org itself (its own keys) may show that it already left the
        partner's hierarchy; otherwise a human is asked. No listing is consulted:
        nothing public shows a partner's listing including its children.
        """
        if not parent.get("spinOffRequestedAt"):
            parent["spinOffRequestedAt"] = now_rfc3339()
            await self.ctx.save_status()
        try:
            await self._dd(partner).spin_off(parent["publicId"])
        except (ValidationError, NotFoundError, ConflictError, ForbiddenError) as exc:
            if not await self._already_spun_off(parent):
                raise Blocked(
                    "SpinOffUnconfirmed",
                    f"Datadog refused to spin off org {parent['publicId']} "
                    f"({exc.status}: {'; '.join(exc.api_errors) or exc.message}) and the org's "
                    "own answer does not show that it already left the partner's hierarchy. "
                    "Check the org in Datadog; once it is spun off, record it with: kubectl "
                    f"annotate ddorg {self.obj.name} -n {self.obj.namespace} "
                    f"{SPUN_OFF_ANNOTATION}={parent['publicId']}",
                ) from None
        crash_point("after-spin-off-call")
        parent["spunOff"] = True
        parent["spunOffAt"] = now_rfc3339()
        await self.ctx.save_status()
        await self.ctx.event("Normal", "SpunOff",
                             f"org {parent['name']} ({parent['publicId']}) spun off from the "
                             "partner org")

    async def _already_spun_off(self, parent: dict[str, Any]) -> bool:
        """True when a human recorded the spin-off, or the org's own answer shows it."""
        if self.obj.annotations.get(SPUN_OFF_ANNOTATION) == parent["publicId"]:
            return True
        if not parent.get("spinOffRequestedAt"):
            return False
        own = await self._org_credentials(parent, "parent")
        org = await self._dd(own).get_org(parent["publicId"])
        return org_is_standalone(org)

    async def _await_registration(self, parent: dict[str, Any]) -> None:
        reg = self.obj.status.setdefault("registration", {})
        target = f"{parent.get('name')!r} (public ID {parent['publicId']})"
        if not reg.get("requestedAt"):
            reg["requestedAt"] = now_rfc3339()
            reg["orgToRegister"] = target
            await self.ctx.save_status()
        registration = self.spec.registration
        confirmed = bool(registration and registration.confirmed
                         and registration.org_public_id == parent["publicId"])
        if not confirmed:
            command = (
                f"kubectl ddmsp confirm-registration {self.obj.name} -n {self.obj.namespace} "
                f"(or: kubectl patch ddorg {self.obj.name} -n {self.obj.namespace} --type merge "
                "-p '{\"spec\":{\"registration\":{\"confirmed\":true,\"orgPublicId\":"
                f"\"{parent['publicId']}\"}}}}}}')"
            )
            if registration and registration.confirmed and registration.org_public_id != \
                    parent["publicId"]:
                command = (f"spec.registration.orgPublicId is "
                           f"{registration.org_public_id or 'not set'}, but the org to register "
                           f"is {parent['publicId']}: a confirmation counts only for the org it "
                           f"names. Confirm with: {command}")
            raise Waiting(
                "AwaitingRegistration",
                f"register org {target} in the Datadog Partner Network portal, then confirm "
                f"with: {command}",
                delay=None,  # only a spec change moves this on: the update handler
                phase="AwaitingRegistration",
                event=True,
            )
        if not reg.get("confirmedAt"):
            reg["confirmedAt"] = now_rfc3339()
            assert self.spec.registration is not None
            reg["orgPublicId"] = parent["publicId"]
            if self.spec.registration.deal_id:
                reg["dealId"] = self.spec.registration.deal_id
            await self.ctx.save_status()

    async def _create_org(self, key: str, creator: Credentials, secret: str) -> bool:
        """Create one org through the guard; True when it exists (created or recovered)."""
        ns, display = self.obj.namespace, self.spec.display_name
        role = "client" if key == CLIENT else "parent"
        kube = self.ctx.kube

        labels = secret_labels(self.obj.name, role)

        async def owned_secret_data() -> dict[str, str] | None:
            """The Secret's data, if it exists; Blocked when its owner labels name
            someone else (a Secret is trusted only when it says it is this object's)."""
            found = await kube.read_secret(ns, secret)
            if found is None:
                return None
            have = dict((found.metadata and found.metadata.labels) or {})
            if any(have.get(k) != v for k, v in labels.items() if k != f"{API_GROUP}/org-role"):
                owner = have.get(f"{API_GROUP}/owner-name")
                whose = f"owned by {owner}" if owner else "no ddmsp owner labels"
                raise Blocked(
                    "SecretNotOwned",
                    f"Secret {ns}/{secret} exists but its labels do not name this "
                    f"DatadogClientOrg as its owner ({whose}); the operator will neither "
                    "read keys from it nor write keys into it. To use another Secret, "
                    f"{RECREATE_WITH_OTHER_SECRET}; or, if the Secret really holds this "
                    "client's keys, label it: kubectl label "
                    f"secret {secret} -n {ns} {API_GROUP}/owner-kind={CLIENT_ORG.kind} "
                    f"{API_GROUP}/owner-name={self.obj.name} "
                    "app.kubernetes.io/managed-by=ddmsp --overwrite",
                )
            return decode_secret(found)

        async def recover() -> bool:
            data = await owned_secret_data()
            if not has_keys(data):  # gone (a namespace deleted, a Secret deleted): escrow?
                data = await self._restore_from_escrow(secret, role, labels) or data
            if not data:
                return False
            if data.get(ORG_ID_KEY) and data.get(API_KEY) and data.get(APP_KEY):
                self.obj.status[key] = {
                    "publicId": data[ORG_ID_KEY],
                    "name": data.get(ORG_NAME_KEY, display),
                    "credentialsSecret": secret,
                }
                await self.ctx.save_status()
                await self.ctx.event(
                    "Normal", "Recovered",
                    f"found the keys of {role} org {data[ORG_ID_KEY]} in Secret {secret}; "
                    "using that org instead of creating one",
                )
                return True
            if data.get(API_KEY) or data.get(APP_KEY):
                raise Blocked(
                    "SecretConflict",
                    f"Secret {ns}/{secret} already holds keys but no `{ORG_ID_KEY}`: the "
                    "operator will not overwrite them. To use another Secret, "
                    f"{RECREATE_WITH_OTHER_SECRET}; or add the org's public ID to the Secret "
                    f"under `{ORG_ID_KEY}` to use that org",
                )
            return False

        async def reserve() -> None:
            """Before any org exists: the Secret for its keys is ours and writable."""
            await owned_secret_data()
            try:
                # held (finalizer) from the start: the keys never sit unguarded, not even
                # between the create and the next pass (keyescrow.py)
                await kube.reserve_secret(ns, secret, labels,
                                          [API_KEY, APP_KEY, SITE_KEY, ORG_ID_KEY, ORG_NAME_KEY],
                                          finalizers=[FINALIZER])
            except ApiException as exc:
                raise Waiting(
                    "SecretNotWritable",
                    f"the keys of the new {role} org would go to Secret {ns}/{secret}, but "
                    f"it cannot be written ({refusal(exc)}); "
                    "no org is created until it can "
                    "(check the operator's RBAC, admission webhooks, or whether the Secret is "
                    f"immutable; or, to use another Secret, {RECREATE_WITH_OTHER_SECRET})",
                    delay=30, phase=self.obj.status.get("phase"),
                ) from None

        async def call() -> CreatedOrg:
            crash_point(f"before-create-{role}")
            created = await self._dd(creator).create_child_org(display)
            crash_point(f"after-create-{role}-call")
            return created

        async def persist(created: CreatedOrg) -> None:
            data = {
                API_KEY: created.credentials.api_key.get_secret_value(),
                APP_KEY: created.credentials.app_key.get_secret_value(),
                SITE_KEY: self.spec.site,
                ORG_ID_KEY: created.org.public_id,
                ORG_NAME_KEY: created.org.name or display,
            }
            await kube.write_secret(ns, secret, data, labels, exists=True)
            crash_point(f"after-{role}-secret-write")
            self.obj.status[key] = {
                "publicId": created.org.public_id,
                "name": created.org.name or display,
                "created": created.org.created,
                "credentialsSecret": secret,
                "createdUnder": creator.source,
            }
            await self.ctx.save_status()
            crash_point(f"after-{role}-status-write")

        async def same_named() -> list[Org]:
            known = {r.get("publicId") for r in (self._record(CLIENT), self._record(PARENT)) if r}
            return [o for o in await self._dd(creator).list_orgs()
                    if o.name == display and o.public_id not in known]

        async def nothing_created(pending: str) -> bool:
            """True only when Datadog's answer *proves* that the interrupted create made
            no org: after a settle time, the creator's listing shows a child this operator
            made (so this listing does show children) and no unknown org of this name.
            Nothing public shows listings including children; without that proof the
            create stays Stalled for a human (CreationResultUnknown)."""
            age = (datetime.now(UTC) - _parse_precise(pending)).total_seconds()
            settle = self.settings.create_settle_seconds
            if age < settle:
                raise Waiting("CreationResultPending",
                              f"an earlier create of the {role} org {display!r} was "
                              f"interrupted; checking whether it happened in {settle - age:.0f}s",
                              delay=max(1.0, settle - age), phase=self.obj.status.get("phase"))
            listed = await self._dd(creator).list_orgs()
            mine = await self._known_children(creator.source)
            if not mine & {o.public_id for o in listed}:
                return False  # this listing is not proven to show children: no proof
            if await same_named():
                return False
            await self.ctx.event("Normal", "NoOrgCreated",
                                 f"the interrupted create of the {role} org {display!r} left no "
                                 "org behind (the creator's listing shows its children, and "
                                 "none of that name); creating it now")
            return True

        async def candidates() -> str:
            try:
                found = await same_named()
            except Exception as exc:  # candidates are advice, not logic
                return f"(listing candidate orgs failed: {type(exc).__name__})"
            if not found:
                started = (self.ctx.guard.pending() or ("", ""))[0] or "recently"
                return (f"No org named {display!r} is visible to the creating keys (Datadog's "
                        "org listing may not show child orgs at all): look in the partner org's "
                        f"Multi-Org Usage page for an org named {display!r} created around "
                        f"{started}.")
            listed = ", ".join(f"{o.name} (public ID {o.public_id}, created {o.created})"
                               for o in found)
            return f"Candidate orgs named {display!r}: {listed}."

        how = (
            f"If a candidate is this client's {role} org, put its keys in Secret {ns}/{secret} "
            f"(keys {API_KEY}, {APP_KEY}, {ORG_ID_KEY}), then {self._retry_hint()}; if no org "
            f"was created, allow a new attempt with: kubectl annotate ddorg {self.obj.name} "
            f"-n {ns} {API_GROUP}/create-pending-"
        )
        result = await self.ctx.guard.run(
            what=f"the {role} org {display!r}",
            call=call,
            persist=persist,
            recover=recover,
            candidates=candidates,
            definitely_failed=create_definitely_failed,
            how_to_resolve=how,
            nothing_created=nothing_created,
            reserve=reserve,
            key=role,
            success_recoverable=True,  # recover() reads the keys from the Secret
        )
        if result is not None:
            await self.ctx.event("Normal", "Created",
                                 f"created {role} org {result.org.name} "
                                 f"({result.org.public_id}); keys in Secret {secret}")
        return True

    async def _restore_from_escrow(self, secret: str, role: str, labels: dict[str, str]
                                   ) -> dict[str, str] | None:
        """The keys this object's org had when this object (same namespace and name) was
        deleted, put back into its Secret: never a second org for the same client. In the
        same namespace (same UID) at once; in a namespace deleted and created again only
        once a cluster admin approved it on the escrow Secret."""
        escrow = self._escrow()
        found = await escrow.find_source(self.obj.namespace, self.obj.name, role)
        if not found:
            return None
        where = escrow.namespace
        names = ", ".join(f"{e.name} (org {e.public_id})" for e in found)
        if len(found) > 1:
            raise Waiting(
                "KeysInEscrow",
                f"escrow holds the keys of {len(found)} {role} orgs that DatadogClientOrg "
                f"{self.obj.namespace}/{self.obj.name} used before: {names} (namespace "
                f"{where}); no org is created. A cluster admin detaches all but the one to "
                f"re-attach: kubectl label secret <name> -n {where} {API_GROUP}/source-",
                delay=30, phase=self.obj.status.get("phase"), event=True)
        kept = found[0]
        same_namespace = bool(kept.source_namespace_uid) and \
            kept.source_namespace_uid == await self.ctx.kube.namespace_uid(self.obj.namespace)
        if not (same_namespace or kept.restore_approved):
            raise Waiting(
                "KeysInEscrow",
                f"the keys of the {role} org {kept.public_id}, which DatadogClientOrg "
                f"{self.obj.namespace}/{self.obj.name} used before its namespace was deleted, "
                f"are in escrow Secret {where}/{kept.name}; no second org is created. To "
                "re-attach this object to that org, a cluster admin approves: kubectl "
                f"annotate secret {kept.name} -n {where} {API_GROUP}/restore=true . To create "
                "a new org instead, a cluster admin detaches the escrow (the keys stay "
                f"there): kubectl label secret {kept.name} -n {where} {API_GROUP}/source-",
                delay=30, phase=self.obj.status.get("phase"), event=True)
        await self.ctx.kube.write_secret(self.obj.namespace, secret, kept.data, labels)
        await self.ctx.event("Normal", "KeysRestored",
                             f"the keys of the {role} org {kept.public_id} were restored from "
                             f"escrow Secret {where}/{kept.name} into Secret {secret}")
        return kept.data

    async def _known_children(self, creator_source: str) -> set[str]:
        """Orgs this operator created with these creator keys that are still children
        (created, not adopted, not spun off), across the DatadogClientOrgs it watches."""
        known: set[str] = set()
        for body in await self.ctx.kube.list_objects(CLIENT_ORG, self.settings.namespaces):
            status = body.get("status") or {}
            for record_key in (CLIENT, PARENT):
                record = status.get(record_key) or {}
                if (record.get("publicId") and record.get("createdUnder") == creator_source
                        and not record.get("adopted") and not record.get("spunOff")):
                    known.add(str(record["publicId"]))
        return known

    # ---------------------------------------------------------- update/delete
    async def update(self, observation: Observation) -> None:
        record = self._record(CLIENT)
        assert record is not None
        if self._name_differs or self._org_plan:
            credentials = await self._org_credentials(record, "client")
            name = self.spec.display_name if self._name_differs or not self._org_plan else None
            await apply_settings(self._dd(credentials), record["publicId"], self._org_plan,
                                 name)
            record["name"] = self.spec.display_name
        if await self._hand_over_todo(record):
            await self._hand_over(record)

    async def delete(self) -> None:
        """Orgs cannot be deleted through the Datadog API: deletionPolicy is Orphan only."""
