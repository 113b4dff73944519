"""One managed object as the engine sees it: a fresh body, its parsed spec, a status copy."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ddmsp import API_GROUP
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.resources.base import KubeModel
from ddmsp.resources.kinds import KindInfo

PAUSED_ANNOTATION = f"{API_GROUP}/paused"
CREATE_PENDING_ANNOTATION = f"{API_GROUP}/create-pending"
CREATE_SUCCEEDED_ANNOTATION = f"{API_GROUP}/create-succeeded"
# Any new value asks for one more attempt now (e.g. a Stalled object after a fix).
RETRY_ANNOTATION = f"{API_GROUP}/retry"


def spec_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the API server writes field paths: spec.a[0].b."""
    return "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


@dataclass
class ManagedObject:
    """A custom object being reconciled; ``status`` is a working copy written at the end."""

    info: KindInfo
    body: dict[str, Any]
    spec: Any
    status: dict[str, Any]
    original_status: dict[str, Any] = field(default_factory=dict)
    # False when a pass did not act on this generation (paused, crashed): then
    # status.observedGeneration keeps naming the last generation really handled.
    handled: bool = True
    # The status as the API server holds it at ``status_version`` (the read, then each of
    # our writes): the base of the next write's precondition (reconcile/statuswrite.py).
    server_status: dict[str, Any] | None = None
    status_version: str = ""

    def __post_init__(self) -> None:
        if self.server_status is None:
            self.server_status = copy.deepcopy(self.original_status)
        if not self.status_version:
            self.status_version = str(self.body.get("metadata", {}).get("resourceVersion") or "")

    @classmethod
    def from_body(cls, info: KindInfo, body: dict[str, Any]) -> ManagedObject:
        status = copy.deepcopy(body.get("status") or {})
        obj = cls(info=info, body=body, spec=None, status=status,
                  original_status=copy.deepcopy(status))
        try:
            obj.spec = info.spec_model.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            problems = "; ".join(f"{spec_path(e['loc'])}: {e['msg']}" for e in exc.errors())
            raise Blocked("InvalidSpec", f"the spec does not validate: {problems}") from None
        return obj

    @property
    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = self.body["metadata"]
        return meta

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def namespace(self) -> str:
        """The object's namespace; "" for a cluster-scoped kind (a DatadogPartner)."""
        return str(self.metadata.get("namespace") or "")

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid", ""))

    @property
    def generation(self) -> int:
        return int(self.metadata.get("generation", 0))

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.metadata.get("annotations") or {})

    @property
    def paused(self) -> bool:
        return self.annotations.get(PAUSED_ANNOTATION, "").lower() == "true"

    @property
    def deleting(self) -> bool:
        return bool(self.metadata.get("deletionTimestamp"))

    @property
    def management_policy(self) -> str:
        return str(getattr(self.spec, "management_policy", "Full"))

    @property
    def deletion_policy(self) -> str:
        return str(getattr(self.spec, "deletion_policy", "Delete"))

    @property
    def conditions(self) -> list[dict[str, Any]]:
        conds = self.status.setdefault("conditions", [])
        assert isinstance(conds, list)
        return conds

    def clear_status(self, *keys: str) -> None:
        """Remove status keys so that the write removes them on the server too: a merge
        patch leaves an omitted key in place, a null removes it."""
        for key in keys:
            if key in self.status or key in self.original_status:
                self.status[key] = None

    def typed_status(self) -> KubeModel:
        """The status parsed with the kind's model (missing fields take defaults)."""
        return self.info.status_model.model_validate(self.status)

    def ref(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.info.kind}/{where}{self.name}"
