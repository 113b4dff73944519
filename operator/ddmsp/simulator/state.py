"""The whole simulated Datadog state: one ``SimState`` composing each API area's state.

Why: the simulator must keep Datadog's invariants (keys belong to one org, role names are unique
per org, a child org is readable only with its own keys, ...) in one place that the HTTP layer,
the tests (drift mutators, snapshots) and the CLI (--state-file) all share. Each area keeps its
state in its own mixin (``orgs.OrgsState``, ``roles.RolesState``, ``saml.SamlState``,
``orgconfigs.OrgConfigsState``, ...);
adding an area is one more base class here. Every public method takes the lock because the
aiohttp app runs in another thread than the tests that poke at it. ``state.clock``
(``ddmsp.simulator.clock.SimClock``) is the one clock every area reads for "now";
``state.config`` (``ddmsp.simulator.config.SimConfig``) holds the switches.

The names re-exported below are the module's historical API (tests import them from here).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ddmsp.simulator.clock import rfc3339
from ddmsp.simulator.faults import FaultsState
from ddmsp.simulator.idp import IdpMetadata
from ddmsp.simulator.keys import KeysState
from ddmsp.simulator.orgconfigs import OrgConfigsState
from ddmsp.simulator.orgconnections import OrgConnectionsState
from ddmsp.simulator.orgs import OrgsState, default_settings, validate_org_name
from ddmsp.simulator.permissions import KeyPermissionsState
from ddmsp.simulator.ratelimits import DEFAULT_RATE_LIMITS, RateInfo, RateLimit, RateLimitState
from ddmsp.simulator.roles import (
    DEFAULT_ROLE_PERMISSION_IDS,
    MANAGED_ROLES,
    PERMISSION_ORDER,
    PERMISSIONS,
    PERMISSIONS_BY_ID,
    PERMISSIONS_BY_NAME,
    Role,
)
from ddmsp.simulator.saml import AuthnMapping, SamlState
from ddmsp.simulator.store import (
    Org,
    SimError,
    fingerprint,
    key_hash,
    new_api_key,
    new_app_key,
    now_iso,
    now_v1,
)
from ddmsp.simulator.users import UsersState

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "DEFAULT_ROLE_PERMISSION_IDS",
    "MANAGED_ROLES",
    "PERMISSIONS",
    "PERMISSIONS_BY_ID",
    "PERMISSIONS_BY_NAME",
    "PERMISSION_ORDER",
    "AuthnMapping",
    "IdpMetadata",
    "Org",
    "RateInfo",
    "RateLimit",
    "Role",
    "SimError",
    "SimState",
    "default_settings",
    "fingerprint",
    "key_hash",
    "new_api_key",
    "new_app_key",
    "now_iso",
    "now_v1",
    "validate_org_name",
]


class SimState(
    KeysState, OrgsState, SamlState, OrgConfigsState, OrgConnectionsState, UsersState,
    KeyPermissionsState, RateLimitState, FaultsState,
):
    """All simulated Datadog state plus the simulator's own knobs (faults, limits, calls)."""

    def snapshot(self) -> dict[str, Any]:
        """Inspection view (GET /_sim/state): no key, only fingerprints."""
        with self.lock:
            return {
                "partner_public_id": self.partner_public_id,
                "config": self.config.as_dict(),
                "now": rfc3339(self.clock.now()),
                "orgs": self.snapshot_orgs(),
                "rate_limits": {k: asdict(v) for k, v in self.rate_limits.items()},
                "faults": [f.as_dict() for f in self.faults],
            }
