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
- ``one_time_read``: whether key secrets appear only in create answers. Datadog documents
  "One-Time Read" mode (docs.datadoghq.com/account_management/api-app-keys, "One-Time Read
  mode": orgs created after 2025-08-20 show application key secrets only at creation), while
  the recorded exchanges show an API key's ``key`` on a later ``GET /api/v2/api_keys/{id}``
  (datadog-api-client-python ``tests/v2/cassettes/test_scenarios/
  test_get_api_key_returns_ok_response.yaml``). Default ``false`` (recorded); ``true`` hides
  every secret outside its create answer (application keys are never re-readable in v2, as
  recorded: see ``ddmsp.simulator.keys``).
- ``api_key_limit``: API keys an org may hold. Datadog's docs: "Your org must have at least
  one API key and at most 50 API keys" (raised from 5 to 50 in DataDog/documentation PR
  #9920); orgs with a raised limit show it as ``meta.max_allowed`` (200 in
  ``test_get_all_api_keys_returns_ok_response.yaml``). Default 50.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

ORG_LISTINGS = ("own", "children")
DEFAULT_ORG_LISTING = "own"
DEFAULT_SAML_CAN_BE_ENABLED = True
DEFAULT_ONE_TIME_READ = False
DEFAULT_API_KEY_LIMIT = 50
ORG_LISTING_ENV = "DDMSP_SIM_ORG_LISTING"


class ConfigError(ValueError):
    """A config body that does not fit the schema (answered 400)."""


@dataclass
class SimConfig:
    """The current value of every switch."""

    org_listing: str = DEFAULT_ORG_LISTING
    saml_can_be_enabled: bool = DEFAULT_SAML_CAN_BE_ENABLED
    one_time_read: bool = DEFAULT_ONE_TIME_READ
    api_key_limit: int = DEFAULT_API_KEY_LIMIT

    def update(self, fields: dict[str, Any]) -> None:
        """Apply a partial update after checking every field (all or nothing)."""
        unknown = set(fields) - {"org_listing", "saml_can_be_enabled", "one_time_read",
                                 "api_key_limit"}
        if unknown:
            raise ConfigError(f"unknown config fields: {sorted(unknown)}")
        listing = fields.get("org_listing", self.org_listing)
        if listing not in ORG_LISTINGS:
            raise ConfigError("org_listing must be 'own' or 'children'")
        saml = fields.get("saml_can_be_enabled", self.saml_can_be_enabled)
        if not isinstance(saml, bool):
            raise ConfigError("saml_can_be_enabled must be a boolean")
        otr = fields.get("one_time_read", self.one_time_read)
        if not isinstance(otr, bool):
            raise ConfigError("one_time_read must be a boolean")
        limit = fields.get("api_key_limit", self.api_key_limit)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise ConfigError("api_key_limit must be an integer between 1 and 10000")
        self.org_listing, self.saml_can_be_enabled = listing, saml
        self.one_time_read, self.api_key_limit = otr, limit

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
