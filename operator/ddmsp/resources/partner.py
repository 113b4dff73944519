"""DatadogPartner: the home of an MSP partner's keys and the policy of who may spend them.

Cluster-scoped and meant for cluster admins only (in the spirit of Crossplane's
ProviderConfig): the partner's keys create billable orgs, so a DatadogClientOrg may use
them only from a namespace this object allows.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ddmsp.resources.apikey import Rotation
from ddmsp.resources.base import KubeModel, Rule
from ddmsp.resources.common import DNS_SUBDOMAIN, ManagedStatus, Site
from ddmsp.resources.kinds import KindInfo
from ddmsp.resources.orgsettings import OrgSettingsSpec

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
NamespaceName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]


class NamespacedSecretReference(KubeModel):
    """A Secret in a named namespace (the partner's keys usually live in the operator's)."""

    namespace: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL,
        description="Namespace of the Secret.",
    )
    name: str = Field(
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
        description="Name of the Secret. It must hold the keys `api-key` and `app-key`: an "
        "API key and an application key of the partner's admin org.",
    )


class LabelSelectorRequirement(KubeModel):
    """One `matchExpressions` entry, as in any Kubernetes label selector."""

    key: str = Field(min_length=1, max_length=317, description="The label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="In, NotIn, Exists or DoesNotExist."
    )
    values: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Values for In and NotIn; must be empty for Exists and DoesNotExist.",
    )

    model_rules: ClassVar[tuple[Rule, ...]] = (Rule(
        "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : "
        "(!has(self.values) || size(self.values) == 0)",
        "spec.namespaceSelector.matchExpressions: operators In and NotIn need values; "
        "Exists and DoesNotExist take none (as in any Kubernetes label selector)",
        lambda s: bool(s.values) == (s.operator in ("In", "NotIn")),
    ),)


class NamespaceSelector(KubeModel):
    """Selects namespaces by their labels (an empty selector selects none here)."""

    match_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels a namespace must carry, all of them."
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, description="Label requirements a namespace must meet, all of them."
    )


class PartnerDefaults(KubeModel):
    """What every client org using this partner gets unless its own spec says otherwise."""

    settings: OrgSettingsSpec | None = Field(
        default=None,
        description="Default organization settings and org configs (the fields of a "
        "DatadogClientOrg's spec.settings) for every client org using this partner. A "
        "client's own spec.settings overrides them field by field; its "
        "status.settingsSources says where each applied value came from. A change reaches "
        "each client org at its next pass (--drift-interval, jittered per object).",
    )
    credentials: CredentialsDefaults | None = Field(
        default=None,
        description="Defaults for the operator's own key in each client org (rotation).",
    )


class CredentialsDefaults(KubeModel):
    """How the operator's own key in each client org is kept, unless the client says."""

    rotation: Rotation | None = Field(
        default=None,
        description="Default rotation of the operator's own application key in every "
        "client org using this partner (a DatadogClientOrg's spec.credentials.rotation "
        "overrides it as a whole).",
    )


class DatadogPartnerSpec(KubeModel):
    """The partner's keys, site, and which namespaces may create orgs with them."""

    credentials_secret_ref: NamespacedSecretReference = Field(
        description="The Secret with the partner admin org's `api-key` and `app-key`. Used to "
        "create and spin off client orgs and to read cost and usage for all of them. The "
        "keys need the Datadog permissions org_management (provisioning), usage_read and "
        "billing_read (cost); status.missingPermissions lists what they lack.",
    )
    site: Site = Field(default="datadoghq.com", description="The Datadog site of the partner org.")
    allowed_namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=1000,
        description="Namespaces whose DatadogClientOrgs may use these keys, by name. A "
        "namespace is allowed when it is listed here OR matches namespaceSelector. With "
        "neither, no namespace may use this partner.",
    )
    namespace_selector: NamespaceSelector | None = Field(
        default=None,
        description="Namespaces whose DatadogClientOrgs may use these keys, by label "
        "(matchLabels and matchExpressions, as in any label selector). An empty selector "
        "({}) selects no namespace; list names in allowedNamespaces to allow specific ones.",
    )
    default: bool = Field(
        default=False,
        description="This partner serves every DatadogClientOrg without spec.partnerRef (and "
        "without the legacy spec.partnerCredentialsSecretRef) in an allowed namespace. At "
        "most one partner may be the default: with two, no default is used and both report "
        "a condition.",
    )
    defaults: PartnerDefaults | None = Field(
        default=None,
        description="Fleet defaults applied to every client org that uses this partner.",
    )


