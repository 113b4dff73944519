"""DatadogOrgConnection: cross-org visibility, a source org's metrics or logs seen in a sink org.

Datadog creates a connection with the source org's keys and names the sink by its v2 org
UUID (``POST /api/v2/org_connections``); both orgs must be in the same account and on the
same site (Datadog's cross-organization visibility docs).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ddmsp.resources.base import KubeModel, Rule
from ddmsp.resources.common import DNS_SUBDOMAIN, ManagedStatus, ManagementPolicy
from ddmsp.resources.kinds import KindInfo

OrgConnectionPhase = Literal["Pending", "Ready", "Drifted", "Stalled", "Paused", "Error",
                             "Deleting"]
ConnectionType = Literal["metrics", "logs"]
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class ClientOrgName(KubeModel):
    """A DatadogClientOrg in the same namespace (its client org, keys from its Secret)."""

    name: str = Field(
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
        description="Name of a DatadogClientOrg in the same namespace. The operator waits "
        "(reason OrgNotReady) until that org is Ready.",
    )


class ConnectionAdoption(KubeModel):
    """Take over a connection that already exists in Datadog for the same pair."""

    connection_id: str = Field(
        pattern=UUID_PATTERN,
        description="The existing connection's ID (`GET /api/v2/org_connections` with the "
        "source org's keys lists them; the Stalled condition ConnectionExists names it).",
    )


class DatadogOrgConnectionSpec(KubeModel):
    """Desired state of one org connection."""

    source_org_ref: ClientOrgName = Field(
        description="The source org (whose data the sink sees): a DatadogClientOrg in this "
        "namespace. The connection is created with its keys.",
    )
    sink_org_ref: ClientOrgName | None = Field(
        default=None,
        description="The sink org: another DatadogClientOrg in this namespace. Set exactly "
        "one of sinkOrgRef, sinkPartner and sinkOrgUUID.",
    )
    sink_partner: bool | None = Field(
        default=None,
        description="true: the sink is the partner's own org (the DatadogPartner the source "
        "client org uses), e.g. the MSP's operations org. Set exactly one of sinkOrgRef, "
        "sinkPartner and sinkOrgUUID.",
    )
    sink_org_uuid: str | None = Field(
        default=None, pattern=UUID_PATTERN, alias="sinkOrgUUID",
        description="The sink org's v2 org UUID (not the v1 public_id), for an org this "
        "cluster does not manage. Set exactly one of sinkOrgRef, sinkPartner and sinkOrgUUID.",
    )
    connection_types: list[ConnectionType] = Field(
        min_length=1, max_length=2,
        description="What the sink sees: `metrics`, `logs` (at least one, each once). A "
        "change is applied in place (PATCH), the connection keeps its ID.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    adopt: ConnectionAdoption | None = Field(
        default=None,
        description="Manage the connection that already exists for this pair instead of "
        "creating one. Adoption is explicit: Datadog answers 409 to a second connection for a "
        "pair, and the object stalls (reason ConnectionExists) naming the ID to adopt.",
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="Delete (default): deleting this resource deletes the connection (only "
        "one this resource created or adopted, status.connectionId). Orphan: it stays.",
    )
    management_policy: ManagementPolicy = Field(
        default="Full",
        description="Full: create, adopt and correct the connection. ObserveOnly: report "
        "it, change nothing.",
    )

    model_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            "(has(self.sinkOrgRef) ? 1 : 0) + (has(self.sinkPartner) && self.sinkPartner ? 1 "
            ": 0) + (has(self.sinkOrgUUID) ? 1 : 0) == 1",
            "set exactly one of spec.sinkOrgRef (a DatadogClientOrg), spec.sinkPartner: true "
            "(the partner's own org) and spec.sinkOrgUUID (a v2 org UUID)",
            lambda s: (s.sink_org_ref is not None) + bool(s.sink_partner)
            + (s.sink_org_uuid is not None) == 1,
        ),
        Rule(
            "!has(self.sinkOrgRef) || self.sinkOrgRef.name != self.sourceOrgRef.name",
            "spec.sinkOrgRef names the source org itself: an org cannot be connected to itself",
            lambda s: s.sink_org_ref is None or s.sink_org_ref.name != s.source_org_ref.name,
            ".sinkOrgRef",
        ),
    )


class DatadogOrgConnectionStatus(ManagedStatus):
    """Observed state; written by the operator only."""

    phase: OrgConnectionPhase | None = Field(default=None, description="A one-word summary.")
    org: str | None = Field(default=None, description="The source DatadogClientOrg's name.")
    org_public_id: str | None = Field(default=None, description="The source org's public_id.")
    source: str | None = Field(default=None, description="The source, for humans.")
    sink: str | None = Field(default=None, description="The sink, for humans.")
    source_org_uuid: str | None = Field(default=None,
                                        description="The source org's v2 org UUID.")
    sink_org_uuid: str | None = Field(default=None, description="The sink org's v2 org UUID.")
    connection_id: str | None = Field(
        default=None, description="The connection this resource created or adopted; a "
        "delete deletes this one and no other.")
    adopted: bool | None = Field(default=None, description="True when adopted.")
    connection_types: list[str] = Field(
        default_factory=list, description="The types the connection has in Datadog.")
    types: str | None = Field(default=None, description="The same, comma-separated.")


ORG_CONNECTION = KindInfo(
    kind="DatadogOrgConnection",
    plural="datadogorgconnections",
    short_names=("ddconn",),
    # the source's keys make and delete the connection; the sink's record names its UUID
    org_refs=("sourceOrgRef", "sinkOrgRef"),
    spec_model=DatadogOrgConnectionSpec,
    status_model=DatadogOrgConnectionStatus,
    description="A cross-org visibility connection: the sink org sees the source org's "
    "metrics or logs. Both orgs must be in the same Datadog account and on the same site. "
    "An existing connection is managed only when spec.adopt names it.",
    printer_columns=(
        {"name": "Source", "type": "string", "jsonPath": ".status.source"},
        {"name": "Sink", "type": "string", "jsonPath": ".status.sink"},
        {"name": "Types", "type": "string", "jsonPath": ".status.types"},
    ),
)
