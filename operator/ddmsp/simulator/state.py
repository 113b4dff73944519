"""In-memory state of the simulated Datadog, optionally persisted to a JSON file.

Why: the simulator must keep Datadog's invariants (keys belong to one org, role names are unique
per org, a child org is readable only with its own keys, ...) in one place that the HTTP layer,
the tests (drift mutators, snapshots) and the CLI (--state-file) all share. Every public method
takes the lock because the aiohttp app runs in another thread than the tests that poke at it.

Keys are never stored in clear: the state keeps a SHA-256 of each key and shows only a short
fingerprint in snapshots.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import secrets
import string
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from ddmsp.simulator.faults import Fault, FaultDecision, parse_fault


class SimError(Exception):
    """An API error answered with the real body shape ``{"errors": [message]}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def now_iso() -> str:
    """Timestamps in the v2 style seen in the cassettes (microseconds, +00:00)."""
    return datetime.now(UTC).isoformat()


def now_v1() -> str:
    """Timestamps in the v1 Organization style (``2019-09-26T17:28:28Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_hash(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(digest: str) -> str:
    """A short, non-reversible label of a stored key for snapshots."""
    return digest[:8]


def _load_json(name: str) -> Any:
    return json.loads(resources.files("ddmsp.simulator").joinpath("data", name).read_text())


PERMISSIONS: list[dict[str, Any]] = _load_json("permissions.json")["permissions"]
PERMISSIONS_BY_ID: dict[str, dict[str, Any]] = {p["id"]: p for p in PERMISSIONS}
PERMISSION_ORDER: dict[str, int] = {p["id"]: i for i, p in enumerate(PERMISSIONS)}
PERMISSIONS_BY_NAME: dict[str, dict[str, Any]] = {p["name"]: p for p in PERMISSIONS}
DEFAULT_ROLE_PERMISSION_IDS: list[str] = _load_json("role_defaults.json")[
    "default_role_permission_ids"
]
ORG_CONFIG_SEED: list[dict[str, Any]] = _load_json("org_configs.json")["org_configs"]

MANAGED_ROLES: dict[str, list[str]] = {
    "Datadog Admin Role": [p["id"] for p in PERMISSIONS],
    "Datadog Standard Role": [
        p["id"]
        for p in PERMISSIONS
        if p["group_name"] not in ("Access Management", "Billing and Usage")
        and p["name"] not in ("admin", "org_management")
    ],
    "Datadog Read Only Role": [p["id"] for p in PERMISSIONS if p["display_type"] == "read"],
}

ACCESS_ROLES = ("st", "adm", "ro")


@dataclass
class RateLimit:
    """One rate-limit bucket definition: `limit` requests per `period` seconds."""

    limit: int
    period: int


# Names follow Datadog's habit of naming buckets after the API area; the real names and values
# are not in the reference data, so limits are generous and tests set tiny ones.
DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    "validate": RateLimit(1000, 60),
    "orgs_read": RateLimit(1000, 60),
    "orgs_write": RateLimit(300, 60),
    "orgs_create": RateLimit(100, 3600),
    "roles": RateLimit(1000, 60),
    "permissions": RateLimit(1000, 60),
    "authn_mappings": RateLimit(1000, 60),
    "saml": RateLimit(100, 60),
    "org_configs": RateLimit(1000, 60),
    "usage": RateLimit(600, 3600),
}


@dataclass
class RateInfo:
    """The outcome of one rate-limit check, rendered as X-RateLimit-* headers."""

    name: str
    limit: int
    period: int
    remaining: int
    reset: int
    exceeded: bool

    def headers(self) -> dict[str, str]:
        """The real header set."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Period": str(self.period),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Name": self.name,
        }


@dataclass
class Role:
    """A v2 role."""

    id: str
    name: str
    created_at: str
    modified_at: str
    permission_ids: list[str]
    managed: bool = False
    user_count: int = 0


@dataclass
class AuthnMapping:
    """A v2 authn mapping (SAML attribute -> role)."""

    id: str
    attribute_key: str
    attribute_value: str
    role_id: str
    created_at: str
    modified_at: str


