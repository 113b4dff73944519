"""Where recorded real exchanges contradict Datadog's v1 OpenAPI spec, the recordings win.

Why: the spec types some fields as non-nullable strings that real answers carry as ``null``;
the simulator answers like the recordings, so the contract tests validate against the spec
with exactly these fields made nullable. Each entry names its recording (see
``tests/contract/evidence/README.md`` for the excerpts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from openapi_core import OpenAPI

# (schema, property): recording showing null
RECORDED_NULLABLE: dict[tuple[str, str], str] = {
    ("Organization", "description"):
        "terraform-provider-datadog TestAccDatadogChildOrganization_Create (POST /api/v1/org)",
    ("OrganizationSettings", "saml_idp_endpoint"):
        "terraform-provider-datadog TestAccDatadogChildOrganization_Create (POST /api/v1/org)",
    ("OrganizationSettings", "saml_login_url"):
        "terraform-provider-datadog TestAccDatadogChildOrganization_Create (POST /api/v1/org)",
}


def spec_as_recorded(path: Path) -> OpenAPI:
    """The spec at ``path`` with the recorded nullable fields made nullable."""
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    schemas = doc["components"]["schemas"]
    for (schema, prop) in RECORDED_NULLABLE:
        schemas[schema]["properties"][prop]["nullable"] = True
    return OpenAPI.from_dict(doc)
