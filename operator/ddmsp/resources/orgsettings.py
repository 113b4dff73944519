"""``spec.settings`` of a DatadogClientOrg: the org's non-SAML settings and its org configs.

Two Datadog APIs hold them: ``PUT /api/v1/org/{public_id}`` (``settings.private_widget_share``;
the SAML settings there stay DatadogSAMLConfig's) and ``/api/v2/org_configs/{name}`` (one value
per config, typed by its ``value_type``). Each field here is one of them, typed as Datadog types
it (the recorded catalogue: ``ddmsp/simulator/data/org_configs.json``); a field left unset is
never read against nor written. ``ORG_CONFIGS`` maps each field to its org config name.
The v1 object also shows ``default_landing_page``, ``custom_landing_page`` and
``manage_reports``, but neither the v1 spec nor any recorded exchange shows them written, so
they are not offered here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ddmsp.resources.base import KubeModel, pattern_rule

EMAIL = r"^[^@ ]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
DOMAIN = r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
# IANA names (Area/Location[/Sub], or a single word like UTC); the org's own answer decides
# whether Datadog knows the zone (a refusal becomes a condition naming the field).
TIME_ZONE = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"

Email = Annotated[str, Field(min_length=3, max_length=254), pattern_rule(
    EMAIL, "spec.settings.securityContacts entries must be email addresses, e.g. "
    "security@example.com")]
Domain = Annotated[str, Field(min_length=3, max_length=253), pattern_rule(
    DOMAIN, "spec.settings.emailDomainAllowlist entries must be domains without `@`, e.g. "
    "example.com")]
TimeZone = Annotated[str, Field(min_length=1, max_length=64), pattern_rule(
    TIME_ZONE, "spec.settings.monitorTimezone must be an IANA time zone name such as UTC or "
    "Europe/Paris")]
# Datadog's team permission values (v2 spec, TeamPermissionSettingValue).
TeamPermission = Literal["admins", "members", "organization", "user_access_manage",
                         "teams_manage"]

# spec field (snake_case) -> org config name in Datadog
ORG_CONFIGS: dict[str, str] = {
    "security_contacts": "security_contacts",
    "monitor_timezone": "monitor_timezone",
    "teams_provisioning_sources": "teams_provisioning_sources",
    "teams_manage_membership": "teams_manage_membership",
    "teams_edit_details": "teams_edit_details",
    "restrict_export_to_csv": "restrict_export_to_csv",
    "admin_only_invites": "admin_only_invites",
    "invite_expiration_30_days": "30d_invite_expiration",
    "email_domain_allowlist_enabled": "enable_domain_allowlist",
    "email_domain_allowlist": "domain_allowlist",
}
# spec field -> key in the v1 settings object
V1_SETTINGS: dict[str, str] = {"private_widget_share": "private_widget_share"}


class OrgSettingsSpec(KubeModel):
    """Organization settings and org configs of the client org; each one unset is left alone."""

    private_widget_share: bool | None = Field(
        default=None,
        description="Whether users may share widgets (graphs) outside Datadog through public "
        "links (v1 org setting private_widget_share; Datadog's default false).",
    )
    security_contacts: list[Email] | None = Field(
        default=None, max_length=50,
        description="Emails that receive the org's security notifications (org config "
        "security_contacts). An empty list clears them.",
    )
    monitor_timezone: TimeZone | None = Field(
        default=None,
        description="Time zone used in monitor alerts (org config monitor_timezone, an IANA "
        "name such as UTC or Europe/Paris; Datadog's default UTC).",
    )
    teams_provisioning_sources: Literal["manually", "saml_only", "saml_and_manually"] | None = (
        Field(
            default=None,
            description="How users are added to teams (org config teams_provisioning_sources): "
            "manually (Datadog's default), saml_only, or saml_and_manually. SAML team mappings "
            "only take effect when SAML is allowed here.",
        )
    )
    teams_manage_membership: TeamPermission | None = Field(
        default=None,
        description="Who may manage team membership (org config teams_manage_membership): "
        "admins, members, organization (Datadog's default), user_access_manage or "
        "teams_manage.",
    )
    teams_edit_details: TeamPermission | None = Field(
        default=None,
        description="Who may edit team details (org config teams_edit_details): admins, "
        "members (Datadog's default), organization, user_access_manage or teams_manage.",
    )
    restrict_export_to_csv: bool | None = Field(
        default=None,
        description="Disable exporting logs to CSV through the API and UI for all users "
        "(org config restrict_export_to_csv; default false).",
    )
    admin_only_invites: bool | None = Field(
        default=None,
        description="Only admins may invite users (org config admin_only_invites; default "
        "false).",
    )
    invite_expiration_30_days: bool | None = Field(
        default=None, alias="inviteExpiration30Days",
        description="Invitations expire after 30 days instead of 2 (org config "
        "30d_invite_expiration; default false).",
    )
    email_domain_allowlist_enabled: bool | None = Field(
        default=None,
        description="Send the org's emails only to addresses in emailDomainAllowlist (org "
        "config enable_domain_allowlist; default false).",
    )
    email_domain_allowlist: list[Domain] | None = Field(
        default=None, max_length=100,
        description="Domains the org's emails may be sent to when emailDomainAllowlistEnabled "
        "is true (org config domain_allowlist, e.g. example.com). An empty list clears it.",
    )

    def wanted_v1(self) -> dict[str, object]:
        """The v1 settings this spec sets, by their key in the v1 object."""
        return {key: getattr(self, f) for f, key in V1_SETTINGS.items()
                if getattr(self, f) is not None}

    def wanted_configs(self) -> dict[str, object]:
        """The org configs this spec sets, by Datadog's name."""
        return {name: getattr(self, f) for f, name in ORG_CONFIGS.items()
                if getattr(self, f) is not None}


def alias_of(field_name: str) -> str:
    """The camelCase name of a spec.settings field."""
    return OrgSettingsSpec.model_fields[field_name].alias or field_name


def field_alias(name: str) -> str:
    """The spec.settings field (camelCase) of a v1 key or an org config name."""
    for table in (V1_SETTINGS, ORG_CONFIGS):
        for field_name, key in table.items():
            if key == name:
                return alias_of(field_name)
    return name


def spec_path(name: str) -> str:
    """``spec.settings.<camelCase>`` for a v1 key or an org config name (messages)."""
    return f"spec.settings.{field_alias(name)}"
