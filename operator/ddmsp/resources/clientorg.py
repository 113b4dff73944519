"""DatadogClientOrg: one Datadog MSP client, its org(s), keys and provisioning phase."""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ddmsp.resources.apikey import Rotation
from ddmsp.resources.base import KubeModel, Rule, cel, immutable
from ddmsp.resources.common import (
    DNS_SUBDOMAIN,
    ManagedStatus,
    ManagementPolicy,
    SecretReference,
    Site,
    text_line,
)
from ddmsp.resources.kinds import KindInfo
from ddmsp.resources.opsconnection import OpsConnectionStatus, OpsOrgConnection
from ddmsp.resources.orgsettings import OrgSettingsSpec

Provisioning = Literal["ChildOrg", "SpinOff"]
PUBLIC_ID = r"^[A-Za-z0-9][A-Za-z0-9-]*$"
MAX_MONTHLY_LIMIT = 1_000_000_000  # USD; anything above is a typo, not a budget
# Secret names are DNS subdomains (at most 253); a SpinOff parent's keys go to the client
# Secret's name + "-parent", and the default client Secret is <metadata.name> + DEFAULT_SUFFIX.
PARENT_SUFFIX = "-parent"
DEFAULT_SUFFIX = "-datadog-credentials"
SECRET_NAME_MAX = 253 - len(PARENT_SUFFIX)
NAME_MAX = SECRET_NAME_MAX - len(DEFAULT_SUFFIX)


def _strictly_increasing(values: list[int]) -> bool:
    return all(a < b for a, b in pairwise(values))


INCREASING_THRESHOLDS = Rule(
    "self.isSorted() && self.all(x, self.exists_one(y, y == x))",
    "spec.budget.warnAtPercent must list each percentage once, in increasing order "
    "(e.g. [80, 100]): sort the list and remove duplicates",
    _strictly_increasing,
)
Percent = Annotated[int, Field(ge=1, le=1000)]


class Registration(KubeModel):
    """The partner's manual Datadog Partner Network (DPN) registration step (SpinOff only)."""

    confirmed: bool = Field(
        default=False,
        description="Set to true after registering the spun-off parent org in the DPN portal "
        "(the Ready condition and an event name the org to register), together with "
        "orgPublicId. The operator then creates the client's working org under it.",
    )
    org_public_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=PUBLIC_ID,
        description="The public ID of the org you registered in the DPN portal. The "
        "confirmation counts only when this names the spun-off parent org in "
        "status.parentOrg.publicId, so a `confirmed: true` committed to Git before the org "
        "existed can never skip the registration. `kubectl ddmsp confirm-registration NAME` "
        "sets both fields.",
    )
    deal_id: Annotated[str, text_line("spec.registration.dealId", "a DPN deal ID")] | None = Field(
        default=None,
        max_length=64,
        description="Optional DPN deal or registration ID, recorded in status for audit.",
    )


class Adopt(KubeModel):
    """Take over an existing org instead of creating one."""

    public_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=PUBLIC_ID,
        description="The public_id of the existing Datadog org to manage.",
    )
    credentials_secret_ref: SecretReference = Field(
        description="A Secret holding that org's own `api-key` and `app-key`. The operator "
        "reads it and never modifies it or revokes its keys; it drives the org with them "
        "until the org is handed over to a service account of the operator's, whose key "
        "goes to the operator's own Secret (see spec.credentials.useAdoptSecret).",
    )


