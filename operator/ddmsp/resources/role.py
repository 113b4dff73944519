"""DatadogRole: a custom role inside a client's Datadog org, with an exact permission set."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from ddmsp.resources.base import KubeModel, cel
from ddmsp.resources.common import ManagedStatus, ManagementPolicy
from ddmsp.resources.kinds import KindInfo
from ddmsp.resources.orgref import ORG_TARGET_RULES, OrgTargetFields

RolePhase = Literal["Pending", "Ready", "Drifted", "Stalled", "Paused", "Error",
                    "Deleting"]
DefaultPermissions = Literal["Keep", "OptOut"]

# Datadog's managed roles: in every org, maintained by Datadog, never changed or deleted by a
# DatadogRole (Datadog's RBAC docs: "Users cannot modify managed roles directly"; the Admin
# Role "cannot be deleted"). Compared without case and surrounding blanks.
MANAGED_ROLE_NAMES = ("Datadog Admin Role", "Datadog Standard Role", "Datadog Read Only Role")
_MANAGED_LIST = ", ".join(f"'{n.lower()}'" for n in MANAGED_ROLE_NAMES)
_MANAGED_TEXT = ", ".join(MANAGED_ROLE_NAMES)


def _not_managed(field: str) -> dict[str, Any]:
    """json_schema_extra refusing a managed role's name in ``field`` (a CEL rule)."""
    return {"x-kubernetes-validations": [cel(
        f"!(self.trim().lowerAscii() in [{_MANAGED_LIST}])",
        f"{field} names one of Datadog's managed roles ({_MANAGED_TEXT}): Datadog maintains "
        "them and a DatadogRole may never change or delete them. Give users a managed role "
        "through a DatadogUser's spec.roles[].roleName or a SAML mapping; for a role of your "
        "own, choose another name (e.g. clone the managed role in Datadog and adopt the clone "
        "by spec.adopt.roleId)")]}


class RoleAdoption(KubeModel):
    """Take over a role that already exists in Datadog (set exactly one field)."""

    model_config = KubeModel.model_config | ConfigDict(json_schema_extra={
        "x-kubernetes-validations": [cel(  # type: ignore[list-item]
            "has(self.roleId) != has(self.roleName)",
            "set exactly one of spec.adopt.roleId and spec.adopt.roleName",
        )]
    })

    role_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[-0-9a-zA-Z]+$",
        description="The existing role's ID (`GET /api/v2/roles` lists them). The most "
        "precise choice: Datadog does not promise that role names are unique.",
    )
    role_name: str | None = Field(
        default=None, min_length=1, max_length=255,
        description="The existing role's name, compared without regard to case. Exactly one "
        "role may match; otherwise the object stalls (reason AmbiguousRole) and asks for "
        "roleId. Datadog's managed roles (Datadog Admin Role, Datadog Standard Role, Datadog "
        "Read Only Role) are refused.",
        json_schema_extra=_not_managed("spec.adopt.roleName"),
    )


class DatadogRoleSpec(OrgTargetFields):
    """Desired state of one Datadog role."""

    role_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The role's name in Datadog (default: spec.adopt.roleName, else "
        "metadata.name; a role adopted by roleId without roleName keeps its name). Changing it "
        "renames the role. If a role of that name (compared without regard to case) already exists "
        "and this object did not create it, nothing is changed: the object stalls with "
        "reason RoleExists until spec.adopt names that role or roleName is changed. The names "
        "of Datadog's managed roles (Datadog Admin Role, Datadog Standard Role, Datadog Read "
        "Only Role) are refused: those roles are Datadog's, never changed or deleted here.",
        json_schema_extra=_not_managed("spec.roleName"),
    )
    permissions: list[str] = Field(
        default_factory=list,
        max_length=500,
        description="Permission names (not IDs), e.g. `monitors_write`, `dashboards_write`. "
        "Any valid permission may be listed. The role holds exactly these plus, with "
        "defaultPermissions Keep, Datadog's default permissions; anything else (granted "
        "later by anyone) is revoked. Unknown names are reported with the closest valid "
        "names. `kubectl get ddrole -o yaml` shows what the role holds.",
        json_schema_extra={
            "items": {"type": "string", "minLength": 1, "maxLength": 128},
            "x-kubernetes-list-type": "set",
        },
    )
    default_permissions: DefaultPermissions = Field(
        default="Keep",
        description="Datadog gives every role its default permissions (the ones its "
        "permission catalogue marks `restricted`: dashboards_read, monitors_read, apm_read, "
        "incident_read, rum_apps_read, notebooks_read, slos_read, ci_visibility_read, "
        "cd_visibility_read, appsec_vm_read, ...). Keep (default): the role holds "
        "spec.permissions plus those defaults, as a role made in Datadog's UI does. OptOut: "
        "the role holds exactly spec.permissions (Datadog's `default_permissions_opt_out`); "
        "its users lose the default reads (dashboards, monitors, ...) that are not listed "
        "in spec.permissions.",
    )
    adopt: RoleAdoption | None = Field(
        default=None,
        description="Take over a Datadog role that already exists instead of creating one. "
        "As for every ddmsp kind, adoption is explicit: an existing role is never taken over "
        "because its name matches (the object stalls with reason RoleExists instead). Once "
        "adopted, the role follows this spec (name, permissions) and deletionPolicy applies "
        "to it as to a role this resource created. Datadog's managed roles can never be "
        "adopted (reason ManagedRole).",
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="Delete (default): deleting this resource deletes the role in Datadog, "
        "but only a role this resource created or adopted (status.roleId). Orphan: the "
        "role stays in Datadog.",
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
    role_id: str | None = Field(
        default=None,
        description="The ID of the role this resource created or adopted; set only then. A "
        "delete deletes this role and no other.",
    )
    role_name: str | None = Field(default=None, description="The role's name in Datadog.")
    adopted: bool | None = Field(
        default=None, description="True when the role was adopted through spec.adopt."
    )
    create_started_at: str | None = Field(
        default=None,
        description="Set while a role create is in flight (RFC 3339): if its answer is lost, "
        "the role of that name that appeared since is recognised as this resource's own.",
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
    "given by name. An existing role is managed only when spec.adopt names it.",
    printer_columns=(
        {"name": "Org", "type": "string", "jsonPath": ".status.org"},
        {"name": "Role ID", "type": "string", "jsonPath": ".status.roleId"},
        {"name": "Permissions", "type": "integer", "jsonPath": ".status.permissionCount"},
    ),
    spec_rules=ORG_TARGET_RULES,
)
