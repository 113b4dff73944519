"""Who may spend the partner's keys: resolve the partner of one DatadogClientOrg.

The partner's keys create billable orgs, so a namespace gets them only by an explicit
policy: a DatadogPartner that allows it (by name or label), or the operator's own default
credentials where the operator was told to allow it. The legacy
``spec.partnerCredentialsSecretRef`` names a Secret in the object's own namespace: whoever
can put partner keys there already holds them, so it stays allowed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client
from pydantic import SecretStr

from ddmsp.config import OperatorSettings
from ddmsp.controllers.datadog_access import API_KEY, APP_KEY, credentials_from_secret
from ddmsp.datadog import Credentials
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.outcomes import Blocked, Waiting
from ddmsp.resources.partner import PARTNER, DatadogPartnerSpec, NamespaceSelector

OPERATOR_DEFAULT = "operator-default"
POLICY_RETRY = 120.0  # a denied namespace re-checks the policy this often (admins may change it)


@dataclass(frozen=True)
class PartnerChoice:
    """The partner one client uses: ``key`` goes to ``status.partner`` and groups refreshes."""

    key: str
    credentials: Credentials
    site: str | None  # the partner's site; None when unknown (legacy Secret, operator default)
    where: str  # where the keys live, for messages (never the keys)


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args))


async def get_partner(kube: KubeAPI, name: str) -> dict[str, Any] | None:
    try:
        return cast(dict[str, Any], await _run(
            kube.custom.get_cluster_custom_object, PARTNER.group, PARTNER.version,
            PARTNER.plural, name))
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def list_partners(kube: KubeAPI) -> list[dict[str, Any]]:
    try:
        found = await _run(kube.custom.list_cluster_custom_object, PARTNER.group,
                           PARTNER.version, PARTNER.plural)
    except client.ApiException as exc:
        # CRD not installed, or no RBAC to list partners: no default partner can be used
        # (the operator's own default credentials keep their own namespace policy).
        if exc.status in (403, 404):
            return []
        raise
    return list(cast(dict[str, Any], found).get("items") or [])


async def namespace_labels(kube: KubeAPI, namespace: str) -> dict[str, str]:
    try:
        ns = await _run(kube.core.read_namespace, namespace)
    except client.ApiException as exc:
        if exc.status in (403, 404):  # unreadable labels match no selector (fail closed)
            return {}
        raise
    return dict(ns.metadata.labels or {})


def selector_matches(selector: NamespaceSelector, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics, except that an empty selector selects nothing
    (a partner opens to namespaces only by an explicit rule)."""
    if not selector.match_labels and not selector.match_expressions:
        return False
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for req in selector.match_expressions:
        present, value = req.key in labels, labels.get(req.key)
        ok = {
            "In": present and value in req.values,
            "NotIn": not present or value not in req.values,
            "Exists": present,
            "DoesNotExist": not present,
        }[req.operator]
        if not ok:
            return False
    return True


def partner_allows(spec: DatadogPartnerSpec, namespace: str, labels: dict[str, str]) -> bool:
    if namespace in spec.allowed_namespaces:
        return True
    return spec.namespace_selector is not None and selector_matches(spec.namespace_selector,
                                                                    labels)


def _policy_text(name: str, spec: DatadogPartnerSpec) -> str:
    names = ", ".join(spec.allowed_namespaces) or "none"
    selector = "set" if spec.namespace_selector is not None else "none"
    return (f"DatadogPartner {name} (allowedNamespaces: {names}; namespaceSelector: "
            f"{selector})")


def _not_allowed(namespace: str, policies: list[str], fix: str) -> Waiting:
    return Waiting(
        "PartnerNotAllowed",
        f"namespace {namespace} may not use the partner's keys: {'; '.join(policies)}. "
        f"No org is created. {fix}",
        delay=POLICY_RETRY, event=True,
    )


async def partner_from_object(kube: KubeAPI, body: dict[str, Any]) -> PartnerChoice:
    """The keys of a DatadogPartner (no policy check: callers check first)."""
    name = body["metadata"]["name"]
    spec = DatadogPartnerSpec.model_validate(body.get("spec") or {})
    ref = spec.credentials_secret_ref
    credentials = await credentials_from_secret(
        kube, ref.namespace, ref.name, f"keys of DatadogPartner {name}")
    return PartnerChoice(f"{PARTNER.kind}/{name}", credentials, spec.site,
                         f"Secret {ref.namespace}/{ref.name}")


async def operator_default(kube: KubeAPI, settings: OperatorSettings) -> PartnerChoice | None:
    """The operator's own default credentials (--partner-secret or env keys), if any."""
    ref = settings.partner_secret_ref
    if ref is not None:
        credentials = await credentials_from_secret(kube, ref[0], ref[1],
                                                    "default partner credentials")
        return PartnerChoice(OPERATOR_DEFAULT, credentials, None, f"Secret {ref[0]}/{ref[1]}")
    if settings.partner_api_key and settings.partner_app_key:
        return PartnerChoice(
            OPERATOR_DEFAULT,
            Credentials(api_key=SecretStr(settings.partner_api_key.get_secret_value()),
                        app_key=SecretStr(settings.partner_app_key.get_secret_value())),
            None, "the operator's environment")
    return None


