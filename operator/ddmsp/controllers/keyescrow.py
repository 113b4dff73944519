"""Keys of a living org survive any Kubernetes deletion: a finalizer and an escrow copy.

Datadog orgs cannot be deleted through the API and their keys are shown once, so the
credentials Secret of a DatadogClientOrg may hold the only copy of keys to an org that
lives on. Two guards:

- The Secret carries ``ddmsp.io/finalizer`` while its DatadogClientOrg lives: deleting it
  (alone, or with its namespace) leaves it Terminating and readable until the org object's
  own deletion pass has copied the keys away.
- That pass (and a pass that finds the Secret Terminating) deposits the keys in an *escrow*
  Secret in the operator's namespace, ``ddmsp-org-keys-<public id>``: no owner reference,
  never garbage-collected, labelled with the org's public ID and the source
  namespace/name, read only by cluster admins and the operator. Then the Secret's finalizer
  is released.

A DatadogClientOrg applied again under the same namespace and name, whose Secret is gone,
is restored from escrow instead of creating a second org: automatically when its namespace
is the same one (same UID: the same tenant), and after a cluster admin's approval
(``kubectl annotate secret -n <escrow ns> <escrow> ddmsp.io/restore=true``) when the
namespace was deleted and created again. Without approval it stalls (``KeysInEscrow``),
naming the escrow Secret and both ways on.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from dataclasses import dataclass

from kubernetes import client

from ddmsp import API_GROUP
from ddmsp.controllers.datadog_access import API_KEY, APP_KEY, ORG_ID_KEY
from ddmsp.reconcile.conditions import now_rfc3339
from ddmsp.reconcile.deletion import FINALIZER
from ddmsp.reconcile.kube import KubeAPI, ObjectChanged, decode_secret

log = logging.getLogger(__name__)

ESCROW_LABEL = f"{API_GROUP}/escrow"
ESCROW_KIND = "org-keys"
SOURCE_LABEL = f"{API_GROUP}/source"  # a hash of "<namespace>/<name>" (labels are short)
SOURCE_NAMESPACE_LABEL = f"{API_GROUP}/source-namespace"
ORG_LABEL = f"{API_GROUP}/org-public-id"
SOURCE_ANNOTATION = f"{API_GROUP}/source"  # "<namespace>/<name>" of the DatadogClientOrg
SOURCE_SECRET_ANNOTATION = f"{API_GROUP}/source-secret"
SOURCE_UID_ANNOTATION = f"{API_GROUP}/source-namespace-uid"
ROLE_ANNOTATION = f"{API_GROUP}/org-role"
ESCROWED_AT_ANNOTATION = f"{API_GROUP}/escrowed-at"
RESTORE_ANNOTATION = f"{API_GROUP}/restore"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def source_hash(namespace: str, name: str) -> str:
    return hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:40]


def escrow_name(public_id: str) -> str:
    """One escrow Secret per org: its public ID when that is a DNS label, else a hash."""
    pid = public_id.lower()
    if _DNS_LABEL.match(pid):
        return f"ddmsp-org-keys-{pid}"
    return f"ddmsp-org-keys-{hashlib.sha256(public_id.encode()).hexdigest()[:32]}"


def meta_of(secret: client.V1Secret) -> client.V1ObjectMeta:
    return secret.metadata or client.V1ObjectMeta()


def has_keys(data: dict[str, str] | None) -> bool:
    return bool(data and data.get(API_KEY, "").strip() and data.get(APP_KEY, "").strip())


@dataclass(frozen=True)
class Escrowed:
    """One escrow Secret: where it is, what it holds and where it came from."""

    name: str
    data: dict[str, str]
    source_namespace_uid: str
    restore_approved: bool
    role: str

    @property
    def public_id(self) -> str:
        return self.data.get(ORG_ID_KEY, "")


class KeyEscrow:
    """The escrow Secrets in the operator's namespace, and the finalizer on key Secrets."""

    def __init__(self, kube: KubeAPI, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    # ------------------------------------------------------------ the Secret guard
    async def guard(self, secret: client.V1Secret) -> None:
        """Hold the credentials Secret while its org lives (a compare-and-swap on the list
        of finalizers; a lost race is redone on the next pass)."""
        meta = meta_of(secret)
        held = list(meta.finalizers or [])
        if FINALIZER in held or meta.deletion_timestamp is not None:
            return  # a Terminating object cannot take a new finalizer
        with contextlib.suppress(ObjectChanged):
            await self.kube.patch_secret(str(meta.namespace), str(meta.name), {"metadata": {
                "finalizers": [*held, FINALIZER], "resourceVersion": meta.resource_version}})

    async def unguard(self, namespace: str, name: str) -> bool:
        """Release the Secret (it goes now if it was being deleted); False on a lost race."""
        secret = await self.kube.read_secret(namespace, name)
        held = list(meta_of(secret).finalizers or []) if secret is not None else []
        if secret is None or FINALIZER not in held:
            return True
        rest = [f for f in held if f != FINALIZER]
        try:
            await self.kube.patch_secret(namespace, name, {"metadata": {
                "finalizers": rest or None,
                "resourceVersion": meta_of(secret).resource_version}})
        except ObjectChanged:
            return False
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        return True

    # ------------------------------------------------------------------ escrow
    async def deposit(self, *, data: dict[str, str], source_namespace: str, source_name: str,
                      source_secret: str, role: str) -> str:
        """Copy the keys into the escrow Secret of their org (created, or brought up to
        date: one org, one escrow Secret); returns its name."""
        public_id = data.get(ORG_ID_KEY, "").strip()
        assert public_id, "an escrow is per org: the keys must name their org"
        name = escrow_name(public_id)
        labels = {
            "app.kubernetes.io/managed-by": "ddmsp",
            ESCROW_LABEL: ESCROW_KIND,
            SOURCE_LABEL: source_hash(source_namespace, source_name),
            SOURCE_NAMESPACE_LABEL: source_namespace,
        }
        if _LABEL_VALUE.match(public_id):
            labels[ORG_LABEL] = public_id
        annotations = {
            SOURCE_ANNOTATION: f"{source_namespace}/{source_name}",
            SOURCE_SECRET_ANNOTATION: f"{source_namespace}/{source_secret}",
            SOURCE_UID_ANNOTATION: await self.kube.namespace_uid(source_namespace) or "",
            ROLE_ANNOTATION: role,
            ESCROWED_AT_ANNOTATION: now_rfc3339(),
        }
        existing = await self.kube.read_secret(self.namespace, name)
        if existing is None:
            body = client.V1Secret(
                metadata=client.V1ObjectMeta(name=name, namespace=self.namespace,
                                             labels=labels, annotations=annotations),
                type="Opaque", string_data=dict(data))
            try:
                await self.kube.create_secret(self.namespace, body)
                return name
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
        await self.kube.patch_secret(self.namespace, name, {
            "metadata": {"labels": labels, "annotations": annotations},
            "stringData": dict(data)})
        return name

    async def find_org(self, public_id: str, source_namespace: str) -> Escrowed | None:
        """The escrowed keys of an org, only for objects of the namespace they came from."""
        secret = await self.kube.read_secret(self.namespace, escrow_name(public_id))
        if secret is None:
            return None
        labels = meta_of(secret).labels or {}
        found = _escrowed(secret)
        if labels.get(SOURCE_NAMESPACE_LABEL) != source_namespace or not has_keys(found.data) \
                or found.public_id != public_id:
            return None
        return found

    async def find_source(self, namespace: str, name: str, role: str) -> list[Escrowed]:
        """Escrowed keys that came from DatadogClientOrg ``namespace/name`` (``role``: the
        client or the parent org)."""
        selector = f"{ESCROW_LABEL}={ESCROW_KIND},{SOURCE_LABEL}={source_hash(namespace, name)}"
        found = [_escrowed(s) for s in await self.kube.list_secrets(self.namespace, selector)
                 if (meta_of(s).annotations or {}).get(SOURCE_ANNOTATION) == f"{namespace}/{name}"]
        return [e for e in found if e.role == role and has_keys(e.data)]


def _escrowed(secret: client.V1Secret) -> Escrowed:
    annotations = meta_of(secret).annotations or {}
    return Escrowed(
        name=str(meta_of(secret).name), data=decode_secret(secret),
        source_namespace_uid=annotations.get(SOURCE_UID_ANNOTATION, ""),
        restore_approved=annotations.get(RESTORE_ANNOTATION, "").lower() == "true",
        role=annotations.get(ROLE_ANNOTATION, ""),
    )
