"""Everything about a kind that is not its schema: names, printer columns, rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ddmsp import API_GROUP, API_VERSION
from ddmsp.resources.base import KubeModel

READY_COLUMN = {
    "name": "Ready",
    "type": "string",
    "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
}
AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


@dataclass(frozen=True)
class KindInfo:
    """Static facts of one ddmsp kind, shared by the CRD generator and the controllers."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec_model: type[KubeModel]
    status_model: type[KubeModel]
    description: str
    printer_columns: tuple[dict[str, Any], ...] = ()
    spec_rules: tuple[dict[str, str], ...] = ()
    categories: tuple[str, ...] = ("ddmsp",)
    spec_required: bool = True
    scope: str = "Namespaced"  # or "Cluster" (DatadogPartner)
    # The spec fields (``{name: ...}``) naming a DatadogClientOrg of the same namespace that
    # this kind acts through or on: the org waits for these objects when it is deleted, and
    # its readiness wakes them (reconcile/deletion.py, handlers.py). Read only for kinds
    # registered as depending on an org.
    org_refs: tuple[str, ...] = ("orgRef",)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group(self) -> str:
        return API_GROUP

    @property
    def version(self) -> str:
        return API_VERSION

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{API_GROUP}"