class CredentialsPolicy(KubeModel):
    """How the operator holds its own key in the client org (docs/credentials.md)."""

    keep_bootstrap_key: bool = Field(
        default=False,
        description="The operator drives the client org with an application key owned by a "
        "service account it creates there (Datadog Admin Role), not by the person whose keys "
        "created the org. false (default, the safe hand-over): once the service account's "
        "key is proven and stored in the credentials Secret, the bootstrap application key "
        "(the one the org create returned, owned by that person) is revoked. true: the "
        "service account and its key are still used, but the bootstrap key is left valid "
        "(it stops working anyway when its owner is disabled). Setting it back to false "
        "revokes the bootstrap key on the next pass.",
    )
    rotation: Rotation | None = Field(
        default=None,
        description="Rotate the operator's own application key (the service account's, in "
        "the credentials Secret) every `every`, e.g. `2160h` (90 days): a new key is made, "
        "proven, written to the Secret, and the replaced one is revoked after "
        "`gracePeriod`. Unset: the DatadogPartner's spec.defaults.credentials.rotation, "
        "else only on demand (`kubectl annotate ddorg NAME ddmsp.io/rotate-now=$(date -u "
        "+%FT%TZ)`). See docs/credentials.md, Rotation.",
    )
    use_adopt_secret: bool = Field(
        default=False,
        description="Adopted orgs (spec.adopt) only. false (default, the hand-over): the "
        "operator creates a service account of its own in the org, as for an org it created, "
        "and drives the org with that account's key in its own credentials Secret "
        "(spec.credentialsSecretName, default `<metadata.name>-datadog-credentials`); the "
        "adopt Secret is only the bootstrap: never written, its keys never revoked. true: the "
        "operator keeps driving the org with the adopt Secret's keys and creates nothing. "
        "Read only before a hand-over starts: once the operator's Secret holds the service "
        "account's key, that Secret stays in use (the adopt Secret's key may be revoked by "
        "then). ObserveOnly never hands over. See docs/credentials.md, Adopted orgs.",
    )


class PartnerReference(KubeModel):
    """A cluster-scoped DatadogPartner."""

    name: str = Field(
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
        description="Name of the DatadogPartner whose keys create this client's org(s). The "
        "partner must allow this namespace (spec.allowedNamespaces or "
        "spec.namespaceSelector), else the object reports PartnerNotAllowed and no org is "
        "created.",
    )


class Budget(KubeModel):
    """A monthly cost budget, judged on the month-to-date estimate and on the projection."""

    # Whole-number bounds on purpose: the API server compares an integer value with a
    # fractional minimum after truncating the bound (0 passed `minimum: 0.01`), so only
    # integral bounds mean the same to admission and to the model.
    monthly_limit: float = Field(
        ge=1,
        le=MAX_MONTHLY_LIMIT,
        description="The monthly budget in USD (the currency of Datadog's cost API), from "
        "1 to 1,000,000,000.",
    )
    warn_at_percent: Annotated[list[Percent], INCREASING_THRESHOLDS] = Field(
        default_factory=lambda: [80, 100],
        min_length=1, max_length=10,
        description="Percentages of monthlyLimit at which to warn, each once and in "
        "increasing order, from 1 to 1000: an event is posted the first time the estimate "
        "or the projection crosses each one in a month (once per month, also across "
        "operator restarts). Default [80, 100].",
    )


