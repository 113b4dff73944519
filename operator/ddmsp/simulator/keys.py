"""API and application keys (v2 ``/api/v2/api_keys``, ``/api/v2/application_keys``,
``/api/v2/current_user/application_keys``, ``/api/v2/service_accounts/{id}/application_keys``).

Why: the operator hands each client org over to a service account's key and rotates keys, so
the simulator must hold keys the way Datadog does: who owns a key, what a key may do, when its
secret can be read, and when it stops working. Evidence: DataDog/datadog-api-client-python
``tests/v2/features/key_management.feature``, ``service_accounts.feature`` and the recorded
exchanges in ``tests/v2/cassettes/test_scenarios/`` named below (excerpts in
``tests/contract/evidence/README.md``, "Keys"); Datadog's docs
(docs.datadoghq.com/account_management/api-app-keys, .../org_settings/service_accounts).

API keys:

- ``POST /api/v2/api_keys`` answers 201 with ``attributes.key`` (the secret), ``last4``,
  ``created_at``/``modified_at`` and ``relationships.created_by``/``modified_by``
  (``test_create_an_api_key_returns_created_response.yaml``).
- The list never shows ``key``; it carries ``date_last_used`` and ``meta`` ``{"page":
  {"total_filtered_count": n}, "max_allowed": m}``; ``filter`` matches the name
  (``test_get_all_api_keys_returns_ok_response.yaml``, 2025-09).
- ``GET /api/v2/api_keys/{id}`` shows ``key`` again (``test_get_api_key_returns_ok_response.yaml``)
  unless the ``one_time_read`` switch is on (``config.py``); an unknown id answers 404
  ``{"errors": ["API key not found"]}`` (``test_get_api_key_returns_not_found_response.yaml``).
- ``PATCH`` renames (200, the answer shows ``key`` like a GET), ``DELETE`` answers 204 and a
  second ``DELETE`` 404 ``API key not found`` (``test_edit_an_api_key_returns_ok_response.yaml``,
  ``test_delete_an_api_key_returns_no_content_response.yaml``).
- At most ``api_key_limit`` (50) keys per org and at least one (docs: "Your org must have at
  least one API key and at most 50 API keys"; "Key names must be unique across your
  organization"). No recording shows the refusals: the simulator answers 400 ``API key limit
  reached`` (a status the spec lists for CreateAPIKey), 400 for deleting the last key and 409
  for a taken name: the stricter readings.

Application keys:

- Created through ``current_user`` (owner: the user whose key made the call) or a service
  account (owner: that account); the create answer carries ``key``. Later reads show ``last4``
  and no ``key`` on the org-wide and service-account paths
  (``test_get_an_application_key_returns_ok_response.yaml``, 2025-09;
  ``test_get_one_application_key_for_this_service_account_returns_ok_response.yaml``), while the
  owner's own ``GET /api/v2/current_user/application_keys/{id}`` shows ``key`` again
  (``test_get_one_application_key_owned_by_current_user_returns_ok_response.yaml``, 2025-09),
  except in one-time-read mode. Unknown ids: 404 ``{"errors": ["Application key not found"]}``
  (``test_get_an_application_key_returns_not_found_response.yaml``,
  ``test_get_one_application_key_owned_by_current_user_returns_not_found_response.yaml``).
- One key is reachable through ``/api/v2/application_keys/{id}`` (any owner in the org) and the
  path of its owner (``current_user`` or ``service_accounts/{id}``); the recordings create on one
  path and read or delete on the other. Another owner's key on an owner path answers 404.
- ``scopes``: a list of permission names or null (``test_create_an_application_key_with_scopes_
  for_this_service_account_returns_created_response.yaml``). Docs: "Application keys are
  associated with the user account that created them and by default have the permissions of
  the user"; a scoped key has only the scopes given. The simulator narrows a key's permissions
  (``permissions.py``) to its scopes and to its owner's roles (a Datadog Admin Role holder has
  them all). An unknown scope name is a 400 (stricter reading).
- List meta: ``{"page": {"total_filtered_count": n}, "max_allowed_per_user": 1000}``
  (``test_get_all_application_keys_returns_ok_response.yaml``).
- "When that employee leaves the company, you deactivate their Datadog account, and their
  application key stops working" (service accounts docs): disabling a user (``DELETE`` or
  ``PATCH disabled: true`` on ``/api/v2/users/{id}``) revokes their application keys for good
  (re-enabling does not bring them back: the stricter reading); a revoked key authenticates
  like an unknown one, 403 ``{"errors": ["Forbidden"]}`` (``middleware.py``), and a disabled
  service account gets no new key (400; not recorded, the stricter reading).
- The keys ``POST /api/v1/org`` returns are created by, and owned by, the calling user
  (terraform-provider-datadog ``TestAccDatadogChildOrganization_Create``): in the child the
  application key belongs to the child's first user, who has that caller's email, and it is
  also revoked when that caller is disabled in the parent org (stricter reading).

Key secrets are held only in memory (the state file keeps hashes), so after a reload a key's
secret is no longer shown, as in one-time-read mode.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from ddmsp.simulator.http import (
    Route,
    caller_org,
    data_of,
    need_obj,
    need_str,
    paging,
    query_bool,
    read_json,
    state_of,
)
from ddmsp.simulator.permissions import KeyPermissionsState
from ddmsp.simulator.roles import PERMISSIONS_BY_ID, PERMISSIONS_BY_NAME
from ddmsp.simulator.serviceaccounts import ServiceAccountsState
from ddmsp.simulator.store import Org, SimError, key_hash, new_api_key, new_app_key
from ddmsp.simulator.users import ADMIN_ROLE, User, _answer

API_KEY_NOT_FOUND = "API key not found"
APP_KEY_NOT_FOUND = "Application key not found"
MAX_APP_KEYS_PER_USER = 1000


@dataclass
class ApiKeyRecord:
    """One API key of an org (its secret only as a hash)."""

    id: str
    org: str
    name: str
    key_hash: str
    last4: str
    created_at: str
    modified_at: str
    created_by: str
    modified_by: str


@dataclass
class AppKeyRecord:
    """One application key: its owner, scopes and, for a bootstrap key, the creating user."""

    id: str
    org: str
    name: str
    key_hash: str
    last4: str
    created_at: str
    owner_id: str
    scopes: list[str] | None = None
    origin_org: str | None = None
    origin_user: str | None = None
    revoked: bool = False


def _both(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


class KeysState(ServiceAccountsState, KeyPermissionsState):
    """API and application keys of every org, their owners and their scopes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_keys: dict[str, ApiKeyRecord] = {}
        self.app_keys: dict[str, AppKeyRecord] = {}
        self._api_secrets: dict[str, str] = {}  # id -> secret, memory only
        self._app_secrets: dict[str, str] = {}  # id -> secret, memory only
        self._api_by_hash: dict[str, str] = {}  # key hash -> id (every request looks up)
        self._app_by_hash: dict[str, str] = {}

    # ------------------------------------------------------------------------- lookups
    def _seed_user(self, org: Org) -> User | None:
        email = org.user_email.lower()
        users = self.users.get(org.public_id, {}).values()
        return next((u for u in users if u.email == email and u.created_by == "seed"), None)

    def app_key_record(self, app_key: str | None) -> AppKeyRecord | None:
        """The record of an application key (by its secret), if the simulator made one."""
        if not app_key:
            return None
        with self.lock:
            kid = self._app_by_hash.get(key_hash(app_key))
            return self.app_keys.get(kid) if kid else None

    def api_key_record(self, api_key: str) -> ApiKeyRecord | None:
        """The record of an API key (by its secret)."""
        with self.lock:
            kid = self._api_by_hash.get(key_hash(api_key))
            return self.api_keys.get(kid) if kid else None

    def current_user_id(self, org: Org, app_key: str | None) -> str:
        """The user a request acts as: its application key's owner."""
        rec = self.app_key_record(app_key)
        if rec is not None:
            return rec.owner_id
        seed = self._seed_user(org)
        if seed is None:
            raise SimError(404, "Current user not found")
        return seed.id

    def _user(self, org_id: str | None, user_id: str | None) -> User | None:
        if not org_id or not user_id:
            return None
        return self.users.get(org_id, {}).get(user_id)

    def _usable(self, rec: AppKeyRecord) -> bool:
        if rec.revoked:
            return False
        for org_id, user_id in ((rec.org, rec.owner_id), (rec.origin_org, rec.origin_user)):
            user = self._user(org_id, user_id)
            if user is not None and user.disabled:
                return False
        return True

    # ---------------------------------------------------------------- auth and permission
    def org_for_keys(self, api_key: str | None, app_key: str | None) -> Org | None:
        """As ``StateBase``, and an application key whose owner is disabled no longer works."""
        org = super().org_for_keys(api_key, app_key)
        if org is None:
            return None
        with self.lock:
            rec = self.app_key_record(app_key)
            if rec is not None and not self._usable(rec):
                return None
            return org

    def _owner_permissions(self, rec: AppKeyRecord) -> frozenset[str] | None:
        user = self._user(rec.org, rec.owner_id)
        org = self.orgs.get(rec.org)
        if user is None or org is None:
            return None
        roles = [org.roles[r] for r in user.role_ids if r in org.roles]
        if any(r.name == ADMIN_ROLE for r in roles):
            return None
        return frozenset(PERMISSIONS_BY_ID[p]["name"] for r in roles for p in r.permission_ids
                         if p in PERMISSIONS_BY_ID)

    def permissions_of(self, public_id: str, app_key: str | None) -> frozenset[str] | None:
        """The test-set permissions, narrowed to the key's owner's roles and its scopes."""
        with self.lock:
            granted = super().permissions_of(public_id, app_key)
            rec = self.app_key_record(app_key)
            if rec is None:
                return granted
            scopes = frozenset(rec.scopes) if rec.scopes is not None else None
            return _both(_both(granted, self._owner_permissions(rec)), scopes)

    # -------------------------------------------------------------------------- hooks
    def _register_keys(self, org: Org, api_key: str, app_key: str) -> None:
        """Bootstrap and child-org keys get records too, owned by the org's first user."""
        super()._register_keys(org, api_key, app_key)
        seed = self._seed_user(org)
        owner = seed.id if seed else ""
        ts = self._ts()
        email = org.user_email
        if self.api_key_record(api_key) is None:
            kid = str(uuid.uuid4())
            self.api_keys[kid] = ApiKeyRecord(
                kid, org.public_id, f"API Key created by {email} on {ts[:10]}", key_hash(api_key),
                api_key[-4:], ts, ts, owner, owner)
            self._api_secrets[kid] = api_key
            self._api_by_hash[key_hash(api_key)] = kid
        if self.app_key_record(app_key) is None:
            origin_org = origin_user = None
            parent = self.orgs.get(org.parent_id) if org.parent_id else None
            if parent is not None:
                creator = self._seed_user(parent)
                origin_org, origin_user = parent.public_id, creator.id if creator else None
            kid = str(uuid.uuid4())
            self.app_keys[kid] = AppKeyRecord(
                kid, org.public_id, f"{email} (api)", key_hash(app_key), app_key[-4:], ts, owner,
                origin_org=origin_org, origin_user=origin_user)
            self._app_secrets[kid] = app_key
            self._app_by_hash[key_hash(app_key)] = kid

    def _to_json_extra(self, out: dict[str, Any]) -> None:
        super()._to_json_extra(out)
        out["api_keys"] = [asdict(k) for k in self.api_keys.values()]
        out["app_keys"] = [asdict(k) for k in self.app_keys.values()]

    def _load_extra(self, data: dict[str, Any]) -> None:
        super()._load_extra(data)
        self.api_keys = {k["id"]: ApiKeyRecord(**k) for k in data.get("api_keys") or []}
        self.app_keys = {k["id"]: AppKeyRecord(**k) for k in data.get("app_keys") or []}
        self._api_by_hash = {k.key_hash: k.id for k in self.api_keys.values()}
        self._app_by_hash = {k.key_hash: k.id for k in self.app_keys.values()}
        self._api_secrets = {}
        self._app_secrets = {}

    def _snapshot_org(self, org: Org, out: dict[str, Any]) -> None:
        super()._snapshot_org(org, out)
        out["api_key_records"] = [{"id": k.id, "name": k.name}
                                  for k in self.api_keys.values() if k.org == org.public_id]
        out["app_key_records"] = [{"id": k.id, "name": k.name, "owner": k.owner_id,
                                   "scopes": k.scopes, "revoked": k.revoked}
                                  for k in self.app_keys.values() if k.org == org.public_id]

    # ------------------------------------------------------------------ user disabling
    def update_user(self, org: Org, user_id: str, attrs: dict[str, Any]) -> User:
        """As ``UsersState``; disabling revokes the user's application keys."""
        with self.lock:
            user = super().update_user(org, user_id, attrs)
            if user.disabled:
                self._revoke_keys_of(org.public_id, user.id)
            return user

    def disable_user(self, org: Org, user_id: str) -> None:
        """As ``UsersState``; disabling revokes the user's application keys."""
        with self.lock:
            super().disable_user(org, user_id)
            self._revoke_keys_of(org.public_id, user_id)

    def _revoke_keys_of(self, org_id: str, user_id: str) -> None:
        for rec in self.app_keys.values():
            if (rec.org, rec.owner_id) == (org_id, user_id) or (
                    (rec.origin_org, rec.origin_user) == (org_id, user_id)):
                rec.revoked = True
                self.app_key_index.pop(rec.key_hash, None)

    # ------------------------------------------------------------------------ API keys
    def org_api_keys(self, org: Org) -> list[ApiKeyRecord]:
        """The API keys of an org."""
        with self.lock:
            return [k for k in self.api_keys.values() if k.org == org.public_id]

    def find_api_key(self, org: Org, key_id: str) -> ApiKeyRecord:
        """An API key of the org, or 404 as recorded."""
        rec = self.api_keys.get(key_id)
        if rec is None or rec.org != org.public_id:
            raise SimError(404, API_KEY_NOT_FOUND)
        return rec

    def _check_api_key_name(self, org: Org, name: Any, own_id: str | None = None) -> str:
        text = need_str(name, "data.attributes.name")
        if not text.strip():
            raise SimError(400, "API key name must not be blank")
        if any(k.name == text and k.id != own_id for k in self.org_api_keys(org)):
            raise SimError(409, f"API key name {text} already exists")
        return text

    def create_api_key(self, org: Org, name: Any, user_id: str) -> tuple[ApiKeyRecord, str]:
        """A new API key and its secret."""
        with self.lock:
            text = self._check_api_key_name(org, name)
            if len(self.org_api_keys(org)) >= self.config.api_key_limit:
                raise SimError(400, f"API key limit reached: an organization may have at most "
                               f"{self.config.api_key_limit} API keys")
            secret = new_api_key()
            ts = self._ts()
            kid = str(uuid.uuid4())
            rec = ApiKeyRecord(kid, org.public_id, text, key_hash(secret), secret[-4:], ts, ts,
                               user_id, user_id)
            self.api_keys[kid] = rec
            self._api_by_hash[rec.key_hash] = kid
            self._api_secrets[kid] = secret
            org.key_hashes.append(rec.key_hash)
            self.key_index[rec.key_hash] = org.public_id
            return rec, secret

    def rename_api_key(self, org: Org, key_id: str, name: Any, user_id: str) -> ApiKeyRecord:
        """PATCH: a new name."""
        with self.lock:
            rec = self.find_api_key(org, key_id)
            rec.name = self._check_api_key_name(org, name, own_id=key_id)
            rec.modified_at, rec.modified_by = self._ts(), user_id
            return rec

    def delete_api_key(self, org: Org, key_id: str) -> None:
        """DELETE: the key stops working at once; an org keeps at least one key."""
        with self.lock:
            rec = self.find_api_key(org, key_id)
            if len(self.org_api_keys(org)) <= 1:
                raise SimError(400, "An organization must have at least one API key")
            del self.api_keys[key_id]
            self._api_by_hash.pop(rec.key_hash, None)
            self._api_secrets.pop(key_id, None)
            if rec.key_hash in org.key_hashes:
                org.key_hashes.remove(rec.key_hash)
            self.key_index.pop(rec.key_hash, None)

    def api_key_secret(self, rec: ApiKeyRecord) -> str | None:
        """The secret a later read shows: none in one-time-read mode or after a reload."""
        if self.config.one_time_read:
            return None
        return self._api_secrets.get(rec.id)

    def app_key_secret(self, rec: AppKeyRecord) -> str | None:
        """The secret the owner's own read shows: none in one-time-read mode, after a
        reload, or once the key is revoked."""
        if self.config.one_time_read or rec.revoked:
            return None
        return self._app_secrets.get(rec.id)

    # ---------------------------------------------------------------- application keys
    def org_app_keys(self, org: Org, owner_id: str | None = None) -> list[AppKeyRecord]:
        """The application keys of an org (of one owner when given)."""
        with self.lock:
            return [k for k in self.app_keys.values() if k.org == org.public_id
                    and (owner_id is None or k.owner_id == owner_id)]

    def find_app_key(self, org: Org, key_id: str, owner_id: str | None = None) -> AppKeyRecord:
        """An application key of the org (and of that owner), or 404."""
        rec = self.app_keys.get(key_id)
        if rec is None or rec.org != org.public_id or (
                owner_id is not None and rec.owner_id != owner_id):
            raise SimError(404, APP_KEY_NOT_FOUND)
        return rec

    def create_app_key(self, org: Org, owner_id: str, name: Any, scopes: Any
                       ) -> tuple[AppKeyRecord, str]:
        """A new application key owned by ``owner_id`` and its secret."""
        with self.lock:
            owner = self._user(org.public_id, owner_id)
            if owner is not None and owner.disabled:
                raise SimError(400, f"User {owner_id} is disabled")
            text = _app_key_name(name)
            checked = _scopes(scopes)
            secret = new_app_key()
            kid = str(uuid.uuid4())
            rec = AppKeyRecord(kid, org.public_id, text, key_hash(secret), secret[-4:],
                               self._ts(), owner_id, scopes=checked)
            self.app_keys[kid] = rec
            self._app_by_hash[rec.key_hash] = kid
            self._app_secrets[kid] = secret
            org.app_key_hashes.append(rec.key_hash)
            self.app_key_index[rec.key_hash] = org.public_id
            return rec, secret

    def update_app_key(self, org: Org, key_id: str, attrs: dict[str, Any],
                       owner_id: str | None = None) -> AppKeyRecord:
        """PATCH: name and/or scopes."""
        with self.lock:
            rec = self.find_app_key(org, key_id, owner_id)
            name = _app_key_name(attrs["name"]) if "name" in attrs else rec.name
            scopes = _scopes(attrs["scopes"]) if "scopes" in attrs else rec.scopes
            rec.name, rec.scopes = name, scopes
            return rec

    def delete_app_key(self, org: Org, key_id: str, owner_id: str | None = None) -> None:
        """DELETE: the key stops working at once."""
        with self.lock:
            rec = self.find_app_key(org, key_id, owner_id)
            del self.app_keys[key_id]
            self._app_by_hash.pop(rec.key_hash, None)
            self._app_secrets.pop(key_id, None)
            if rec.key_hash in org.app_key_hashes:
                org.app_key_hashes.remove(rec.key_hash)
            self.app_key_index.pop(rec.key_hash, None)
            self.key_permissions.pop(rec.key_hash, None)