class ContractCost(KubeModel):
    """Cost summed over one Datadog account (contract) of the partner's view."""

    account: str = Field(description="The account (contract) name or public ID.")
    orgs: int = Field(default=0, description="Customer orgs counted in this account.")
    estimated_total: str = Field(default="0.00", description="Month-to-date estimate, USD.")
    projected_total: str | None = Field(default=None, description="Projected month end, USD.")


class PartnerCost(KubeModel):
    """Partner-wide cost and usage totals from the last refresh."""

    month: str | None = Field(default=None, description="The month the figures cover (YYYY-MM).")
    estimated_total: str | None = Field(
        default=None, description="Month-to-date estimate over all customer orgs, USD."
    )
    projected_total: str | None = Field(
        default=None, description="Projected month-end cost over all customer orgs, USD."
    )
    last_month_total: str | None = Field(
        default=None, description="Last month's historical cost over all customer orgs, USD "
        "(available from the middle of this month)."
    )
    orgs: int | None = Field(default=None, description="Customer orgs in the partner's view.")
    contracts: list[ContractCost] = Field(
        default_factory=list, description="Sums per account (contract)."
    )
    refreshed_at: str | None = Field(
        default=None, description="When cost and usage were last read (RFC 3339)."
    )
    calls: int | None = Field(
        default=None, description="Datadog API calls the last refresh made for this partner."
    )


class DatadogPartnerStatus(ManagedStatus):
    """Observed state of the partner's keys; written by the operator only."""

    phase: str | None = Field(
        default=None,
        max_length=32,
        description="A one-word summary for humans (programs should read conditions): "
        "Ready, Pending (a check waits to be retried), Paused, Stalled.",
    )

    keys_valid: bool | None = Field(
        default=None, description="True when Datadog accepted the API and application keys."
    )
    missing_permissions: list[str] = Field(
        default_factory=list,
        description="Datadog permissions the keys were refused for: org_management "
        "(provisioning), usage_read and billing_read (cost and usage).",
    )
    org_public_id: str | None = Field(
        default=None, description="Public ID of the partner org the keys belong to."
    )
    checked_at: str | None = Field(default=None, description="When the keys were last checked.")
    clients: int | None = Field(
        default=None, description="DatadogClientOrgs currently using this partner."
    )
    cost: PartnerCost | None = Field(
        default=None, description="Partner-wide cost and usage from the last refresh."
    )


def _kind_info() -> KindInfo:
    return KindInfo(
        kind="DatadogPartner",
        plural="datadogpartners",
        short_names=("ddpartner",),
        spec_model=DatadogPartnerSpec,
        status_model=DatadogPartnerStatus,
        description="An MSP partner's Datadog keys (by Secret), site and the policy of which "
        "namespaces' DatadogClientOrgs may create orgs with them. Cluster-scoped: for "
        "cluster admins only.",
        printer_columns=(
            {"name": "Site", "type": "string", "jsonPath": ".spec.site"},
            {"name": "Default", "type": "boolean", "jsonPath": ".spec.default"},
            {"name": "Keys Valid", "type": "boolean", "jsonPath": ".status.keysValid"},
            {"name": "Missing", "type": "string",
             "jsonPath": ".status.missingPermissions"},
            {"name": "Clients", "type": "integer", "jsonPath": ".status.clients"},
            {"name": "Cost (USD MTD)", "type": "string",
             "jsonPath": ".status.cost.estimatedTotal"},
            {"name": "Projected", "type": "string", "priority": 1,
             "jsonPath": ".status.cost.projectedTotal"},
            {"name": "Refreshed", "type": "date", "priority": 1,
             "jsonPath": ".status.cost.refreshedAt"},
        ),
        scope="Cluster",
    )


PARTNER = _kind_info()
