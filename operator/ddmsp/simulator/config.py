"""Switches for behaviours of the real API that the evidence leaves open.

Why: where public evidence does not settle what Datadog does, tests must run the operator under
every plausible reading. Each switch is set through ``PUT /_sim/config`` (or
``RunningSimulator.set_config``); its default is one constant here.

- ``org_listing``: what ``GET /api/v1/org`` lists. ``"own"`` = only the caller's org: Datadog's
  v1 spec describes the endpoint as "returns data on your top-level organization", and a
  terraform-provider-datadog maintainer wrote (PR #879) that it does not return child orgs for a
  parent's keys; every recorded listing (``TestAccDatadogOrganizationSettings_*`` cassettes)
  holds exactly one org. ``"children"`` = the caller's org plus its direct children (the
  simulator's historical behaviour). ``DEFAULT_ORG_LISTING`` is ``"own"``, the stricter
  reading: no safety decision of the operator depends on a listing of children. Test suites can
  run under either with the ``DDMSP_SIM_ORG_LISTING`` environment variable, which
  ``start_simulator()``/``running_simulator()`` read.
- ``saml_can_be_enabled``: the value of ``settings.saml_can_be_enabled`` of orgs created from
  now on. A recorded real child org creation (terraform-provider-datadog cassette
  ``TestAccDatadogChildOrganization_Create``) answered ``saml_can_be_enabled: false`` with null
  SAML URLs; the default stays ``true`` so SAML can be tested, and tests set ``false``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

ORG_LISTINGS = ("own", "children")
DEFAULT_ORG_LISTING = "own"
DEFAULT_SAML_CAN_BE_ENABLED = True
ORG_LISTING_ENV = "DDMSP_SIM_ORG_LISTING"


class ConfigError(ValueError):
    """A config body that does not fit the schema (answered 400)."""


@dataclass
class SimConfig:
    """The current value of every switch."""

    org_listing: str = DEFAULT_ORG_LISTING
    saml_can_be_enabled: bool = DEFAULT_SAML_CAN_BE_ENABLED

    def update(self, fields: dict[str, Any]) -> None:
        """Apply a partial update after checking every field (all or nothing)."""
        unknown = set(fields) - {"org_listing", "saml_can_be_enabled"}
        if unknown:
            raise ConfigError(f"unknown config fields: {sorted(unknown)}")
        listing = fields.get("org_listing", self.org_listing)
        if listing not in ORG_LISTINGS:
            raise ConfigError("org_listing must be 'own' or 'children'")
        saml = fields.get("saml_can_be_enabled", self.saml_can_be_enabled)
        if not isinstance(saml, bool):
            raise ConfigError("saml_can_be_enabled must be a boolean")
        self.org_listing, self.saml_can_be_enabled = listing, saml

    def as_dict(self) -> dict[str, Any]:
        """The ``GET /_sim/config`` body."""
        return asdict(self)


def org_listing_from_env() -> str | None:
    """``DDMSP_SIM_ORG_LISTING`` if set (validated), else None."""
    value = os.environ.get(ORG_LISTING_ENV, "").strip()
    if not value:
        return None
    if value not in ORG_LISTINGS:
        raise ConfigError(f"{ORG_LISTING_ENV} must be 'own' or 'children'")
    return value
