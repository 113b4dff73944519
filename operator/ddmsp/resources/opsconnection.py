"""``spec.opsOrgConnection`` of a DatadogClientOrg: the common case of cross-org visibility.

One field on the client instead of a hand-written DatadogOrgConnection: the client's
controller owns a DatadogOrgConnection named ``<client>-ops-connection`` (source: this client
org, sink: the partner's own org, e.g. the MSP's operations org), so the connection kind does
the Datadog work and reports its own conditions (NotSameAccount for a SpinOff client,
SiteMismatch for another site). Removing the field deletes that object.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ddmsp.resources.base import KubeModel
from ddmsp.resources.orgconnection import ConnectionType

SUFFIX = "-ops-connection"


def ops_connection_name(client: str) -> str:
    """The owned DatadogOrgConnection's name (a DNS subdomain, at most 253 characters)."""
    return f"{client[:253 - len(SUFFIX)].rstrip('.-')}{SUFFIX}"


class OpsOrgConnection(KubeModel):
    """A connection from this client org to the partner's own org."""

    connection_types: list[ConnectionType] = Field(
        min_length=1, max_length=2,
        description="What the partner's org sees of this client org: `metrics`, `logs` (at "
        "least one, each once). A change is applied in place (PATCH), the connection keeps "
        "its ID.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="What removing spec.opsOrgConnection (or deleting the client) does to "
        "the connection in Datadog: Delete (default) deletes it; Orphan leaves it.",
    )


class OpsConnectionStatus(KubeModel):
    """Which DatadogOrgConnection carries spec.opsOrgConnection."""

    name: str = Field(description="The DatadogOrgConnection in this namespace (kubectl get "
                      "ddconn NAME shows the connection's own conditions).")
    problem: str | None = Field(default=None, description="Why that object could not be "
                                "written (e.g. the name is taken by an object this client "
                                "does not own).")