@dataclass
class IdpMetadata:
    """What the simulator keeps of an uploaded IdP metadata file."""

    sha256: str
    entity_id: str
    sso_url: str | None
    uploaded_at: str


def default_settings(public_id: str) -> dict[str, Any]:
    """Settings of a new org, in the v1 OrganizationSettings shape."""
    return {
        "private_widget_share": False,
        "saml": {"enabled": False},
        "saml_autocreate_access_role": "st",
        "saml_autocreate_users_domains": {"domains": [], "enabled": False},
        "saml_can_be_enabled": True,
        "saml_idp_initiated_login": {"enabled": False},
        "saml_idp_metadata_uploaded": False,
        "saml_login_url": f"https://app.datadoghq.com/account/login/id/{public_id}",
        "saml_strict_mode": {"enabled": False},
    }


@dataclass
class Org:
    """One Datadog organization."""

    public_id: str
    name: str
    created: str
    parent_id: str | None = None
    spun_off: bool = False
    multi_org_enabled: bool = True
    description: str = ""
    user_email: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    authn_mappings: dict[str, AuthnMapping] = field(default_factory=dict)
    org_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    idp_metadata: IdpMetadata | None = None
    saml_config_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    saml_config_created_at: str = field(default_factory=now_iso)
    key_hashes: list[str] = field(default_factory=list)
    app_key_hashes: list[str] = field(default_factory=list)


def _new_public_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(16))


def new_api_key() -> str:
    """A 32-character API key (the v1 ApiKey schema's length)."""
    return secrets.token_hex(16)


def new_app_key() -> str:
    """A 40-character application key (the v1 ApplicationKey schema's length)."""
    return secrets.token_hex(20)


def _role_from(d: dict[str, Any]) -> Role:
    return Role(**d)


def _mapping_from(d: dict[str, Any]) -> AuthnMapping:
    return AuthnMapping(**d)


