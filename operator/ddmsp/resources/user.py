"""DatadogUser: one person (or automation account) in a client's Datadog org, with exact roles.

For clients without an identity provider, and for the MSP's own staff who need an account in
every client org: Datadog's Users API is one of the three ways its MSP guide lists to provision
users (the others: the UI, and SAML just-in-time provisioning, which DatadogSAMLConfig covers).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from ddmsp.resources.base import KubeModel, cel, immutable
from ddmsp.resources.common import CONTROL, DNS_SUBDOMAIN, SPACE, ManagedStatus, ManagementPolicy
from ddmsp.resources.kinds import KindInfo
from ddmsp.resources.orgref import ORG_TARGET_RULES, OrgTargetFields

UserPhase = Literal["Pending", "Ready", "Drifted", "Stalled", "Paused", "Error",
                    "Deleting"]
DatadogUserStatus = Literal["Pending", "Active", "Disabled"]

# No \s: RE2 (admission) reads it as ASCII space, Rust's regex (the model) as any Unicode
# space, so "a\u00a0b@x.io" was admitted and then refused by the operator.
_ADDR = rf"[^@{CONTROL}{SPACE}]+"
EMAIL_PATTERN = rf"^{_ADDR}@{_ADDR}\.{_ADDR}$"


class UserRole(KubeModel):
    """One role of the user: a DatadogRole of this namespace, or a role by its Datadog name."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [cel(  # type: ignore[list-item]
        "has(self.roleRef) != has(self.roleName)",
        "set exactly one of roleRef (a DatadogRole in this namespace) and roleName (a role's "
        "name in Datadog, e.g. \"Datadog Read Only Role\")")]})

    role_ref: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Name of a DatadogRole in this namespace (same org). The user waits "
        "(Ready=False, reason RoleNotReady) until that role is Ready, and picks it up then.",
    )
    role_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="A role's exact name in the org, e.g. `Datadog Read Only Role`, "
        "`Datadog Standard Role`, `Datadog Admin Role`, or a role made outside this cluster.",
    )


class UserAdoption(KubeModel):
    """Take over a user that already exists in Datadog (set exactly one field)."""

    model_config = KubeModel.model_config | ConfigDict(json_schema_extra={
        "x-kubernetes-validations": [cel(  # type: ignore[list-item]
            "has(self.userId) != has(self.email)",
            "set exactly one of spec.adopt.userId and spec.adopt.email",
        )]
    })

    user_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[-0-9a-zA-Z]+$",
        description="The existing user's ID (the UserExists message names it; "
        "`GET /api/v2/users?filter=<email>` lists it). Its email must be spec.email.",
    )
    email: str | None = Field(
        default=None, min_length=3, max_length=255, pattern=EMAIL_PATTERN,
        description="The existing user's email: must equal spec.email (compared without "
        "case). Adopts the one user with that email, whatever its ID.",
    )


class DatadogUserSpec(OrgTargetFields):
    """Desired state of one Datadog user."""

    email: str = Field(
        min_length=3,
        max_length=255,
        pattern=EMAIL_PATTERN,
        description="The user's email, the user's identity in the org (Datadog stores it "
        "lowercased). Datadog never deletes users, so an org cannot hold two with one email: "
        "if one already exists (even disabled) and this resource did not create it, nothing "
        "is changed and the object stalls with reason UserExists until spec.adopt names that "
        "user. Immutable.",
        json_schema_extra=immutable(
            "spec.email", "create another DatadogUser for a different person"),
    )
    name: str | None = Field(
        default=None,
        max_length=255,
        description="The user's display name. Datadog replaces it with the name from Google "
        "or SAML login, so set it only for users who log in with a password.",
    )
    roles: list[UserRole] = Field(
        default_factory=list,
        max_length=50,
        description="The user's roles. The set is exact: roles given in Datadog by anyone "
        "else are removed (unless managementPolicy is ObserveOnly).",
    )
    invite: bool = Field(
        default=True,
        description="Send Datadog's invitation email when the user is created or adopted "
        "while Pending, and once more each time an invitation expires unaccepted (after two "
        "days, or 30 with the org config 30d_invite_expiration).",
    )
    disabled: bool = Field(
        default=False,
        description="True disables the user in Datadog (it cannot log in); false enables "
        "it again.",
    )
    adopt: UserAdoption | None = Field(
        default=None,
        description="Take over a Datadog user that already exists instead of creating one. "
        "As for every ddmsp kind, adoption is explicit: an existing user is never taken over "
        "because its email matches (the object stalls with reason UserExists instead). Once "
        "adopted, the user follows this spec (roles, name, disabled) and deletionPolicy "
        "applies to it as to a user this resource created: with Delete, deleting this "
        "resource disables the user. Mind adopting the org's own admin: its application "
        "keys stop working when it is disabled.",
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="Delete (default): deleting this resource disables the user in Datadog "
        "(the API cannot delete users), but only a user this resource created or adopted "
        "(status.userId). Orphan: the user stays as it is.",
    )
    management_policy: ManagementPolicy = Field(
        default="Full",
        description="Full: create (or adopt, with spec.adopt) and correct the user. "
        "ObserveOnly: report the user with spec.email, its roles and any drift in status, "
        "change nothing (never creates, invites or disables).",
    )


