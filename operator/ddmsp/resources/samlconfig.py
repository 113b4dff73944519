"""DatadogSAMLConfig: SAML single sign-on of one Datadog org (IdP metadata, settings, mappings)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ddmsp.resources.base import KubeModel, Rule, pattern_rule
from ddmsp.resources.common import (
    CONTROL,
    DNS_SUBDOMAIN,
    SPACE,
    ManagedStatus,
    ManagementPolicy,
    text_line,
)
from ddmsp.resources.kinds import KindInfo
from ddmsp.resources.orgref import OrgTargetFields
from ddmsp.resources.role import DriftRecord

SamlPhase = Literal["Pending", "Ready", "Drifted", "Stalled", "Paused", "Error",
                    "Deleting"]
AccessRole = Literal["st", "adm", "ro"]

LOCKOUT_MESSAGE = (
    "spec.strictMode: true makes SAML the only way to log in to the org, for its admins too: "
    "if the IdP metadata, the IdP itself or the role mappings are wrong, nobody can log in "
    "to fix it. Test SAML login with strictMode false first, then set "
    "spec.acknowledgeLockoutRisk: true"
)


class KeySelector(KubeModel):
    """One key of a ConfigMap or Secret in the same namespace."""

    name: str = Field(
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
        description="Name of the object in the same namespace.",
    )
    key: str = Field(
        min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$",
        description="The key holding the IdP metadata XML.",
    )


class IdpMetadataSource(KubeModel):
    """Where the IdP's SAML metadata XML comes from (set exactly one)."""

    model_rules: ClassVar[tuple[Rule, ...]] = (Rule(
        "(has(self.configMapKeyRef) ? 1 : 0) + (has(self.secretKeyRef) ? 1 : 0) + "
        "(has(self.inline) ? 1 : 0) == 1",
        "set exactly one of spec.idpMetadata.configMapKeyRef, .secretKeyRef and .inline",
        lambda s: [s.config_map_key_ref, s.secret_key_ref, s.inline].count(None) == 2,
    ),)

    config_map_key_ref: KeySelector | None = Field(
        default=None,
        description="A ConfigMap key holding the metadata XML. Changes are noticed and "
        "re-uploaded.",
    )
    secret_key_ref: KeySelector | None = Field(
        default=None,
        description="A Secret key holding the metadata XML. Changes are noticed and "
        "re-uploaded.",
    )
    inline: str | None = Field(
        default=None,
        min_length=1,
        max_length=262144,
        description="The metadata XML itself.",
    )


EmailDomain = Annotated[str, Field(min_length=1, max_length=253), pattern_rule(
    rf"^[^@{CONTROL}{SPACE}]+$",
    "spec.autocreateUsers.domains entries are email domains without `@`, spaces or control "
    "characters, e.g. example.com",
)]


class AutocreateUsers(KubeModel):
    """Just-in-time provisioning: users from these domains are created at first SAML login."""

    enabled: bool = Field(
        default=True, description="Turn just-in-time user creation on (default) or off."
    )
    domains: list[EmailDomain] | None = Field(
        default=None,
        max_length=100,
        description="Email domains (without `@`) whose users may be created, e.g. "
        "`example.com`. Unset: leave Datadog's list alone.",
    )
    access_role: AccessRole | None = Field(
        default=None,
        description="The legacy role new users get: st (standard), adm (admin) or ro (read "
        "only). Unset: leave Datadog's value alone.",
    )


class RoleRef(KubeModel):
    """A DatadogRole in the same namespace."""

    name: str = Field(
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
        description="Name of a DatadogRole in the same namespace; its status.roleId is used "
        "(the mapping waits until that role exists).",
    )


class RoleMapping(KubeModel):
    """Users whose SAML assertion carries attributeKey=attributeValue get this role."""

    model_rules: ClassVar[tuple[Rule, ...]] = (Rule(
        "has(self.roleRef) != has(self.roleName)",
        "each spec.roleMappings entry needs exactly one of roleRef (a DatadogRole) and "
        "roleName (a role's name in Datadog)",
        lambda s: (s.role_ref is None) != (s.role_name is None),
    ),)

    attribute_key: Annotated[str, text_line(
        "spec.roleMappings[].attributeKey", "a SAML attribute name")] = Field(
        min_length=1, max_length=255,
        description="The SAML assertion attribute, e.g. `memberOf` or `groups`.",
    )
    attribute_value: Annotated[str, text_line(
        "spec.roleMappings[].attributeValue", "a SAML attribute value")] = Field(
        min_length=1, max_length=1024,
        description="The attribute value, e.g. an IdP group name.",
    )
    role_ref: RoleRef | None = Field(
        default=None, description="The role, as a DatadogRole in this namespace."
    )
    role_name: Annotated[str, text_line(
        "spec.roleMappings[].roleName", "a role's name in Datadog")] | None = Field(
        default=None, min_length=1, max_length=255,
        description="The role, by its name in Datadog (e.g. `Datadog Read Only Role`).",
    )


