"""The simulator's shared state core: the org table, keys, persistence and per-area hooks.

Why: every API area (orgs, roles, SAML, usage, users ...) keeps its own state in a mixin of
``StateBase``; this module holds only what all of them share: the lock, the orgs and the key
indexes, the state file, and three cooperative hooks an area overrides to take part in new orgs
(``_init_org``), state-file loading (``_decode_org``) and ``GET /_sim/state``
(``_snapshot_org``). ``ddmsp.simulator.state.SimState`` composes the areas.

Keys are never stored in clear: the state keeps a SHA-256 of each key and shows only a short
fingerprint in snapshots.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import uuid
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ddmsp.simulator.idp import IdpMetadata
    from ddmsp.simulator.roles import Role
    from ddmsp.simulator.saml import AuthnMapping

from ddmsp.simulator.clock import SimClock
from ddmsp.simulator.config import SimConfig


class SimError(Exception):
    """An API error answered with the real body shape ``{"errors": [message]}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# The clock of the simulator serving the current request: the middleware sets it per request
# (a context variable is per asyncio task), so module-level helpers such as ``now_iso()`` read
# the simulated time without every area passing its state around. Outside a request (tests
# calling state methods directly) they fall back to real time.
CURRENT_CLOCK: ContextVar[SimClock | None] = ContextVar("ddmsp_sim_clock", default=None)


def now() -> datetime:
    """The current simulator's time during a request, real time otherwise."""
    clock = CURRENT_CLOCK.get()
    return clock.now() if clock is not None else datetime.now(UTC)


def now_iso() -> str:
    """Timestamps in the v2 style seen in the cassettes (microseconds, +00:00)."""
    return now().isoformat()


def now_v1() -> str:
    """Timestamps in the v1 Organization style (``2019-09-26T17:28:28Z``)."""
    return now().strftime("%Y-%m-%dT%H:%M:%SZ")