class InvitationRecord(KubeModel):
    """The last invitation email this object had Datadog send."""

    id: str | None = Field(default=None, description="The invitation's UUID in Datadog.")
    sent_at: str | None = Field(default=None, description="When it was sent (RFC 3339).")
    expires_at: str | None = Field(
        default=None, description="When it expires, by Datadog's clock (RFC 3339)."
    )
    count: int | None = Field(
        default=None, description="How many invitations this object has sent in total."
    )


class UserDrift(KubeModel):
    """Differences found between Datadog and an already-applied spec."""

    detected_at: str = Field(description="When the drift was found (RFC 3339).")
    differences: list[str] = Field(
        default_factory=list, description="What differed, one line per difference."
    )
    corrected: bool = Field(
        default=False,
        description="True when the operator put it back; false under ObserveOnly.",
    )


class DatadogUserObservedStatus(ManagedStatus):
    """Observed state; written by the operator only."""

    phase: UserPhase | None = Field(
        default=None, description="A one-word summary for humans (the logic uses conditions)."
    )
    org: str | None = Field(
        default=None,
        description="The org this user lives in: the DatadogClientOrg name, or the "
        "credentials Secret's name.",
    )
    org_public_id: str | None = Field(default=None, description="That org's public_id.")
    user_id: str | None = Field(
        default=None,
        description="The ID of the user this resource created or adopted; set only then. A "
        "delete disables this user and no other.",
    )
    email: str | None = Field(default=None, description="The email Datadog holds.")
    datadog_status: DatadogUserStatus | None = Field(
        default=None,
        description="Datadog's status of the user: Pending (invited, not logged in yet), "
        "Active or Disabled.",
    )
    adopted: bool | None = Field(
        default=None, description="True when the user was adopted through spec.adopt."
    )
    create_started_at: str | None = Field(
        default=None,
        description="Set while a user create is in flight (RFC 3339): if its answer is lost, "
        "the user with this email found next is recognised as this resource's own.",
    )
    roles: list[str] = Field(
        default_factory=list, description="The names of the roles the user holds (sorted)."
    )
    roles_summary: str | None = Field(
        default=None, description="The roles as one line (the ROLES printer column)."
    )
    invitation: InvitationRecord | None = Field(
        default=None, description="The last invitation this object sent."
    )
    drift: UserDrift | None = Field(
        default=None, description="The last drift found (changes made outside the spec)."
    )


USER = KindInfo(
    kind="DatadogUser",
    plural="datadogusers",
    short_names=("dduser",),
    spec_model=DatadogUserSpec,
    status_model=DatadogUserObservedStatus,
    description="A user in one Datadog org (a client's people, or the MSP's own staff), with "
    "an exact set of roles. Created through Datadog's Users API and invited by email; an "
    "existing user with the same email is managed only when spec.adopt names it. Deleting "
    "it disables the user.",
    printer_columns=(
        {"name": "Org", "type": "string", "jsonPath": ".status.org"},
        {"name": "Email", "type": "string", "jsonPath": ".spec.email"},
        {"name": "Status", "type": "string", "jsonPath": ".status.datadogStatus"},
        {"name": "Roles", "type": "string", "jsonPath": ".status.rolesSummary"},
    ),
    spec_rules=(*ORG_TARGET_RULES, cel(
        "!has(self.adopt) || !has(self.adopt.email) || "
        "self.adopt.email.lowerAscii() == self.email.lowerAscii()",
        "spec.adopt.email must be spec.email: a DatadogUser adopts only the user with its own "
        "email", ".adopt.email")),
)