def _app_key_name(value: Any) -> str:
    text = need_str(value, "data.attributes.name", allow_empty=True)
    if not text.strip():
        raise SimError(400, "Application key names cannot be blank")
    return text


def _scopes(value: Any) -> list[str] | None:
    """``scopes``: null (the owner's permissions) or a non-empty list of permission names."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        raise SimError(400, "scopes must be null or a non-empty list of permission names")
    unknown = [s for s in value if s not in PERMISSIONS_BY_NAME]
    if unknown:
        raise SimError(400, f"Invalid scopes: {', '.join(unknown)}")
    return list(dict.fromkeys(value))


# ----------------------------------------------------------------------------------- HTTP
def _user_ref(user_id: str) -> dict[str, Any]:
    return {"data": {"type": "users", "id": user_id}}


def api_key_json(rec: ApiKeyRecord, secret: str | None, created: bool = False
                 ) -> dict[str, Any]:
    """A v2 API key as recorded; ``secret`` only where Datadog shows it, ``date_last_used``
    on reads (key_management.feature: "Get API key" and "Get all API keys" check it)."""
    attrs: dict[str, Any] = {
        "created_at": rec.created_at,
        "last4": rec.last4,
        "modified_at": rec.modified_at,
        "name": rec.name,
        "remote_config_read_enabled": True,
        "category": "default",
    }
    if secret is not None:
        attrs["key"] = secret
    if not created:
        attrs["date_last_used"] = None
    return {"type": "api_keys", "id": rec.id, "attributes": attrs,
            "relationships": {"created_by": _user_ref(rec.created_by),
                              "modified_by": _user_ref(rec.modified_by)}}


def app_key_json(rec: AppKeyRecord, secret: str | None = None) -> dict[str, Any]:
    """A v2 application key as recorded; ``secret`` only in the create answer."""
    attrs: dict[str, Any] = {"name": rec.name, "created_at": rec.created_at,
                             "last4": rec.last4, "scopes": rec.scopes, "last_used_at": None}
    if secret is not None:
        attrs["key"] = secret
    return {"type": "application_keys", "id": rec.id, "attributes": attrs,
            "relationships": {"owned_by": _user_ref(rec.owner_id)}}


def _app_key_header(request: web.Request) -> str | None:
    return request.headers.get("DD-APPLICATION-KEY") or request.query.get("application_key")


def _me(request: web.Request) -> str:
    return state_of(request).current_user_id(caller_org(request), _app_key_header(request))


def _when(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SimError(400, f"Invalid {name}: must be an RFC 3339 date-time") from None
    if value.tzinfo is None:
        raise SimError(400, f"Invalid {name}: must carry a time zone")
    return value


def _in_range(request: web.Request, field_name: str, stamp: str) -> bool:
    start = _when(request, f"filter[{field_name}][start]")
    end = _when(request, f"filter[{field_name}][end]")
    at = datetime.fromisoformat(stamp)
    return (start is None or at >= start) and (end is None or at <= end)


def _page(request: web.Request, items: list[Any], sorts: dict[str, Any]) -> tuple[list[Any], int]:
    size, number, (key, reverse) = paging(request, sorts, "name")
    items.sort(key=key, reverse=reverse)
    return items[number * size : (number + 1) * size], len(items)


_API_SORTS: dict[str, Any] = {
    s: ((lambda f: (lambda k: getattr(k, f)))(s.lstrip("-")), s.startswith("-"))
    for s in ("name", "-name", "created_at", "-created_at", "modified_at", "-modified_at",
              "last4", "-last4")
}
_APP_SORTS: dict[str, Any] = {s: v for s, v in _API_SORTS.items() if "modified" not in s}


async def list_api_keys(request: web.Request) -> web.Response:
    """GET /api/v2/api_keys: no secret; ``filter`` matches names."""
    state = state_of(request)
    org = caller_org(request)
    flt = request.query.get("filter", "").casefold()
    category = request.query.get("filter[category]")
    remote = request.query.get("filter[remote_config_read_enabled]")
    with state.lock:
        keys = [k for k in state.org_api_keys(org)
                if flt in k.name.casefold() and _in_range(request, "created_at", k.created_at)
                and _in_range(request, "modified_at", k.modified_at)]
    if category is not None and category != "default":
        keys = []
    if remote is not None and not query_bool(request, "filter[remote_config_read_enabled]"):
        keys = []
    page, total = _page(request, keys, _API_SORTS)
    return _answer(request, {
        "data": [api_key_json(k, None) for k in page],
        "meta": {"page": {"total_filtered_count": total},
                 "max_allowed": state.config.api_key_limit},
    })


async def create_api_key(request: web.Request) -> web.Response:
    """POST /api/v2/api_keys: the only answer that must show the secret."""
    data = data_of(await read_json(request), "api_keys")
    attrs = need_obj(data.get("attributes"), "data.attributes")
    org = caller_org(request)
    rec, secret = state_of(request).create_api_key(org, attrs.get("name"), _me(request))
    return _answer(request, {"data": api_key_json(rec, secret, created=True)}, status=201)


async def get_api_key(request: web.Request) -> web.Response:
    """GET /api/v2/api_keys/{api_key_id}."""
    state = state_of(request)
    with state.lock:
        rec = state.find_api_key(caller_org(request), request.match_info["api_key_id"])
        return _answer(request, {"data": api_key_json(rec, state.api_key_secret(rec))})


async def update_api_key(request: web.Request) -> web.Response:
    """PATCH /api/v2/api_keys/{api_key_id}: rename."""
    key_id = request.match_info["api_key_id"]
    data = data_of(await read_json(request), "api_keys")
    if data.get("id") != key_id:
        raise SimError(400, "data.id must match the API key id of the path")
    attrs = need_obj(data.get("attributes"), "data.attributes")
    state = state_of(request)
    with state.lock:
        rec = state.rename_api_key(caller_org(request), key_id, attrs.get("name"), _me(request))
        return _answer(request, {"data": api_key_json(rec, state.api_key_secret(rec))})


async def delete_api_key(request: web.Request) -> web.Response:
    """DELETE /api/v2/api_keys/{api_key_id}."""
    state_of(request).delete_api_key(caller_org(request), request.match_info["api_key_id"])
    return web.Response(status=204)


# ------------------------------------------------------------------ application keys HTTP
def _owner_scope(request: web.Request) -> str | None:
    """Whose keys a path reaches: None (org-wide), the caller, or the service account."""
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else ""
    if path.startswith("/api/v2/current_user/"):
        return _me(request)
    if path.startswith("/api/v2/service_accounts/"):
        sa = state_of(request).find_service_account(caller_org(request),
                                                    request.match_info["service_account_id"])
        return sa.id
    return None


async def list_app_keys(request: web.Request) -> web.Response:
    """GET the application keys of the org, the caller or a service account: no secret."""
    state = state_of(request)
    org = caller_org(request)
    owner = _owner_scope(request)
    flt = request.query.get("filter", "").casefold()
    owned_by = request.query.get("filter[owned_by]", "").casefold()
    with state.lock:
        keys = [k for k in state.org_app_keys(org, owner)
                if flt in k.name.casefold() and _in_range(request, "created_at", k.created_at)]
        if owned_by:
            def matches(k: AppKeyRecord) -> bool:
                user = state.org_users(org).get(k.owner_id)
                words = [k.owner_id] + ([user.email, user.name or ""] if user else [])
                return any(owned_by in w.casefold() for w in words)
            keys = [k for k in keys if matches(k)]
    page, total = _page(request, keys, _APP_SORTS)
    return _answer(request, {
        "data": [app_key_json(k) for k in page],
        "meta": {"page": {"total_filtered_count": total},
                 "max_allowed_per_user": MAX_APP_KEYS_PER_USER},
    })


async def create_app_key(request: web.Request) -> web.Response:
    """POST a key for the caller or a service account: the only answer with the secret."""
    data = data_of(await read_json(request), "application_keys")
    attrs = need_obj(data.get("attributes"), "data.attributes")
    owner = _owner_scope(request)
    if owner is None:
        raise SimError(405, "Method Not Allowed")
    state = state_of(request)
    org = caller_org(request)
    rec, secret = state.create_app_key(org, owner, attrs.get("name"), attrs.get("scopes"))
    owner_user = state.org_users(org).get(owner)
    # a key fault (faults.py, refuse_new_app_key): a new key refused for its first uses
    state.arm_key_faults(org.public_id, rec.id,
                         bool(owner_user is not None and owner_user.service_account))
    return _answer(request, {"data": app_key_json(rec, secret)}, status=201)


def _is_mine(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    return resource is not None and resource.canonical.startswith("/api/v2/current_user/")


async def get_app_key(request: web.Request) -> web.Response:
    """GET one application key on any of its paths: ``last4``; the secret only on the
    owner's own path, as recorded (not in one-time-read mode)."""
    state = state_of(request)
    with state.lock:
        rec = state.find_app_key(caller_org(request), request.match_info["app_key_id"],
                                 _owner_scope(request))
        secret = state.app_key_secret(rec) if _is_mine(request) else None
        return _answer(request, {"data": app_key_json(rec, secret)})