class DatadogClientOrgSpec(KubeModel):
    """Desired state of one MSP client's Datadog organization(s)."""

    display_name: Annotated[str, text_line("spec.displayName", "the org's name in Datadog")] = (
        Field(
            min_length=1,
            max_length=32,
            description="The org name shown in Datadog (1-32 characters, as the API allows; "
            "one line, no leading or trailing spaces). Changing it renames the client's org.",
        )
    )
    provisioning: Provisioning = Field(
        default="ChildOrg",
        description="ChildOrg: one child org under the partner's org. SpinOff: the DPN flow "
        "(create a parent org, spin it off, wait for the partner's DPN registration, then "
        "create the client's org under it). Immutable.",
        json_schema_extra=immutable(
            "spec.provisioning", "create a new DatadogClientOrg for a different mode"
        ),
    )
    site: Site = Field(
        default="datadoghq.com",
        description="The Datadog site the orgs live on. Immutable: orgs cannot move sites.",
        json_schema_extra=immutable("spec.site", "orgs cannot move between Datadog sites"),
    )
    partner_ref: PartnerReference | None = Field(
        default=None,
        description="The DatadogPartner (cluster-scoped) whose keys create the org(s). When "
        "absent (and partnerCredentialsSecretRef too), the default DatadogPartner is used if "
        "it allows this namespace, else the operator's own default credentials if the "
        "operator allows this namespace (--default-partner-namespace).",
    )
    partner_credentials_secret_ref: SecretReference | None = Field(
        default=None,
        description="Legacy: a Secret in this namespace with the partner org's `api-key` and "
        "`app-key` (keys in the object's own namespace are that namespace's own business). "
        "Prefer spec.partnerRef. Cannot be combined with spec.partnerRef.",
    )
    budget: Budget | None = Field(
        default=None,
        description="A monthly cost budget: conditions BudgetWarning and BudgetExceeded, an "
        "event per threshold per month, and the ddmsp_client_budget_ratio metric.",
    )
    registration: Registration | None = Field(
        default=None,
        description="DPN registration of the spun-off parent org (SpinOff only).",
    )
    adopt: Adopt | None = Field(
        default=None,
        description="Manage an existing org instead of creating one. Cannot be changed once "
        "set; it can be removed (an org already recorded in status stays managed: the record, "
        "not this field, is the object's identity).",
    )
    credentials_secret_name: str | None = Field(
        default=None,
        max_length=SECRET_NAME_MAX,
        pattern=DNS_SUBDOMAIN,
        description="Name of the Secret the client org's keys are written to (keys "
        "`api-key`, `app-key`, `site`, `org-public-id`). Default "
        "`<metadata.name>-datadog-credentials`; a SpinOff parent's keys go to the same name "
        "with `-parent` appended. The Secret survives deletion of this resource. Immutable.",
    )
    credentials: CredentialsPolicy = Field(
        default_factory=CredentialsPolicy,
        description="The operator's own identity in the client org: a service account "
        "owning the application key in the credentials Secret (see keepBootstrapKey).",
    )
    deletion_policy: Literal["Orphan"] = Field(
        default="Orphan",
        description="What deleting this resource does to the org. Datadog orgs cannot be "
        "deleted through the API, so the only policy is Orphan: the org and its "
        "credentials Secret stay.",
    )
    management_policy: ManagementPolicy = Field(
        default="Full",
        description="Full: create and correct the org. ObserveOnly: report what exists and "
        "any drift, change nothing (use with spec.adopt).",
    )
    settings: OrgSettingsSpec | None = Field(
        default=None,
        description="Organization settings and org configs of the client org, applied with "
        "the org's own keys and kept as written here (drift is corrected, or only reported "
        "under ObserveOnly). A setting left out is left as it is in Datadog. SAML settings "
        "belong to a DatadogSAMLConfig.",
    )
    ops_org_connection: OpsOrgConnection | None = Field(
        default=None,
        description="Connect this client org to the partner's own org (e.g. the MSP's "
        "operations org), which then sees its metrics and/or logs. The operator keeps a "
        "DatadogOrgConnection named `<metadata.name>-ops-connection` (owned by this object, "
        "sinkPartner: true) that does the Datadog work and reports its own conditions; "
        "removing this field deletes it. Datadog connects only orgs of one account on one "
        "site: a SpinOff client's connection reports NotSameAccount.",
    )

    model_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            "!(has(self.partnerRef) && has(self.partnerCredentialsSecretRef))",
            "set spec.partnerRef or the legacy spec.partnerCredentialsSecretRef, not both",
            lambda s: s.partner_ref is None or s.partner_credentials_secret_ref is None,
            ".partnerRef",
        ),
        Rule(
            "!has(self.registration) || self.provisioning == 'SpinOff'",
            "spec.registration applies only to provisioning: SpinOff; remove it or use SpinOff",
            lambda s: s.registration is None or s.provisioning == "SpinOff",
            ".registration",
        ),
    )


