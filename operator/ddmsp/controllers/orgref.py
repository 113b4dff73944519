"""Resolve the org a DatadogRole or DatadogSAMLConfig acts in: its keys, site and public ID.

``orgRef`` names a DatadogClientOrg in the same namespace: until that org is Ready the
reconcile waits quietly (``Waiting("OrgNotReady")``: one condition, no events, polled every
``wait_poll`` seconds). ``credentialsSecretRef`` names a Secret with the org's own keys.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import SecretStr

from ddmsp.config import OperatorSettings
from ddmsp.controllers.datadog_access import (
    API_KEY,
    APP_KEY,
    CREDENTIALS_MAX_AGE,
    ORG_ID_KEY,
    SITE_KEY,
    DatadogClients,
    credentials_from_secret,
)
from ddmsp.controllers.keyescrow import KeyEscrow, has_keys
from ddmsp.datadog import Credentials, DatadogClient
from ddmsp.datadog.sites import DEFAULT_SITE
from ddmsp.reconcile.conditions import READY, get_condition
from ddmsp.reconcile.deletion import OrgGone
from ddmsp.reconcile.external import ReconcileContext
from ddmsp.reconcile.outcomes import Waiting
from ddmsp.resources import CLIENT_ORG
from ddmsp.resources.common import SITES
from ddmsp.resources.orgref import OrgTargetFields


@dataclass(frozen=True)
class OrgTarget:
    """One Datadog org to act in, and how to reach it."""

    label: str
    credentials: Credentials
    site: str
    public_id: str | None
    dd: DatadogClient
    secret: str | None = None  # the Secret (object's namespace) holding the keys


# ``ReconcileContext.extra`` key: the orgs a pass acts in, by their keys' source ("Secret
# ns/name", as a DatadogError's ``keys_source`` names it), so a refused key is told apart
# from a missing permission and named (``DatadogConnector.explain``, controllers/keycheck.py)
TARGETS = "org-targets"


def targets_of(ctx: ReconcileContext) -> dict[str, OrgTarget]:
    """The orgs this pass resolved, by their keys' source."""
    found: dict[str, OrgTarget] = ctx.extra.setdefault(TARGETS, {})
    return found


def _acting(ctx: ReconcileContext, target: OrgTarget) -> OrgTarget:
    targets_of(ctx)[target.credentials.source] = target
    return target


async def resolve_org(
    ctx: ReconcileContext, spec: OrgTargetFields, settings: OperatorSettings,
    clients: DatadogClients,
) -> OrgTarget:
    """The org named by ``spec.orgRef`` or ``spec.credentialsSecretRef``; may raise Waiting."""
    namespace = ctx.obj.namespace
    if ctx.obj.deleting:
        return await _target_for_deletion(ctx, spec, settings, clients)
    if spec.org_ref is not None:
        ref = spec.org_ref
        body = await ctx.kube.get(CLIENT_ORG, namespace, ref.name)
        label = ref.name if ref.org == "client" else f"{ref.name} (parent)"
        secret, public_id = _org_record(body, ref.name, ref.org, namespace, settings.wait_poll)
        site = str(((body or {}).get("spec") or {}).get("site") or DEFAULT_SITE)
        credentials = await credentials_from_secret(
            ctx.kube, namespace, secret, f"keys of DatadogClientOrg {ref.name}"
        )
        return _acting(ctx, OrgTarget(label, credentials, site, public_id,
                                      clients.get(credentials, site), secret))
    assert spec.credentials_secret_ref is not None
    secret = spec.credentials_secret_ref.name
    credentials = await credentials_from_secret(ctx.kube, namespace, secret, "org keys")
    data = await ctx.kube.read_secret_data(namespace, secret, max_age=CREDENTIALS_MAX_AGE) or {}
    site = spec.site or (data.get(SITE_KEY, "").strip() or DEFAULT_SITE)
    if site not in SITES:
        site = DEFAULT_SITE
    return _acting(ctx, OrgTarget(secret, credentials, site,
                                  data.get(ORG_ID_KEY, "").strip() or None,
                                  clients.get(credentials, site), secret))


async def act_in_org(
    ctx: ReconcileContext, spec: OrgTargetFields, settings: OperatorSettings,
    clients: DatadogClients, *, public_id_needed: bool = False,
) -> OrgTarget:
    """``resolve_org``, and the org recorded in the status (``org``, ``orgPublicId`` when
    known): what a deletion later acts in (``_target_for_deletion``). With
    ``public_id_needed`` an unknown public ID is asked of the keys (``own_public_id``)."""
    target = await resolve_org(ctx, spec, settings, clients)
    if public_id_needed and not target.public_id:
        target = _acting(ctx, replace(target, public_id=await own_public_id(target)))
    ctx.obj.status["org"] = target.label
    if target.public_id:
        ctx.obj.status["orgPublicId"] = target.public_id
    return target


