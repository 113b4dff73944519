"""Pydantic models that are also Kubernetes CRD schemas.

Field descriptions become `kubectl explain` text; `x-kubernetes-validations` (CEL) and
bounds become admission checks. One generator (``ddmsp.resources.crdgen``) turns the
models into CRD YAML, so the schema and the code never disagree.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class KubeModel(BaseModel):
    """Base for spec/status models: camelCase on the wire, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The camelCase dict Kubernetes stores, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One CEL validation rule; ``message`` must say what to do, not only what is wrong."""
    out = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


def immutable(field: str, fix: str) -> dict[str, Any]:
    """json_schema_extra making a field immutable once set (a CEL transition rule)."""
    return {"x-kubernetes-validations": [cel("self == oldSelf", f"{field} is immutable: {fix}")]}
