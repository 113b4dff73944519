"""DatadogRole: a custom role inside a client's Datadog org, with an exact permission set."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ddmsp.resources.base import KubeModel
from ddmsp.resources.common import ManagedStatus, ManagementPolicy
from ddmsp.resources.kinds import KindInfo
from ddmsp.resources.orgref import ORG_TARGET_RULES, OrgTargetFields

RolePhase = Literal["Pending", "Ready", "Drifted", "Stalled", "Paused", "Error"]


class DatadogRoleSpec(OrgTargetFields):
    """Desired state of one Datadog role."""

    role_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The role's name in Datadog (default: metadata.name). An existing role "
        "with this name is adopted, not duplicated. Changing it renames the role.",
    )
    permissions: list[str] = Field(
        default_factory=list,
        max_length=500,
        description="Permission names (not IDs), e.g. `dashboards_read`, `monitors_write`. "
        "The set is exact: permissions Datadog adds to a new role, or anyone grants later, "
        "are revoked unless listed here. Unknown names are reported with the closest valid "
        "names. `kubectl get ddrole -o yaml` shows what was applied.",
        json_schema_extra={
            "items": {"type": "string", "minLength": 1, "maxLength": 128},
            "x-kubernetes-list-type": "set",
        },
    )
    allow_restricted_permissions: bool = Field(
        default=False,
        description="Datadog flags some permissions as restricted. Listing one is refused "
        "(Ready=False, reason RestrictedPermissions) unless this is true.",
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="Delete (default): deleting this resource deletes the role in Datadog. "
        "Orphan: the role stays in Datadog.",
    )
    management_policy: ManagementPolicy = Field(
        default="Full",
        description="Full: create, adopt and correct the role. ObserveOnly: report the role "
        "and any drift in status, change nothing (never creates or deletes).",
    )


class DriftRecord(KubeModel):
    """Differences found between Datadog and an already-applied spec."""

    detected_at: str = Field(description="When the drift was found (RFC 3339).")
    differences: list[str] = Field(
        default_factory=list, description="What differed, one line per difference."
    )
    corrected: bool = Field(
        default=False,
        description="True when the operator put it back; false under ObserveOnly or while "
        "the correction is pending.",
    )


class DatadogRoleStatus(ManagedStatus):
    """Observed state; written by the operator only."""

    phase: RolePhase | None = Field(
        default=None, description="A one-word summary for humans (the logic uses conditions)."
    )
    org: str | None = Field(
        default=None,
        description="The org this role lives in: the DatadogClientOrg name, or the "
        "credentials Secret's name.",
    )
    org_public_id: str | None = Field(default=None, description="That org's public_id.")
    role_id: str | None = Field(default=None, description="The role's ID in Datadog.")
    role_name: str | None = Field(default=None, description="The role's name in Datadog.")
    adopted: bool | None = Field(
        default=None, description="True when an existing role of that name was adopted."
    )
    permissions: list[str] = Field(
        default_factory=list,
        description="The permission names the role holds in Datadog (sorted).",
    )
    permission_count: int | None = Field(
        default=None, description="How many permissions the role holds."
    )
    drift: DriftRecord | None = Field(
        default=None, description="The last drift found (changes made outside the spec)."
    )


ROLE = KindInfo(
    kind="DatadogRole",
    plural="datadogroles",
    short_names=("ddrole",),
    spec_model=DatadogRoleSpec,
    status_model=DatadogRoleStatus,
    description="A custom role inside one Datadog org, with an exact set of permissions "
    "given by name. An existing role with the same name is adopted.",
    printer_columns=(
        {"name": "Org", "type": "string", "jsonPath": ".status.org"},
        {"name": "Role ID", "type": "string", "jsonPath": ".status.roleId"},
        {"name": "Permissions", "type": "integer", "jsonPath": ".status.permissionCount"},
    ),
    spec_rules=ORG_TARGET_RULES,
)