async def _target_for_deletion(
    ctx: ReconcileContext, spec: OrgTargetFields, settings: OperatorSettings,
    clients: DatadogClients,
) -> OrgTarget:
    """The org to delete in: the one this object recorded acting in, reached with its keys
    wherever they are (the org's Secret, even while it is being deleted; else escrow),
    whether or not the org is Ready (a 5xx on the org's own check, or the org being
    deleted itself, must not orphan anything). ``OrgGone`` only when the org's object and
    its keys are both really gone; any other gap waits."""
    namespace = ctx.obj.namespace
    recorded = str(ctx.obj.status.get("orgPublicId") or "") or None
    escrow = KeyEscrow(ctx.kube, settings.key_escrow_namespace)

    def target(label: str, data: dict[str, str], source: str, site: str | None,
               public_id: str) -> OrgTarget:
        site = site or data.get(SITE_KEY, "").strip() or DEFAULT_SITE
        site = site if site in SITES else DEFAULT_SITE
        credentials = Credentials(api_key=SecretStr(data[API_KEY].strip()),
                                  app_key=SecretStr(data[APP_KEY].strip()), source=source)
        return OrgTarget(label, credentials, site, public_id, clients.get(credentials, site))

    if spec.org_ref is not None:
        ref = spec.org_ref
        body = await ctx.kube.get(CLIENT_ORG, namespace, ref.name)
        label = ref.name if ref.org == "client" else f"{ref.name} (parent)"
        record = ((body or {}).get("status") or {}).get(
            "clientOrg" if ref.org == "client" else "parentOrg") or {}
        site = ((body or {}).get("spec") or {}).get("site")
        public_id = recorded or (str(record.get("publicId") or "") or None)
        if public_id is None:
            raise OrgGone("this object never acted in an org (none is recorded in its "
                          "status): nothing in Datadog to delete")
        secret = str(record.get("credentialsSecret") or "")
        if secret and record.get("publicId") == public_id:
            data = await ctx.kube.read_secret_data(namespace, secret,
                                                   max_age=CREDENTIALS_MAX_AGE)
            if has_keys(data):
                assert data is not None
                return target(label, data, f"Secret {namespace}/{secret}", site, public_id)
        kept = await escrow.find_org(public_id, namespace)
        if kept is not None:
            return target(label, kept.data, f"escrow Secret {escrow.namespace}/{kept.name}",
                          site, public_id)
        if body is None or (record.get("publicId") and record.get("publicId") != public_id):
            raise OrgGone(f"org {public_id} can no longer be reached: DatadogClientOrg "
                          f"{namespace}/{ref.name} no longer records it and its keys are in no "
                          f"Secret the operator knows, nor in escrow ({escrow.namespace})")
        raise Waiting("CredentialsMissing",
                      f"the keys of org {public_id} are neither in "
                      f"{f'Secret {namespace}/{secret}' if secret else 'a Secret'} nor in escrow "
                      f"({escrow.namespace}); restore them to let the deletion finish",
                      delay=30)
    assert spec.credentials_secret_ref is not None
    secret = spec.credentials_secret_ref.name
    data = await ctx.kube.read_secret_data(namespace, secret, max_age=CREDENTIALS_MAX_AGE)
    if has_keys(data):
        assert data is not None
        return target(secret, data, f"Secret {namespace}/{secret}", spec.site,
                      recorded or data.get(ORG_ID_KEY, "").strip() or "")
    kept = await escrow.find_org(recorded, namespace) if recorded else None
    if kept is not None:
        return target(secret, kept.data, f"escrow Secret {escrow.namespace}/{kept.name}",
                      spec.site, kept.public_id)
    if data is None:
        raise OrgGone(f"Secret {namespace}/{secret} with the org's keys is gone (and no escrow "
                      "copy exists): nothing can be deleted in that org")
    raise Waiting("CredentialsMissing", f"Secret {namespace}/{secret} lacks the keys "
                  f"({API_KEY}, {APP_KEY}); restore them to let the deletion finish", delay=30)


def _org_record(
    body: dict[str, Any] | None, name: str, which: str, namespace: str, poll: float
) -> tuple[str, str]:
    """(credentials Secret, public ID) of a DatadogClientOrg's org, or Waiting."""
    if body is None:
        raise Waiting(
            "OrgNotReady",
            f"DatadogClientOrg {namespace}/{name} does not exist yet; waiting for it "
            "(create it, or fix spec.orgRef.name)",
            delay=poll, phase="Pending",
        )
    status = body.get("status") or {}
    key = "clientOrg" if which == "client" else "parentOrg"
    record = status.get(key) or {}
    ready = get_condition(list(status.get("conditions") or []), READY)
    usable = bool(record.get("publicId") and record.get("credentialsSecret"))
    if which == "client":
        usable = usable and ready is not None and ready.get("status") == "True"
    if not usable:
        detail = (ready or {}).get("reason") or status.get("phase") or "Pending"
        raise Waiting(
            "OrgNotReady",
            f"waiting for the {which} org of DatadogClientOrg {name} to be ready "
            f"(it is {detail})",
            delay=poll, phase="Pending",
        )
    return str(record["credentialsSecret"]), str(record["publicId"])


async def own_public_id(target: OrgTarget) -> str:
    """The org's public_id: known from the org record or Secret, else the keys' own org."""
    if target.public_id:
        return target.public_id
    orgs = await target.dd.list_orgs()
    if not orgs:
        raise Waiting("OrgNotFound", f"the keys in {target.label} see no org", delay=60)
    return orgs[0].public_id