class DatadogSAMLConfigSpec(OrgTargetFields):
    """Desired SAML single sign-on of one Datadog org. Unset settings are left alone."""

    idp_metadata: IdpMetadataSource = Field(
        description="The IdP's SAML metadata XML. Uploaded only when its SHA-256 changes; a "
        "UTF-8 BOM (Azure AD exports carry one) is stripped first.",
    )
    enabled: bool | None = Field(
        default=None,
        description="Turn SAML login on or off. Unset: leave Datadog's setting alone. Where "
        "Datadog reports that SAML cannot be enabled on the org (`saml_can_be_enabled: "
        "false`), the resource stalls with reason SAMLNotAvailable and changes nothing: ask "
        "Datadog support to enable SAML for the org.",
    )
    strict_mode: bool | None = Field(
        default=None,
        description="Strict mode: users may log in with SAML only (no password or Google "
        "login). True requires spec.acknowledgeLockoutRisk. Unset: leave it alone.",
    )
    idp_initiated_login: bool | None = Field(
        default=None,
        description="Allow logins started at the IdP. Unset: leave Datadog's setting alone.",
    )
    autocreate_users: AutocreateUsers | None = Field(
        default=None,
        description="Just-in-time user provisioning. Unset: leave Datadog's settings alone.",
    )
    role_mappings: list[RoleMapping] | None = Field(
        default=None,
        # 250: the API server's CEL cost budget for the per-entry text rules (500 entries
        # of 1024-character values exceeded it).
        max_length=250,
        description="SAML attribute -> role mappings (Datadog authn mappings), at most 250. "
        "The set is exact: mappings in the org not listed here are deleted. Unset: mappings "
        "are not managed; an empty list deletes them all.",
    )
    acknowledge_lockout_risk: bool = Field(
        default=False,
        description="Required with strictMode: true. Strict mode makes SAML the only login, "
        "for admins too: a wrong IdP metadata file or IdP outage locks everyone out.",
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="Delete (default): deleting this resource switches SAML and strict mode "
        "off again if this resource switched them on (status.turnedOn; what was on before "
        "stays on) and deletes the authn mappings it manages (uploaded metadata cannot be "
        "removed). Orphan: everything stays as it is in Datadog.",
    )
    management_policy: ManagementPolicy = Field(
        default="Full",
        description="Full: upload and correct. ObserveOnly: report drift, change nothing.",
    )

    model_rules: ClassVar[tuple[Rule, ...]] = (
        *OrgTargetFields.model_rules,
        Rule(
            "!has(self.strictMode) || !self.strictMode || "
            "(has(self.acknowledgeLockoutRisk) && self.acknowledgeLockoutRisk)",
            LOCKOUT_MESSAGE,
            lambda s: not s.strict_mode or s.acknowledge_lockout_risk,
            ".strictMode",
        ),
    )


class CertificateFacts(KubeModel):
    """One signing certificate from the metadata."""

    subject: str = Field(default="", description="The certificate's subject.")
    not_after: str = Field(description="When it expires (RFC 3339).")


class IdpFacts(KubeModel):
    """What the uploaded metadata says about the IdP."""

    entity_id: str = Field(description="The IdP's entityID.")
    sso_url: str = Field(description="The IdP's single sign-on URL.")
    signing_certificates: list[CertificateFacts] = Field(
        default_factory=list, description="The IdP's signing certificates."
    )
    certificate_expires: str | None = Field(
        default=None,
        description="The earliest signing-certificate expiry (RFC 3339); a Warning event "
        "(CertificateExpiring) is posted 30 days before it.",
    )


class AppliedMapping(KubeModel):
    """An authn mapping the operator manages."""

    id: str = Field(description="The authn mapping's ID in Datadog.")
    attribute_key: str = Field(description="SAML attribute.")
    attribute_value: str = Field(description="Attribute value.")
    role_id: str = Field(description="The role's ID in Datadog.")


class DatadogSAMLConfigStatus(ManagedStatus):
    """Observed state; written by the operator only."""

    phase: SamlPhase | None = Field(
        default=None, description="A one-word summary for humans (the logic uses conditions)."
    )
    org: str | None = Field(
        default=None,
        description="The DatadogClientOrg name, or the credentials Secret's name.",
    )
    org_public_id: str | None = Field(default=None, description="That org's public_id.")
    metadata_sha256: str | None = Field(
        default=None, description="SHA-256 of the last uploaded metadata (after BOM removal)."
    )
    uploaded_at: str | None = Field(
        default=None, description="When that metadata was uploaded (RFC 3339)."
    )
    login_url: str | None = Field(default=None, description="The org's SAML login URL.")
    idp: IdpFacts | None = Field(default=None, description="Facts from the IdP metadata.")
    enabled: bool | None = Field(default=None, description="SAML enabled, as Datadog reports.")
    strict_mode: bool | None = Field(
        default=None, description="Strict mode, as Datadog reports."
    )
    role_mappings: list[AppliedMapping] | None = Field(
        default=None, description="The authn mappings in the org (when spec.roleMappings is set)."
    )
    turned_on: list[str] | None = Field(
        default=None,
        description="The settings this resource switched on (`enabled`, `strictMode`); on "
        "delete it switches off only these.",
        json_schema_extra={"items": {"type": "string", "enum": ["enabled", "strictMode"]}},
    )
    certificate_warning: str | None = Field(
        default=None,
        description="The certificate expiry a warning event was last posted for.",
    )
    drift: DriftRecord | None = Field(
        default=None, description="The last drift found (changes made outside the spec)."
    )


SAML_CONFIG = KindInfo(
    kind="DatadogSAMLConfig",
    plural="datadogsamlconfigs",
    short_names=("ddsaml",),
    spec_model=DatadogSAMLConfigSpec,
    status_model=DatadogSAMLConfigStatus,
    description="SAML single sign-on of one Datadog org: the IdP metadata (uploaded when it "
    "changes), login settings, just-in-time provisioning and SAML attribute -> role mappings.",
    printer_columns=(
        {"name": "Org", "type": "string", "jsonPath": ".status.org"},
        {"name": "Enabled", "type": "boolean", "jsonPath": ".status.enabled"},
        {"name": "Strict", "type": "boolean", "jsonPath": ".status.strictMode"},
        {"name": "IdP", "type": "string", "jsonPath": ".status.idp.entityId"},
    ),
)
