"""Spec and status pieces shared by every ddmsp kind."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ddmsp.datadog.sites import SITES, Site
from ddmsp.resources.base import KubeModel

ConditionStatus = Literal["True", "False", "Unknown"]
ManagementPolicy = Literal["Full", "ObserveOnly"]

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"



class SecretReference(KubeModel):
    """A Secret in the same namespace as the resource that names it."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Name of a Secret in the same namespace. It must hold the keys "
        "`api-key` and `app-key` (a Datadog API key and application key).",
    )


class Condition(KubeModel):
    """A Kubernetes-style condition (kstatus and Argo CD read these)."""

    type: str = Field(description="Ready, Synced, Reconciling or Stalled.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(default="", description="A CamelCase word a program can match on.")
    message: str = Field(default="", description="What happened and, when blocked, what to do.")
    last_transition_time: str | None = Field(
        default=None, description="When status last changed (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this condition describes."
    )


class ManagedStatus(KubeModel):
    """Status fields the engine writes for every kind."""

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation last reconciled."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Synced, Reconciling and Stalled.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


__all__ = ["SITES", "Condition", "ManagedStatus", "SecretReference", "Site"]
