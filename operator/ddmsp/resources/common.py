"""Spec and status pieces shared by every ddmsp kind."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ddmsp.datadog.sites import SITES, Site
from ddmsp.resources.base import KubeModel, Rule, pattern_rule

ConditionStatus = Literal["True", "False", "Unknown"]
ManagementPolicy = Literal["Full", "ObserveOnly"]

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"

# Character classes written so Go's RE2 (admission) and Rust's regex (pydantic) read them
# alike: explicit code points, no \s (ASCII in RE2, Unicode in Rust).
CONTROL = r"\x00-\x1f\x7f-\x9f"  # Unicode category Cc: newline, tab, NUL, DEL, C1
SPACE = (r" \x{a0}\x{1680}\x{2000}-\x{200b}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
         r"\x{feff}")  # Unicode White_Space outside Cc, plus zero-width space and BOM
LINE_BREAK = r"\x{2028}\x{2029}"
# One line of text, not blank, no leading or trailing space, no control character.
TEXT_LINE = rf"^[^{CONTROL}{SPACE}]([^{CONTROL}{LINE_BREAK}]*[^{CONTROL}{SPACE}])?$"


def text_line(path: str, what: str) -> Rule:
    """The rule for one line of text shown to people (an org, role or user name).

    A newline or tab in an org name made an org the operator could never find again by
    name; a blank name stalled after admission.
    """
    return pattern_rule(
        TEXT_LINE,
        f"{path} must be one line of text ({what}): no control characters such as newline "
        "or tab, not blank, no leading or trailing spaces",
    )



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