# Transition rules: only admission sees the stored object, so they live in the schema only.
SPEC_RULES = [
    cel(
        "!has(oldSelf.adopt) || !has(self.adopt) || self.adopt == oldSelf.adopt",
        "spec.adopt cannot be changed once set: remove it, or create a new resource to adopt "
        "a different org",
        ".adopt",
    ),
    cel(
        "has(self.credentialsSecretName) == has(oldSelf.credentialsSecretName) && "
        "(!has(self.credentialsSecretName) || "
        "self.credentialsSecretName == oldSelf.credentialsSecretName)",
        "spec.credentialsSecretName is immutable: the org's keys already live in that Secret",
        ".credentialsSecretName",
    ),
]


class ServiceAccountRecord(KubeModel):
    """The operator's service account in an org and the IDs (never values) of its keys."""

    id: str | None = Field(default=None, description="The service account's user ID.")
    email: str | None = Field(
        default=None, description="The service account's email (made by the operator, "
        "one per org; it is how an interrupted create is recognised).")
    application_key_id: str | None = Field(
        default=None, description="ID of the service account's application key that the "
        "operator uses (the one in the credentials Secret once handedOverAt is set).")
    handed_over_at: str | None = Field(
        default=None, description="When the credentials Secret's app-key became the "
        "service account's key (after the key was proven to work).")
    bootstrap_key_id: str | None = Field(
        default=None, description="ID of the bootstrap application key (the org create's, "
        "owned by a person), found by its last four characters in that person's key list.")
    bootstrap_key_revoked: bool | None = Field(
        default=None, description="True once the bootstrap key was revoked (never before "
        "the service account's key was stored and proven).")
    bootstrap_key_revoked_at: str | None = Field(
        default=None, description="When the bootstrap key was revoked.")
    note: str | None = Field(
        default=None, description="Why a step was skipped (e.g. the bootstrap key could "
        "not be identified).")
    application_key_created_at: str | None = Field(
        default=None, description="When the application key in use was made (RFC 3339); "
        "the rotation schedule counts from it.")
    next_rotation: str | None = Field(
        default=None, description="When the key's next scheduled rotation is due "
        "(RFC 3339); unset without a rotation schedule.")
    last_rotation: str | None = Field(
        default=None, description="When the key was last replaced by a rotation.")
    previous_application_key_id: str | None = Field(
        default=None, description="The replaced key, still valid until previousRevokeAt.")
    previous_revoke_at: str | None = Field(
        default=None, description="When the replaced key is revoked (RFC 3339).")
    rotate_now_handled: str | None = Field(
        default=None, description="The value of the ddmsp.io/rotate-now annotation last "
        "acted on: a new value rotates once.")
    skipped: str | None = Field(
        default=None, description="Adopted orgs: why the hand-over did not start (a reason "
        "word, e.g. ServiceAccountExists; note says what to do). It is tried again on the "
        "next spec change or ddmsp.io/retry annotation.")
    skipped_for: str | None = Field(
        default=None, description="The generation and ddmsp.io/retry value the skip was "
        "decided for (`<generation>/<retry>`).")