async def update_app_key(request: web.Request) -> web.Response:
    """PATCH one application key: name, scopes."""
    key_id = request.match_info["app_key_id"]
    data = data_of(await read_json(request), "application_keys")
    if data.get("id") != key_id:
        raise SimError(400, "data.id must match the application key id of the path")
    attrs = need_obj(data.get("attributes", {}), "data.attributes")
    rec = state_of(request).update_app_key(caller_org(request), key_id, attrs,
                                           _owner_scope(request))
    return _answer(request, {"data": app_key_json(rec)})


async def delete_app_key(request: web.Request) -> web.Response:
    """DELETE one application key on any of its paths."""
    state_of(request).delete_app_key(caller_org(request), request.match_info["app_key_id"],
                                     _owner_scope(request))
    return web.Response(status=204)


API_KEY = "/api/v2/api_keys/{api_key_id}"
APP_KEYS = "/api/v2/application_keys"
MY_KEYS = "/api/v2/current_user/application_keys"
SA_KEYS = "/api/v2/service_accounts/{service_account_id}/application_keys"

ROUTES: list[Route] = [
    ("GET", "/api/v2/api_keys", list_api_keys, "both", "api_keys"),
    ("POST", "/api/v2/api_keys", create_api_key, "both", "api_keys"),
    ("GET", API_KEY, get_api_key, "both", "api_keys"),
    ("PATCH", API_KEY, update_api_key, "both", "api_keys"),
    ("DELETE", API_KEY, delete_api_key, "both", "api_keys"),
    ("GET", APP_KEYS, list_app_keys, "both", "application_keys"),
    ("GET", APP_KEYS + "/{app_key_id}", get_app_key, "both", "application_keys"),
    ("PATCH", APP_KEYS + "/{app_key_id}", update_app_key, "both", "application_keys"),
    ("DELETE", APP_KEYS + "/{app_key_id}", delete_app_key, "both", "application_keys"),
]
for _base in (MY_KEYS, SA_KEYS):
    ROUTES += [
        ("GET", _base, list_app_keys, "both", "application_keys"),
        ("POST", _base, create_app_key, "both", "application_keys"),
        ("GET", _base + "/{app_key_id}", get_app_key, "both", "application_keys"),
        ("PATCH", _base + "/{app_key_id}", update_app_key, "both", "application_keys"),
        ("DELETE", _base + "/{app_key_id}", delete_app_key, "both", "application_keys"),
    ]