def key_hash(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(digest: str) -> str:
    """A short, non-reversible label of a stored key for snapshots."""
    return digest[:8]


def new_api_key() -> str:
    """A 32-character API key (the v1 ApiKey schema's length)."""
    return secrets.token_hex(16)


def new_app_key() -> str:
    """A 40-character application key (the v1 ApplicationKey schema's length)."""
    return secrets.token_hex(20)


def new_public_id() -> str:
    """A fresh org public_id in the recorded shape: a version-1 UUID with Datadog's node
    ``da7ad09000xx``, e.g. ``dd2b22d8-f5e1-11eb-b9cb-da7ad0900002`` (terraform-provider-datadog
    cassettes TestAccDatadogChildOrganization_Create, TestAccDatadogOrganizationSettings_Import).
    """
    return str(uuid.uuid1(node=0xDA7AD0900000 | secrets.randbelow(256)))


def load_data(name: str) -> Any:
    """A JSON file of recorded reference data shipped in ``simulator/data``."""
    return json.loads(resources.files("ddmsp.simulator").joinpath("data", name).read_text())


@dataclass
class Org:
    """One Datadog organization; the per-area fields are filled by the areas' hooks."""

    public_id: str
    name: str
    created: str
    parent_id: str | None = None
    spun_off: bool = False
    # The partner org a spun-off customer org is connected to (DPN): its usage and cost
    # appear in that partner's views with include_connected_accounts=true.
    connected_to: str | None = None
    multi_org_enabled: bool = True
    description: str | None = None
    user_email: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    authn_mappings: dict[str, AuthnMapping] = field(default_factory=dict)
    org_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    idp_metadata: IdpMetadata | None = None
    saml_config_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # The org's v2 id (org connections name orgs by it): a UUID that differs from the v1
    # public_id (recorded: org "fasjyydbcgwwc2uc" of terraform-provider-datadog's cassettes is
    # "4dee724d-00cc-11ea-a77b-570c9d03c6c5" as a connection's source_org).
    v2_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    saml_config_created_at: str = field(default_factory=now_iso)
    key_hashes: list[str] = field(default_factory=list)
    app_key_hashes: list[str] = field(default_factory=list)


class StateBase:
    """The shared core of the simulator state; areas extend it as mixins."""

    def __init__(self, state_file: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.orgs: dict[str, Org] = {}
        self.key_index: dict[str, str] = {}
        self.app_key_index: dict[str, str] = {}
        self.partner_public_id: str = ""
        self.state_file: Path | None = Path(state_file) if state_file else None
        self.clock = SimClock()
        self.config = SimConfig()

    # ------------------------------------------------------------------------- area hooks
    def _init_org(self, org: Org) -> None:
        """Hook: seed a new org's per-area content (areas extend and call super())."""

    def _decode_org(self, raw: dict[str, Any]) -> None:
        """Hook: turn an org's per-area fields of a state file back into objects, in place."""

    def _snapshot_org(self, org: Org, out: dict[str, Any]) -> None:
        """Hook: add an area's view of one org to ``GET /_sim/state``."""

    def _to_json_extra(self, out: dict[str, Any]) -> None:
        """Hook: add an area's own (non-org) fields to the state file."""

    def _load_extra(self, data: dict[str, Any]) -> None:
        """Hook: read an area's own fields back from the state file."""

    # ------------------------------------------------------------------------------- keys
    def _register_keys(self, org: Org, api_key: str, app_key: str) -> None:
        api_h, app_h = key_hash(api_key), key_hash(app_key)
        for index, h in ((self.key_index, api_h), (self.app_key_index, app_h)):
            old = index.get(h)
            if old is not None and old != org.public_id:
                raise ValueError("key already belongs to another org")
        if api_h not in org.key_hashes:
            org.key_hashes.append(api_h)
        if app_h not in org.app_key_hashes:
            org.app_key_hashes.append(app_h)
        self.key_index[api_h] = org.public_id
        self.app_key_index[app_h] = org.public_id

    def org_for_api_key(self, api_key: str | None) -> Org | None:
        """The org an API key belongs to."""
        if not api_key:
            return None
        with self.lock:
            pid = self.key_index.get(key_hash(api_key))
            return self.orgs.get(pid) if pid else None

    def org_for_keys(self, api_key: str | None, app_key: str | None) -> Org | None:
        """The org both keys belong to, or None when either is wrong or they disagree."""
        org = self.org_for_api_key(api_key)
        if org is None or not app_key:
            return None
        with self.lock:
            if self.app_key_index.get(key_hash(app_key)) != org.public_id:
                return None
            return org

    def get_org(self, public_id: str) -> Org:
        """An org by public_id (KeyError when absent)."""
        with self.lock:
            return self.orgs[public_id]

    # ------------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        """Serialisable form (keys only as hashes)."""
        with self.lock:
            out: dict[str, Any] = {
                "version": 1,
                "partner_public_id": self.partner_public_id,
                "orgs": [asdict(o) for o in self.orgs.values()],
            }
            self._to_json_extra(out)
            return out

    def save(self) -> None:
        """Write the state file atomically, if one is configured."""
        if self.state_file is None:
            return
        with self.lock:
            data = json.dumps(self.to_json(), indent=1, sort_keys=True)
            tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
            tmp.write_text(data)
            os.replace(tmp, self.state_file)

    def load(self, path: Path) -> None:
        """Replace the state with the content of a state file."""
        data = json.loads(path.read_text())
        with self.lock:
            self.orgs.clear()
            self.key_index.clear()
            self.app_key_index.clear()
            for raw in data.get("orgs", []):
                raw = dict(raw)
                self._decode_org(raw)
                org = Org(**raw)
                self.orgs[org.public_id] = org
                for h in org.key_hashes:
                    self.key_index[h] = org.public_id
                for h in org.app_key_hashes:
                    self.app_key_index[h] = org.public_id
            self.partner_public_id = data.get("partner_public_id", "")
            self._load_extra(data)

    # --------------------------------------------------------------------------- snapshot
    def snapshot_orgs(self) -> list[dict[str, Any]]:
        """Every org as ``GET /_sim/state`` shows it (no key, only fingerprints)."""
        with self.lock:
            out: list[dict[str, Any]] = []
            for o in self.orgs.values():
                view: dict[str, Any] = {
                    "public_id": o.public_id,
                    "api_keys": [fingerprint(h) for h in o.key_hashes],
                    "app_keys": [fingerprint(h) for h in o.app_key_hashes],
                }
                self._snapshot_org(o, view)
                out.append(view)
            return out