class OrgRecord(KubeModel):
    """An org the operator made or adopted."""

    public_id: str = Field(description="The org's public_id in Datadog.")
    name: str = Field(default="", description="The org's name in Datadog.")
    created: str | None = Field(default=None, description="When the org was created.")
    credentials_secret: str | None = Field(
        default=None, description="The Secret (same namespace) holding the keys the operator "
        "uses for this org."
    )
    adopted: bool | None = Field(default=None, description="True when adopted, not created.")
    adopt_secret: str | None = Field(
        default=None, description="Adopted orgs: the Secret spec.adopt.credentialsSecretRef "
        "names (yours: read, never written). It is credentialsSecret until the org is handed "
        "over to the operator's service account; from then on the operator no longer uses it."
    )
    spun_off: bool | None = Field(
        default=None, description="True once the org was spun off from the partner's org."
    )
    spin_off_requested_at: str | None = Field(
        default=None,
        description="When the operator first asked Datadog to spin the org off (recorded "
        "before the call, so a crash in between is resolved by asking again, never skipped).",
    )
    spun_off_at: str | None = Field(
        default=None, description="When Datadog confirmed the spin-off."
    )
    created_under: str | None = Field(
        default=None,
        description="The public ID of the org whose keys created this one (the partner's org, "
        "or the spun-off parent).",
    )
    service_account: ServiceAccountRecord | None = Field(
        default=None,
        description="The operator's service account in this org and its key IDs (client "
        "org only; see spec.credentials).",
    )


class RegistrationStatus(KubeModel):
    """Progress of the DPN registration step."""

    requested_at: str | None = Field(
        default=None, description="When the operator asked for the registration."
    )
    confirmed_at: str | None = Field(
        default=None, description="When a confirmation naming the parent org was first seen."
    )
    deal_id: str | None = Field(default=None, description="The DPN deal ID, when given.")
    org_public_id: str | None = Field(
        default=None, description="The public ID of the org the confirmation named."
    )
    org_to_register: str | None = Field(
        default=None, description="Name and public ID of the org to register in DPN."
    )


class ProductCost(KubeModel):
    """One product's share of the month-to-date estimate."""

    product: str = Field(description="The product name as Datadog's cost API reports it.")
    cost: str = Field(description="Its month-to-date estimated cost, USD.")


class CostRecord(KubeModel):
    """The client org's Datadog cost, as the partner admin org's cost views report it."""

    month: str = Field(description="The month the estimate covers (YYYY-MM).")
    estimated_total: str = Field(
        description="Estimated cost so far this month, in USD, as a decimal string."
    )
    estimated_at: str | None = Field(
        default=None, description="When the estimate was read (RFC 3339)."
    )
    projected_total: str | None = Field(
        default=None, description="Projected cost at the end of this month, USD."
    )
    projected_at: str | None = Field(
        default=None, description="When the projection was read (RFC 3339)."
    )
    last_month: str | None = Field(
        default=None, description="The previous month (YYYY-MM) of lastMonthTotal."
    )
    last_month_total: str | None = Field(
        default=None, description="Last month's historical cost, USD (Datadog publishes it "
        "from the middle of the following month; absent until then)."
    )
    last_month_at: str | None = Field(
        default=None, description="When last month's cost was read (RFC 3339)."
    )
    top_products: list[ProductCost] = Field(
        default_factory=list, description="The products with the highest estimated cost."
    )
    updated_at: str = Field(description="When any of these figures last changed (RFC 3339).")


class UsageRecord(KubeModel):
    """This month's main usage figures of the client org, as the usage API reports them."""

    month: str = Field(description="The month the figures cover (YYYY-MM).")
    read_at: str = Field(description="When the figures were read (RFC 3339).")
    values: dict[str, float] = Field(
        default_factory=dict,
        description="Usage figures by the API's own field names (e.g. infra_host_top99p: "
        "hosts, container_avg: containers, custom_ts_avg: custom metrics, "
        "ingested_events_bytes: ingested logs).",
    )


class BudgetStatus(KubeModel):
    """Where the client stands against spec.budget this month."""

    month: str = Field(description="The month judged (YYYY-MM); notifications reset monthly.")
    estimated_percent: str | None = Field(
        default=None, description="Month-to-date estimate as a percentage of the budget."
    )
    projected_percent: str | None = Field(
        default=None, description="Projected month-end cost as a percentage of the budget "
        "(absent until Datadog projects the month, from about the 12th)."
    )
    percent: str | None = Field(
        default=None, description="The one figure shown in `kubectl get -o wide` and "
        "`ddmsp report`: the projected percentage once Datadog projects the month, before "
        "that the month-to-date estimate's (see basis)."
    )
    basis: Literal["estimated", "projected"] | None = Field(
        default=None, description="Which cost `percent` is based on."
    )
    notified: list[str] = Field(
        default_factory=list,
        description="Thresholds already announced this month, as `<estimated|projected>:"
        "<percent>`: each is announced once per month, also across restarts.",
    )