async def resolve_partner(
    kube: KubeAPI, settings: OperatorSettings, namespace: str, spec: Any
) -> PartnerChoice:
    """The partner a DatadogClientOrg may use, or Waiting/Blocked saying why none.

    Order: spec.partnerCredentialsSecretRef (legacy, own namespace), spec.partnerRef, the
    default DatadogPartner, the operator's default credentials. Every choice but the first
    is checked against its namespace policy before any key is read.
    """
    legacy = getattr(spec, "partner_credentials_secret_ref", None)
    if legacy is not None:
        credentials = await credentials_from_secret(kube, namespace, legacy.name,
                                                    "partner credentials")
        return PartnerChoice(f"Secret/{legacy.name}", credentials, None,
                             f"Secret {namespace}/{legacy.name}")
    site = getattr(spec, "site", None)
    ref = getattr(spec, "partner_ref", None)
    if ref is not None:
        body = await get_partner(kube, ref.name)
        if body is None:
            raise Waiting("PartnerNotFound",
                          f"DatadogPartner {ref.name} (spec.partnerRef) does not exist; a "
                          "cluster admin creates it, or fix spec.partnerRef.name",
                          delay=POLICY_RETRY)
        return await _checked(kube, body, namespace, site)
    defaults = [p for p in await list_partners(kube) if (p.get("spec") or {}).get("default")]
    if len(defaults) > 1:
        names = ", ".join(sorted(p["metadata"]["name"] for p in defaults))
        raise Waiting("PartnerAmbiguous",
                      f"more than one DatadogPartner is marked default ({names}); a cluster "
                      "admin keeps one, or set spec.partnerRef", delay=POLICY_RETRY)
    policies: list[str] = []
    if defaults:
        body = defaults[0]
        spec_p = DatadogPartnerSpec.model_validate(body.get("spec") or {})
        if partner_allows(spec_p, namespace, await namespace_labels(kube, namespace)):
            return await _checked(kube, body, namespace, site)
        policies.append(f"the default {_policy_text(body['metadata']['name'], spec_p)}")
    fallback_configured = bool(settings.partner_secret_ref or (
        settings.partner_api_key and settings.partner_app_key))
    if fallback_configured:
        if settings.default_partner_allows(namespace):
            choice = await operator_default(kube, settings)
            assert choice is not None
            return choice
        allowed = (", ".join(settings.default_partner_namespaces)
                   or "the namespace of --partner-secret only")
        policies.append(f"the operator's default credentials (allowed namespaces: {allowed})")
    if policies:
        raise _not_allowed(
            namespace, policies,
            "A cluster admin allows this namespace in a DatadogPartner (spec.allowedNamespaces "
            "or spec.namespaceSelector) and you set spec.partnerRef, or runs the operator "
            f"with --default-partner-namespace {namespace}.")
    raise Waiting(
        "CredentialsMissing",
        "no partner for this client: set spec.partnerRef to a DatadogPartner that allows "
        "this namespace (or create a default one), or run the operator with "
        "--partner-secret namespace/name (or DDMSP_PARTNER_API_KEY and "
        "DDMSP_PARTNER_APP_KEY) and --default-partner-namespace",
        delay=30,
    )


async def _checked(kube: KubeAPI, body: dict[str, Any], namespace: str,
                   site: str | None) -> PartnerChoice:
    name = body["metadata"]["name"]
    spec = DatadogPartnerSpec.model_validate(body.get("spec") or {})
    if not partner_allows(spec, namespace, await namespace_labels(kube, namespace)):
        raise _not_allowed(
            namespace, [_policy_text(name, spec)],
            f"A cluster admin adds {namespace} to DatadogPartner {name} spec.allowedNamespaces "
            "(or labels the namespace to match its spec.namespaceSelector); the operator "
            "re-checks by itself.")
    if site is not None and spec.site != site:
        raise Blocked("PartnerSiteMismatch",
                      f"DatadogPartner {name} is on {spec.site} but spec.site is {site}: orgs "
                      "are created on the partner's site; use a partner on the same site")
    return await partner_from_object(kube, body)


async def credentials_for_key(
    kube: KubeAPI, settings: OperatorSettings, key: str, namespace: str
) -> PartnerChoice | None:
    """The partner recorded in a client's ``status.partner`` (for the cost refresher)."""
    if key == OPERATOR_DEFAULT:
        return await operator_default(kube, settings)
    kind, _, name = key.partition("/")
    if kind == PARTNER.kind:
        body = await get_partner(kube, name)
        return None if body is None else await partner_from_object(kube, body)
    if kind == "Secret":
        data = await kube.read_secret_data(namespace, name) or {}
        if not data.get(API_KEY) or not data.get(APP_KEY):
            return None
        credentials = await credentials_from_secret(kube, namespace, name, "partner credentials")
        return PartnerChoice(key, credentials, None, f"Secret {namespace}/{name}")
    return None