class SimState:
    """All simulated Datadog state plus the simulator's own knobs (faults, limits, calls)."""

    def __init__(self, state_file: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.orgs: dict[str, Org] = {}
        self.key_index: dict[str, str] = {}
        self.app_key_index: dict[str, str] = {}
        self.partner_public_id: str = ""
        self.rate_limits: dict[str, RateLimit] = {
            k: RateLimit(v.limit, v.period) for k, v in DEFAULT_RATE_LIMITS.items()
        }
        self.rate_windows: dict[tuple[str, str], tuple[float, int]] = {}
        self.faults: list[Fault] = []
        self.call_counts: Counter[tuple[str, int]] = Counter()
        self.latency_ms: int = 0
        self.state_file: Path | None = Path(state_file) if state_file else None
        self.cost_scale: float = 1.0

    # ----------------------------------------------------------------- bootstrap / persistence
    def bootstrap(self, api_key: str, app_key: str, name: str = "MSP Partner") -> Org:
        """Load the state file if any, make sure a partner org exists and owns these keys."""
        with self.lock:
            if self.state_file and self.state_file.exists():
                self.load(self.state_file)
            partner = self.orgs.get(self.partner_public_id)
            if partner is None:
                partner = self._make_org(name, parent=None)
                self.partner_public_id = partner.public_id
            self._register_keys(partner, api_key, app_key)
            self.save()
            return partner

    def to_json(self) -> dict[str, Any]:
        """Serialisable form (keys only as hashes)."""
        with self.lock:
            return {
                "version": 1,
                "partner_public_id": self.partner_public_id,
                "orgs": [asdict(o) for o in self.orgs.values()],
                "rate_limits": {k: asdict(v) for k, v in self.rate_limits.items()},
            }

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
                roles = {r["id"]: _role_from(r) for r in raw.pop("roles", {}).values()}
                maps = {m["id"]: _mapping_from(m) for m in raw.pop("authn_mappings", {}).values()}
                idp = raw.pop("idp_metadata", None)
                org = Org(**raw, roles=roles, authn_mappings=maps)
                org.idp_metadata = IdpMetadata(**idp) if idp else None
                self.orgs[org.public_id] = org
                for h in org.key_hashes:
                    self.key_index[h] = org.public_id
                for h in org.app_key_hashes:
                    self.app_key_index[h] = org.public_id
            self.partner_public_id = data.get("partner_public_id", "")
            for k, v in data.get("rate_limits", {}).items():
                self.rate_limits[k] = RateLimit(int(v["limit"]), int(v["period"]))

    # ----------------------------------------------------------------------------- orgs & keys
    def _make_org(self, name: str, parent: str | None) -> Org:
        public_id = _new_public_id()
        while public_id in self.orgs:
            public_id = _new_public_id()
        org = Org(
            public_id=public_id,
            name=name,
            created=now_v1(),
            parent_id=parent,
            user_email=f"admin@{public_id}.example.com",
            settings=default_settings(public_id),
        )
        ts = now_iso()
        for role_name, perm_ids in MANAGED_ROLES.items():
            role = Role(
                id=str(uuid.uuid4()),
                name=role_name,
                created_at=ts,
                modified_at=ts,
                permission_ids=list(perm_ids),
                managed=True,
                user_count=1 if role_name == "Datadog Admin Role" else 0,
            )
            org.roles[role.id] = role
        for cfg in ORG_CONFIG_SEED:
            org.org_configs[cfg["name"]] = {**copy.deepcopy(cfg), "modified_at": None}
        self.orgs[public_id] = org
        return org

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

    def children(self, public_id: str) -> list[Org]:
        """Direct children (not spun off) of an org, oldest first."""
        with self.lock:
            return [o for o in self.orgs.values() if o.parent_id == public_id]

    def create_child_org(self, parent: Org, name: str) -> tuple[Org, str, str]:
        """Create a child org; returns it with its new API and application keys."""
        with self.lock:
            if not parent.multi_org_enabled:
                raise SimError(403, "Multi-organization account is not enabled for this org")
            if parent.parent_id is not None:
                raise SimError(
                    403, "A child organization cannot create child organizations of its own"
                )
            org = self._make_org(name, parent=parent.public_id)
            api_key, app_key = new_api_key(), new_app_key()
            self._register_keys(org, api_key, app_key)
            return org, api_key, app_key

    def downgrade(self, parent: Org, public_id: str) -> Org:
        """Spin a child off into a standalone parent org (POST .../downgrade)."""
        with self.lock:
            child = self.orgs.get(public_id)
            if child is None or child.parent_id != parent.public_id:
                raise SimError(403, "Forbidden")
            child.parent_id = None
            child.spun_off = True
            child.multi_org_enabled = True
            return child

    def update_org(self, org: Org, body: dict[str, Any]) -> Org:
        """Apply a PUT /api/v1/org/{public_id} body after validating it like Datadog."""
        with self.lock:
            new_settings = copy.deepcopy(org.settings)
            name = body.get("name")
            if name is not None:
                validate_org_name(name)
            desc = body.get("description")
            if desc is not None and not isinstance(desc, str):
                raise SimError(400, "description must be a string")
            settings = body.get("settings")
            if settings is not None:
                if not isinstance(settings, dict):
                    raise SimError(400, "settings must be an object")
                _merge_settings(new_settings, settings, org)
            if name is not None:
                org.name = name
            if desc is not None:
                org.description = desc
            org.settings = new_settings
            return org

    # ----------------------------------------------------------------------------------- roles
    def find_role(self, org: Org, role_id: str) -> Role:
        """A role by id, 404 with the recorded message otherwise."""
        role = org.roles.get(role_id)
        if role is None:
            raise SimError(404, f"{role_id} not found")
        return role

    def _check_role_name(self, org: Org, name: Any, exclude: str | None = None) -> str:
        if not isinstance(name, str) or not name.strip():
            raise SimError(400, "Role name must be a non-empty string")
        if len(name) > 255:
            raise SimError(400, "Role name is too long")
        for role in org.roles.values():
            if role.id != exclude and role.name.casefold() == name.casefold():
                raise SimError(409, f"Role with name '{name}' already exists")
        return name

    def create_role(self, org: Org, name: Any, permission_ids: list[str] | None) -> Role:
        """Create a role: the given permissions first, then Datadog's default ones."""
        with self.lock:
            name = self._check_role_name(org, name)
            perms: list[str] = []
            for pid in (permission_ids or []) + DEFAULT_ROLE_PERMISSION_IDS:
                if pid not in PERMISSIONS_BY_ID:
                    raise SimError(400, f"Permission {pid} not found")
                if pid not in perms:
                    perms.append(pid)
            ts = now_iso()
            role = Role(str(uuid.uuid4()), name, ts, ts, perms)
            org.roles[role.id] = role
            return role

    def update_role(
        self, org: Org, role_id: str, name: Any | None, permission_ids: list[str] | None
    ) -> Role:
        """PATCH a role's name and/or its full permission list."""
        with self.lock:
            role = self.find_role(org, role_id)
            if name is not None:
                name = self._check_role_name(org, name, exclude=role_id)
            if permission_ids is not None:
                for pid in permission_ids:
                    if pid not in PERMISSIONS_BY_ID:
                        raise SimError(400, f"Permission {pid} not found")
                role.permission_ids = list(dict.fromkeys(permission_ids))
            if name is not None:
                role.name = name
            role.modified_at = now_iso()
            return role

    def delete_role(self, org: Org, role_id: str) -> None:
        """Delete a role and the authn mappings that point at it."""
        with self.lock:
            self.find_role(org, role_id)
            del org.roles[role_id]
            for mid in [m.id for m in org.authn_mappings.values() if m.role_id == role_id]:
                del org.authn_mappings[mid]

    def grant(self, org: Org, role_id: str, permission_id: str) -> Role:
        """Add one permission to a role (idempotent)."""
        with self.lock:
            role = self.find_role(org, role_id)
            if permission_id not in PERMISSIONS_BY_ID:
                raise SimError(404, f"Permission {permission_id} not found")
            if permission_id not in role.permission_ids:
                role.permission_ids.append(permission_id)
                role.modified_at = now_iso()
            return role

    def revoke(self, org: Org, role_id: str, permission_id: str) -> Role:
        """Remove one permission from a role (idempotent)."""
        with self.lock:
            role = self.find_role(org, role_id)
            if permission_id not in PERMISSIONS_BY_ID:
                raise SimError(404, f"Permission {permission_id} not found")
            if permission_id in role.permission_ids:
                role.permission_ids.remove(permission_id)
                role.modified_at = now_iso()
            return role

    # -------------------------------------------------------------------------- authn mappings
    def find_mapping(self, org: Org, mapping_id: str) -> AuthnMapping:
        """A mapping by id, 404 with the recorded message otherwise."""
        mapping = org.authn_mappings.get(mapping_id)
        if mapping is None:
            raise SimError(404, f"Mapping with id {mapping_id} not found")
        return mapping

    def _check_mapping(
        self, org: Org, key: str, value: str, role_id: str, exclude: str | None = None
    ) -> None:
        if role_id not in org.roles:
            raise SimError(404, f"Role with id {role_id} not found")
        for m in org.authn_mappings.values():
            if m.id != exclude and (m.attribute_key, m.attribute_value, m.role_id) == (
                key,
                value,
                role_id,
            ):
                raise SimError(409, "There is already a mapping with this key, value and role")

    def create_mapping(self, org: Org, key: str, value: str, role_id: str) -> AuthnMapping:
        """Create an authn mapping."""
        with self.lock:
            self._check_mapping(org, key, value, role_id)
            ts = now_iso()
            m = AuthnMapping(str(uuid.uuid4()), key, value, role_id, ts, ts)
            org.authn_mappings[m.id] = m
            return m

    def update_mapping(
        self,
        org: Org,
        mapping_id: str,
        key: str | None,
        value: str | None,
        role_id: str | None,
    ) -> AuthnMapping:
        """PATCH an authn mapping."""
        with self.lock:
            m = self.find_mapping(org, mapping_id)
            nk = m.attribute_key if key is None else key
            nv = m.attribute_value if value is None else value
            nr = m.role_id if role_id is None else role_id
            self._check_mapping(org, nk, nv, nr, exclude=mapping_id)
            m.attribute_key, m.attribute_value, m.role_id = nk, nv, nr
            m.modified_at = now_iso()
            return m

    def delete_mapping(self, org: Org, mapping_id: str) -> None:
        """Delete an authn mapping."""
        with self.lock:
            self.find_mapping(org, mapping_id)
            del org.authn_mappings[mapping_id]

    # -------------------------------------------------------------------------------- IdP, cfg
    def set_idp_metadata(self, org: Org, meta: IdpMetadata) -> None:
        """Record accepted IdP metadata on an org."""
        with self.lock:
            org.idp_metadata = meta
            org.settings["saml_idp_metadata_uploaded"] = True
            if meta.sso_url:
                org.settings["saml_idp_endpoint"] = meta.sso_url

    def update_org_config(self, org: Org, name: str, value: Any) -> dict[str, Any]:
        """Set an org config value after checking it against its value_type."""
        with self.lock:
            cfg = org.org_configs.get(name)
            if cfg is None:
                raise SimError(404, f"Org Config '{name}' not found")
            vt = cfg["value_type"]
            if not _value_fits(vt, value):
                raise SimError(400, f"Invalid value for org config '{name}' of type {vt}")
            cfg["value"] = copy.deepcopy(value)
            cfg["modified_at"] = now_iso()
            return cfg

    # ------------------------------------------------------------------------------- limits
    def check_rate_limit(self, org_id: str, name: str) -> RateInfo | None:
        """Count one request against (org, limit name) in a fixed window."""
        with self.lock:
            rl = self.rate_limits.get(name)
            if rl is None:
                return None
            now = time.monotonic()
            start, count = self.rate_windows.get((org_id, name), (now, 0))
            if now - start >= rl.period:
                start, count = now, 0
            count += 1
            self.rate_windows[(org_id, name)] = (start, count)
            reset = max(1, math.ceil(rl.period - (now - start)))
            return RateInfo(name, rl.limit, rl.period, rl.limit - count, reset, count > rl.limit)

    def set_rate_limit(self, name: str, limit: int, period: int = 60) -> None:
        """Change one limit (tests set tiny ones); resets its windows."""
        with self.lock:
            self.rate_limits[name] = RateLimit(limit, period)
            for k in [k for k in self.rate_windows if k[1] == name]:
                del self.rate_windows[k]

    def reset_rate_limits(self) -> None:
        """Forget all rate-limit windows."""
        with self.lock:
            self.rate_windows.clear()

    # ------------------------------------------------------------------------------- faults
    def add_fault(self, spec: dict[str, Any] | None = None, **kwargs: Any) -> str:
        """Add a fault (schema in ddmsp.simulator.faults); returns its id."""
        fault = parse_fault({**(spec or {}), **kwargs})
        with self.lock:
            self.faults.append(fault)
        return fault.id

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self.lock:
            self.faults.clear()

    def remove_fault(self, fault_id: str) -> bool:
        """Remove one fault; False when unknown."""
        with self.lock:
            before = len(self.faults)
            self.faults = [f for f in self.faults if f.id != fault_id]
            return len(self.faults) != before

    def decide_faults(self, method: str, template: str, path: str) -> FaultDecision:
        """Apply the active faults to one request and consume their budgets."""
        decision = FaultDecision()
        with self.lock:
            for fault in list(self.faults):
                if not fault.matches(method, template, path):
                    continue
                decision.latency_ms += fault.latency_ms
                consumed = True
                if decision.error_status is None and decision.storm_reset is None:
                    if fault.storm_count > 0:
                        fault.storm_count -= 1
                        decision.storm_reset = fault.storm_reset
                        if fault.storm_count == 0 and fault.times is None:
                            self.faults.remove(fault)
                            continue
                    elif fault.error_rate > 0 and fault.rng.random() < fault.error_rate:
                        decision.error_status = fault.status
                    elif fault.commit_then_drop:
                        decision.drop = True
                    elif fault.latency_ms == 0:
                        consumed = False
                if consumed and fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
        return decision

    # -------------------------------------------------------------------------------- calls
    def record_call(self, route: str, status: int) -> None:
        """Count one answered request (status 0 = response dropped by a fault)."""
        with self.lock:
            self.call_counts[(route, status)] += 1

    def calls(self) -> dict[str, dict[int, int]]:
        """Counts per route template and status."""
        with self.lock:
            out: dict[str, dict[int, int]] = {}
            for (route, status), n in sorted(self.call_counts.items()):
                out.setdefault(route, {})[status] = n
            return out

    def reset_calls(self) -> None:
        """Forget call counts."""
        with self.lock:
            self.call_counts.clear()

    # ----------------------------------------------------------------------- drift mutators
    def _org_role(self, org_public_id: str, role_name: str) -> tuple[Org, Role]:
        org = self.orgs[org_public_id]
        for role in org.roles.values():
            if role.name == role_name:
                return org, role
        raise KeyError(role_name)

    def grant_permission(self, org_public_id: str, role_name: str, permission_name: str) -> None:
        """Drift helper: give a role a permission behind the operator's back."""
        with self.lock:
            _, role = self._org_role(org_public_id, role_name)
            pid = PERMISSIONS_BY_NAME[permission_name]["id"]
            if pid not in role.permission_ids:
                role.permission_ids.append(pid)
                role.modified_at = now_iso()

    def revoke_permission(self, org_public_id: str, role_name: str, permission_name: str) -> None:
        """Drift helper: take a permission from a role."""
        with self.lock:
            _, role = self._org_role(org_public_id, role_name)
            pid = PERMISSIONS_BY_NAME[permission_name]["id"]
            if pid in role.permission_ids:
                role.permission_ids.remove(pid)
                role.modified_at = now_iso()

    def delete_role_by_name(self, org_public_id: str, role_name: str) -> None:
        """Drift helper: delete a role by name."""
        with self.lock:
            org, role = self._org_role(org_public_id, role_name)
            self.delete_role(org, role.id)

    def rename_role(self, org_public_id: str, role_name: str, new_name: str) -> None:
        """Drift helper: rename a role."""
        with self.lock:
            _, role = self._org_role(org_public_id, role_name)
            role.name = new_name
            role.modified_at = now_iso()

    def set_org_setting(self, org_public_id: str, path: str, value: Any) -> None:
        """Drift helper: set a setting by dotted path, e.g. ``saml_strict_mode.enabled``."""
        with self.lock:
            node = self.orgs[org_public_id].settings
            parts = path.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = copy.deepcopy(value)

    def set_org_name(self, org_public_id: str, name: str) -> None:
        """Drift helper: rename an org."""
        with self.lock:
            self.orgs[org_public_id].name = name

    def add_authn_mapping(
        self, org_public_id: str, attribute_key: str, attribute_value: str, role_name: str
    ) -> str:
        """Drift helper: add a mapping behind the operator's back; returns its id."""
        with self.lock:
            org, role = self._org_role(org_public_id, role_name)
            return self.create_mapping(org, attribute_key, attribute_value, role.id).id

    def delete_authn_mapping(self, org_public_id: str, mapping_id: str) -> None:
        """Drift helper: delete a mapping."""
        with self.lock:
            self.delete_mapping(self.orgs[org_public_id], mapping_id)

    def find_orgs_by_name(self, name: str) -> list[str]:
        """public_ids of every org with this name (duplicate-create checks in tests)."""
        with self.lock:
            return [o.public_id for o in self.orgs.values() if o.name == name]

    # ----------------------------------------------------------------------------- snapshot
    def snapshot(self) -> dict[str, Any]:
        """Inspection view (GET /_sim/state): no key, only fingerprints."""
        with self.lock:
            orgs = []
            for o in self.orgs.values():
                orgs.append(
                    {
                        "public_id": o.public_id,
                        "name": o.name,
                        "parent": o.parent_id,
                        "spun_off": o.spun_off,
                        "multi_org_enabled": o.multi_org_enabled,
                        "created": o.created,
                        "children": [c.public_id for c in self.children(o.public_id)],
                        "api_keys": [fingerprint(h) for h in o.key_hashes],
                        "app_keys": [fingerprint(h) for h in o.app_key_hashes],
                        "settings": copy.deepcopy(o.settings),
                        "roles": [
                            {
                                "id": r.id,
                                "name": r.name,
                                "managed": r.managed,
                                "permissions": sorted(
                                    PERMISSIONS_BY_ID[p]["name"]
                                    for p in r.permission_ids
                                    if p in PERMISSIONS_BY_ID
                                ),
                            }
                            for r in o.roles.values()
                        ],
                        "authn_mappings": [
                            {
                                "id": m.id,
                                "attribute_key": m.attribute_key,
                                "attribute_value": m.attribute_value,
                                "role_id": m.role_id,
                                "role_name": o.roles[m.role_id].name
                                if m.role_id in o.roles
                                else None,
                            }
                            for m in o.authn_mappings.values()
                        ],
                        "idp_metadata": None
                        if o.idp_metadata is None
                        else {
                            "sha256": o.idp_metadata.sha256,
                            "entity_id": o.idp_metadata.entity_id,
                            "sso_url": o.idp_metadata.sso_url,
                        },
                        "org_configs": {
                            k: v["value"]
                            for k, v in o.org_configs.items()
                            if v.get("modified_at") is not None
                        },
                    }
                )
            return {
                "partner_public_id": self.partner_public_id,
                "orgs": orgs,
                "rate_limits": {k: asdict(v) for k, v in self.rate_limits.items()},
                "faults": [f.as_dict() for f in self.faults],
            }


def _value_fits(value_type: str, value: Any) -> bool:
    """Whether an org config value matches its declared value_type."""
    if value_type == "bool":
        return isinstance(value, bool)
    if value_type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if value_type in ("enum", "string"):
        return isinstance(value, str)
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def validate_org_name(name: Any) -> str:
    """Org names: a string of 1..32 characters (v1 schema maxLength 32)."""
    if not isinstance(name, str):
        raise SimError(400, "Invalid name: must be a string")
    if not name.strip():
        raise SimError(400, "Invalid name: must not be empty")
    if len(name) > 32:
        raise SimError(400, "Invalid name: must be 32 characters or fewer")
    return name


def _need_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise SimError(400, f"{what} must be a boolean")
    return value


def _enabled(obj: Any, what: str) -> bool | None:
    if not isinstance(obj, dict):
        raise SimError(400, f"{what} must be an object")
    if "enabled" not in obj or obj["enabled"] is None:
        return None
    return _need_bool(obj["enabled"], f"{what}.enabled")


def _merge_settings(target: dict[str, Any], patch: dict[str, Any], org: Org) -> None:
    """Merge a settings patch; read-only settings are ignored as the real API does."""
    if "private_widget_share" in patch and patch["private_widget_share"] is not None:
        target["private_widget_share"] = _need_bool(
            patch["private_widget_share"], "private_widget_share"
        )
    for key in ("saml_strict_mode", "saml_idp_initiated_login"):
        if patch.get(key) is not None:
            enabled = _enabled(patch[key], key)
            if enabled is not None:
                target[key] = {"enabled": enabled}
    if patch.get("saml_autocreate_users_domains") is not None:
        dom = patch["saml_autocreate_users_domains"]
        enabled = _enabled(dom, "saml_autocreate_users_domains")
        cur = dict(target["saml_autocreate_users_domains"])
        if enabled is not None:
            cur["enabled"] = enabled
        if dom.get("domains") is not None:
            domains = dom["domains"]
            if not isinstance(domains, list) or not all(
                isinstance(d, str) and d.strip() and "@" not in d and " " not in d for d in domains
            ):
                raise SimError(400, "Invalid domains: a list of domains without '@'")
            cur["domains"] = list(domains)
        target["saml_autocreate_users_domains"] = cur
    if patch.get("saml_autocreate_access_role") is not None:
        role = patch["saml_autocreate_access_role"]
        if role not in ACCESS_ROLES:
            raise SimError(400, "Invalid saml_autocreate_access_role: one of st, adm, ro")
        target["saml_autocreate_access_role"] = role
    if patch.get("saml") is not None:
        enabled = _enabled(patch["saml"], "saml")
        if enabled:
            if not target.get("saml_can_be_enabled"):
                raise SimError(400, "SAML can not be enabled for this organization")
            if org.idp_metadata is None:
                raise SimError(400, "SAML can not be enabled before IdP metadata has been uploaded")
        if enabled is not None:
            target["saml"] = {"enabled": enabled}
