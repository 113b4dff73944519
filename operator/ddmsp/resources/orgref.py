"""How a DatadogRole or DatadogSAMLConfig names the org it lives in."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ddmsp.resources.base import KubeModel, Rule
from ddmsp.resources.common import DNS_SUBDOMAIN, SecretReference, Site


class OrgReference(KubeModel):
    """A DatadogClientOrg in the same namespace; its credentials Secret is used."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Name of a DatadogClientOrg in the same namespace. The operator waits "
        "(condition Ready=False, reason OrgNotReady) until that org is Ready.",
    )
    org: Literal["client", "parent"] = Field(
        default="client",
        description="Which of its orgs: `client` (the client's working org, the default) or "
        "`parent` (SpinOff only: the spun-off parent org).",
    )


class OrgTargetFields(KubeModel):
    """Spec fields shared by every kind that acts inside one Datadog org."""

    org_ref: OrgReference | None = Field(
        default=None,
        description="The DatadogClientOrg (same namespace) whose org this applies to. Set "
        "exactly one of orgRef and credentialsSecretRef.",
    )
    credentials_secret_ref: SecretReference | None = Field(
        default=None,
        description="For an org this cluster does not manage: a Secret in this namespace with "
        "that org's own `api-key` and `app-key` (and optionally `org-public-id` and `site`). "
        "Set exactly one of orgRef and credentialsSecretRef.",
    )
    site: Site | None = Field(
        default=None,
        description="The Datadog site, with credentialsSecretRef only (default: the Secret's "
        "`site` key, else datadoghq.com). With orgRef the DatadogClientOrg's site is used.",
    )


    model_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            "has(self.orgRef) != has(self.credentialsSecretRef)",
            "set exactly one of spec.orgRef (a DatadogClientOrg in this namespace) and "
            "spec.credentialsSecretRef (a Secret with the org's own keys)",
            lambda s: (s.org_ref is None) != (s.credentials_secret_ref is None),
        ),
        Rule(
            "!has(self.site) || has(self.credentialsSecretRef)",
            "spec.site applies only with spec.credentialsSecretRef: with spec.orgRef the "
            "DatadogClientOrg's site is used; remove spec.site",
            lambda s: s.site is None or s.credentials_secret_ref is not None,
            ".site",
        ),
    )


# The same rules as schema entries, for kinds that still list them in KindInfo.spec_rules
# (the generator emits each rule once).
ORG_TARGET_RULES = tuple(r.schema_entry() for r in OrgTargetFields.model_rules)