class DatadogClientOrgStatus(ManagedStatus):
    """Observed state; written by the operator only."""

    phase: str | None = Field(
        default=None,
        max_length=32,
        description="A one-word summary for humans (programs should read conditions): "
        "Pending, Creating (ChildOrg); CreatingParent, SpinningOff, AwaitingRegistration, "
        "CreatingClientOrg (SpinOff); then Ready. Also Paused, Drifted (ObserveOnly), Stalled.",
    )
    parent_org: OrgRecord | None = Field(
        default=None, description="SpinOff: the org created under the partner and spun off."
    )
    client_org: OrgRecord | None = Field(
        default=None, description="The client's working org (ChildOrg: the only org)."
    )
    registration: RegistrationStatus | None = Field(
        default=None, description="SpinOff: the DPN registration step."
    )
    partner: str | None = Field(
        default=None,
        description="The partner whose keys serve this client: `DatadogPartner/<name>`, "
        "`Secret/<name>` (legacy partnerCredentialsSecretRef) or `operator-default`.",
    )
    cost: CostRecord | None = Field(
        default=None,
        description="Cost of the client org from the partner admin org's cost views "
        "(one refresh per partner for all its clients; interval --cost-refresh-interval).",
    )
    usage: UsageRecord | None = Field(
        default=None, description="This month's usage from the partner admin org's view."
    )
    budget: BudgetStatus | None = Field(
        default=None, description="Standing against spec.budget this month."
    )
    settings_sources: dict[str, str] | None = Field(
        default=None,
        description="Where each applied organization setting comes from, by its "
        "spec.settings field name: `spec` (this object's spec.settings) or "
        "`DatadogPartner/<name>` (that partner's spec.defaults.settings).",
    )
    ops_connection: OpsConnectionStatus | None = Field(
        default=None,
        description="The DatadogOrgConnection that carries spec.opsOrgConnection.",
    )


def _kind_info() -> KindInfo:
    return KindInfo(
        kind="DatadogClientOrg",
        plural="datadogclientorgs",
        short_names=("ddorg",),
        spec_model=DatadogClientOrgSpec,
        status_model=DatadogClientOrgStatus,
        description="One Datadog MSP client: creates the client's org (directly, or through "
        "the DPN spin-off flow), keeps its keys in a Secret and reports its phase.",
        printer_columns=(
            {"name": "Mode", "type": "string", "jsonPath": ".spec.provisioning"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Org ID", "type": "string", "jsonPath": ".status.clientOrg.publicId"},
            {"name": "Cost (USD MTD)", "type": "string", "priority": 1,
             "jsonPath": ".status.cost.estimatedTotal"},
            {"name": "Projected", "type": "string", "priority": 1,
             "jsonPath": ".status.cost.projectedTotal"},
            {"name": "Budget %", "type": "string", "priority": 1,
             "jsonPath": ".status.budget.percent"},
        ),
        spec_rules=tuple(SPEC_RULES),
        # Only admission sees metadata.name: the Secrets named after it must stay valid names.
        extra={"root_rules": (cel(
            f"has(self.spec.credentialsSecretName) || self.metadata.name.size() <= {NAME_MAX}",
            f"metadata.name longer than {NAME_MAX} characters makes the default Secret name "
            f"(<name>{DEFAULT_SUFFIX}{PARENT_SUFFIX}) longer than Kubernetes allows: use a "
            "shorter name or set spec.credentialsSecretName",
        ),)},
    )


CLIENT_ORG = _kind_info()
