"""Users, invitations and role membership (v2 ``/api/v2/users``, ``/api/v2/user_invitations``,
``/api/v2/roles/{role_id}/users``).

Why: DatadogUser converges people onto Datadog users; this area answers as the recorded
exchanges do. Evidence (DataDog/datadog-api-client-python ``tests/v2/cassettes/test_scenarios``
and ``tests/v2/features/users.feature``; DataDog/terraform-provider-datadog
``datadog/resource_datadog_user.go`` and ``datadog/tests/cassettes/TestAccDatadogUser_*``):

- ``POST /api/v2/users`` answers 201 with the email lowercased (``handle`` too), ``status``
  ``Pending``, ``verified: false``, ``disabled: false`` (test_create_a_user_returns_ok_response).
- An email that exists in the org, disabled or not, answers 409
  ``{"errors": ["User <email> already exists"]}``; Datadog never really deletes users
  (TestAccDatadogUser_Existing; the Terraform resource's comment "Datadog does not actually
  delete users, so CreateUser might return a 409").
- ``DELETE /api/v2/users/{id}`` disables (204, status ``Disabled``); a second DELETE, or a DELETE
  of a user disabled by PATCH, answers 404 ``<id> not found``
  (test_disable_a_user_returns_ok_response, test_update_a_user_returns_ok_response).
- ``PATCH`` with a body id that differs from the path answers 422 "UUID's in the URL and request
  body do not match"; ``disabled: false`` on a disabled, never-verified user makes it
  ``Pending`` again (TestAccDatadogUser_Existing).
- ``POST /api/v2/user_invitations`` answers 201 with one invitation per user; the first is a
  ``basic_invite``, later ones ``basic_reminder``; ``expires_at`` is ``created_at`` + 2 days
  (TestAccDatadogUser_Existing, test_get_a_user_invitation_returns_ok_response), 30 days when
  the org config ``30d_invite_expiration`` is on (its description in ``data/org_configs.json``).
  ``{"data": []}`` is a 400 (users.feature "Send invitation emails returns Bad Request").
- ``POST``/``DELETE /api/v2/roles/{role_id}/users`` with ``{"data": {"id", "type": "users"}}``
  answer 200 with the role's users and ``meta.page.total_count``
  (test_add_a_user_to_a_role_returns_ok_response, test_remove_a_user_from_a_role_...).

Stricter readings where nothing is recorded: inviting a user who is not Pending, an unknown
role in a create's relationships and an unknown user in a membership call are refused. Times
come from the simulator clock (``/_sim/clock``) and every answer of this area
carries that clock in its ``Date`` header, so an operator can judge expiry by Datadog's time.
Permissions per route are enforced centrally (``simulator/permissions.py``), not here.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from ddmsp.simulator.http import (
    Route,
    caller_org,
    data_of,
    need_obj,
    need_str,
    paging,
    read_json,
    rel_id,
    rel_ids,
    state_of,
)
from ddmsp.simulator.roles import RolesState, role_json
from ddmsp.simulator.store import Org, SimError

INVITE_DAYS = 2
LONG_INVITE_DAYS = 30
LONG_INVITE_CONFIG = "30d_invite_expiration"
ADMIN_ROLE = "Datadog Admin Role"


@dataclass
class User:
    """A v2 user of one org."""

    id: str
    email: str
    name: str | None
    title: str | None
    created_at: str
    modified_at: str
    status: str = "Pending"  # Pending | Active | Disabled
    verified: bool = False
    service_account: bool = False
    role_ids: list[str] = field(default_factory=list)
    created_by: str = "api"  # "api" | "saml" (just-in-time) | "seed"

    @property
    def disabled(self) -> bool:
        return self.status == "Disabled"


@dataclass
class Invitation:
    """A v2 user invitation."""

    id: str
    user_id: str
    invite_type: str
    created_at: str
    expires_at: str


# ------------------------------------------------------------------------------------ state
class UsersState(RolesState):
    """Users and invitations of each org (kept per org public_id, outside ``Org``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.users: dict[str, dict[str, User]] = {}
        self.invitations: dict[str, dict[str, Invitation]] = {}

    # ----------------------------------------------------------------------------- clock
    def users_now(self) -> datetime:
        """The simulator clock (``/_sim/clock``), timezone-aware UTC."""
        return self.clock.now().astimezone(UTC)

    def _ts(self) -> str:
        return self.users_now().isoformat()

    # ------------------------------------------------------------------------------ hooks
    def _init_org(self, org: Org) -> None:
        super()._init_org(org)
        self.users.setdefault(org.public_id, {})
        self.invitations.setdefault(org.public_id, {})
        admin = next((r for r in org.roles.values() if r.name == ADMIN_ROLE), None)
        if org.user_email:  # the org's creator: Active, an administrator
            ts = self._ts()
            user = User(str(uuid.uuid4()), org.user_email.lower(), None, None, ts, ts,
                        status="Active", verified=True, created_by="seed",
                        role_ids=[admin.id] if admin else [])
            self.users[org.public_id][user.id] = user
            self._recount(org)

    def _snapshot_org(self, org: Org, out: dict[str, Any]) -> None:
        super()._snapshot_org(org, out)
        out["users"] = [
            {"id": u.id, "email": u.email, "name": u.name, "status": u.status,
             "created_by": u.created_by,
             "roles": sorted(org.roles[r].name for r in u.role_ids if r in org.roles),
             "invitations": [asdict(i) for i in self.invitations.get(org.public_id, {}).values()
                             if i.user_id == u.id]}
            for u in self.users.get(org.public_id, {}).values()
        ]

    def _to_json_extra(self, out: dict[str, Any]) -> None:
        super()._to_json_extra(out)
        out["users"] = {p: [asdict(u) for u in us.values()] for p, us in self.users.items()}
        out["user_invitations"] = {
            p: [asdict(i) for i in inv.values()] for p, inv in self.invitations.items()
        }

    def _load_extra(self, data: dict[str, Any]) -> None:
        super()._load_extra(data)
        self.users = {p: {u["id"]: User(**u) for u in us}
                      for p, us in (data.get("users") or {}).items()}
        self.invitations = {p: {i["id"]: Invitation(**i) for i in inv}
                            for p, inv in (data.get("user_invitations") or {}).items()}

    # ------------------------------------------------------------------------ operations
    def org_users(self, org: Org) -> dict[str, User]:
        """The users of an org (created on first use for orgs loaded without any)."""
        with self.lock:
            return self.users.setdefault(org.public_id, {})

    def find_user(self, org: Org, user_id: str) -> User:
        """A user by id, or 404 with the recorded message."""
        user = self.org_users(org).get(user_id)
        if user is None:
            raise SimError(404, f"{user_id} not found")
        return user

    def _recount(self, org: Org) -> None:
        users = self.org_users(org).values()
        for role in org.roles.values():
            role.user_count = sum(1 for u in users if role.id in u.role_ids)

    def create_user(self, org: Org, email: Any, name: Any, title: Any,
                    role_ids: list[str] | None, created_by: str = "api") -> User:
        """POST /api/v2/users: 409 when the email exists in the org, whatever its status."""
        with self.lock:
            email = _email(email)
            for other in self.org_users(org).values():
                if other.email == email:
                    raise SimError(409, f"User {email} already exists")
            for rid in role_ids or []:
                if rid not in org.roles:
                    raise SimError(400, f"Role {rid} not found")
            ts = self._ts()
            user = User(str(uuid.uuid4()), email, _opt_str(name, "name"), _opt_str(title, "title"),
                        ts, ts, role_ids=list(dict.fromkeys(role_ids or [])),
                        created_by=created_by)
            self.org_users(org)[user.id] = user
            self._recount(org)
            return user

    def update_user(self, org: Org, user_id: str, attrs: dict[str, Any]) -> User:
        """PATCH: name, title, email and disabled; re-enabling a never-verified user makes it
        Pending again."""
        with self.lock:
            user = self.find_user(org, user_id)
            if "name" in attrs:
                user.name = _opt_str(attrs["name"], "name")
            if "title" in attrs:
                user.title = _opt_str(attrs["title"], "title")
            if "email" in attrs:
                email = _email(attrs["email"])
                if any(u.email == email and u.id != user.id
                       for u in self.org_users(org).values()):
                    raise SimError(409, f"User {email} already exists")
                user.email = email
            if "disabled" in attrs:
                if not isinstance(attrs["disabled"], bool):
                    raise SimError(400, "disabled must be a boolean")
                if attrs["disabled"]:
                    user.status = "Disabled"
                elif user.disabled:
                    user.status = "Active" if user.verified else "Pending"
            user.modified_at = self._ts()
            return user

    def disable_user(self, org: Org, user_id: str) -> None:
        """DELETE: disable; a disabled user is ``not found`` (recorded)."""
        with self.lock:
            user = self.find_user(org, user_id)
            if user.disabled:
                raise SimError(404, f"{user_id} not found")
            user.status = "Disabled"
            user.modified_at = self._ts()

    def invite(self, org: Org, user_id: str) -> Invitation:
        """Send (or re-send) an invitation; it expires after 2 days, 30 with the org config."""
        with self.lock:
            user = self.find_user(org, user_id)
            if user.status != "Pending":
                raise SimError(400, f"User {user_id} is {user.status.lower()}: only pending "
                               "users can be invited")
            invitations = self.invitations.setdefault(org.public_id, {})
            earlier = any(i.user_id == user_id for i in invitations.values())
            cfg = org.org_configs.get(LONG_INVITE_CONFIG) or {}
            days = LONG_INVITE_DAYS if cfg.get("value") is True else INVITE_DAYS
            now = self.users_now()
            inv_id = str(uuid.uuid4())
            inv = Invitation(inv_id, user_id, "basic_reminder" if earlier else "basic_invite",
                             now.isoformat(), (now + timedelta(days=days)).isoformat())
            invitations[inv_id] = inv
            return inv

    def find_invitation(self, org: Org, invitation_id: str) -> Invitation:
        """An invitation by uuid, or 404."""
        inv = self.invitations.get(org.public_id, {}).get(invitation_id)
        if inv is None:
            raise SimError(404, f"{invitation_id} not found")
        return inv

    def add_to_role(self, org: Org, role_id: str, user_id: str) -> None:
        """Make a user a member of a role (idempotent)."""
        with self.lock:
            self.find_role(org, role_id)
            user = self.find_user(org, user_id)
            if role_id not in user.role_ids:
                user.role_ids.append(role_id)
                user.modified_at = self._ts()
            self._recount(org)

    def remove_from_role(self, org: Org, role_id: str, user_id: str) -> None:
        """Take a user out of a role (idempotent)."""
        with self.lock:
            self.find_role(org, role_id)
            user = self.find_user(org, user_id)
            if role_id in user.role_ids:
                user.role_ids.remove(role_id)
                user.modified_at = self._ts()
            self._recount(org)

    def delete_role(self, org: Org, role_id: str) -> None:
        """A deleted role also leaves its users' role lists."""
        with self.lock:
            super().delete_role(org, role_id)
            for user in self.org_users(org).values():
                if role_id in user.role_ids:
                    user.role_ids.remove(role_id)

    # ------------------------------------------------------------------- test mutators
    def saml_jit_user(self, org_public_id: str, email: str, role_name: str | None = None) -> str:
        """Test helper: a user created by SAML just-in-time provisioning (Active)."""
        with self.lock:
            org = self.orgs[org_public_id]
            roles = [r.id for r in org.roles.values() if r.name == role_name]
            user = self.create_user(org, email, None, None, roles, created_by="saml")
            user.status, user.verified = "Active", True
            return user.id

    def user_by_email(self, org_public_id: str, email: str) -> User | None:
        """Test helper: the user with this email, if any."""
        with self.lock:
            org = self.orgs[org_public_id]
            return next((u for u in self.org_users(org).values() if u.email == email.lower()),
                        None)

    def activate_user(self, org_public_id: str, email: str) -> None:
        """Test helper: the person accepted the invitation and logged in."""
        with self.lock:
            user = self.user_by_email(org_public_id, email)
            if user is None:
                raise KeyError(email)
            user.status, user.verified = "Active", True


def _email(value: Any) -> str:
    text = need_str(value, "data.attributes.email").strip()
    local, _, domain = text.partition("@")
    if not local or "." not in domain or " " in text or len(text) > 255:
        raise SimError(400, f"Invalid email address: {text}")
    return text.lower()


def _opt_str(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise SimError(400, f"{what} must be a string")
    return value


# ----------------------------------------------------------------------------------- HTTP
def user_json(user: User, org: Org) -> dict[str, Any]:
    """A v2 user resource as recorded."""
    return {
        "type": "users",
        "id": user.id,
        "attributes": {
            "name": user.name,
            "handle": user.email,
            "created_at": user.created_at,
            "modified_at": user.modified_at,
            "email": user.email,
            "icon": "https://secure.gravatar.com/avatar/00000000000000000000000000000000"
                    "?s=48&d=retro",
            "title": user.title,
            "verified": user.verified,
            "service_account": user.service_account,
            "disabled": user.disabled,
            "allowed_login_methods": [],
            "status": user.status,
        },
        "relationships": {
            "roles": {"data": [{"type": "roles", "id": r} for r in user.role_ids]},
            "org": {"data": {"type": "orgs", "id": org.public_id}},
        },
    }


def invitation_json(inv: Invitation) -> dict[str, Any]:
    """A v2 user invitation as recorded."""
    return {
        "type": "user_invitations",
        "id": inv.id,
        "attributes": {"uuid": inv.id, "login_method": None, "invite_type": inv.invite_type,
                       "created_at": inv.created_at, "expires_at": inv.expires_at},
        "relationships": {"user": {"data": {"type": "users", "id": inv.user_id}}},
    }


def _answer(request: web.Request, body: Any, status: int = 200) -> web.Response:
    """JSON with a ``Date`` header from the simulator clock (aiohttp keeps an explicit one)."""
    now = state_of(request).users_now()
    return web.json_response(body, status=status,
                             headers={"Date": format_datetime(now, usegmt=True)})


_USER_SORTS = {
    "name": (lambda u: (u.name or "").casefold(), False),
    "-name": (lambda u: (u.name or "").casefold(), True),
    "email": (lambda u: u.email, False),
    "-email": (lambda u: u.email, True),
    "modified_at": (lambda u: u.modified_at, False),
    "-modified_at": (lambda u: u.modified_at, True),
    "status": (lambda u: u.status, False),
    "-status": (lambda u: u.status, True),
}


def _user_list(request: web.Request, org: Org, users: list[User]) -> web.Response:
    size, number, (key, reverse) = paging(request, _USER_SORTS, "name")
    total = len(users)
    flt = request.query.get("filter", "").casefold()
    if flt:
        users = [u for u in users if flt in u.email or flt in (u.name or "").casefold()]
    statuses = [s for s in request.query.get("filter[status]", "").split(",") if s]
    for s in statuses:
        if s not in ("Active", "Pending", "Disabled"):
            raise SimError(400, f"Invalid filter[status]: {s}")
    if statuses:
        users = [u for u in users if u.status in statuses]
    if request.query.get("sort_dir") == "desc":
        reverse = not reverse
    users.sort(key=key, reverse=reverse)
    page = users[number * size : (number + 1) * size]
    role_ids = list(dict.fromkeys(r for u in page for r in u.role_ids if r in org.roles))
    return _answer(request, {
        "included": [role_json(org.roles[r], False) for r in role_ids],
        "meta": {"page": {"total_filtered_count": len(users), "total_count": total}},
        "data": [user_json(u, org) for u in page],
    })


async def list_users(request: web.Request) -> web.Response:
    """GET /api/v2/users: every user, disabled and unverified ones included."""
    org = caller_org(request)
    state = state_of(request)
    with state.lock:
        users = list(state.org_users(org).values())
    return _user_list(request, org, users)


async def create_user(request: web.Request) -> web.Response:
    """POST /api/v2/users."""
    data = data_of(await read_json(request), "users")
    attrs = need_obj(data.get("attributes"), "data.attributes")
    roles: list[str] | None = None
    rels = data.get("relationships")
    if rels is not None and need_obj(rels, "data.relationships").get("roles") is not None:
        roles = rel_ids(rels["roles"], "relationships.roles", "roles")
    org = caller_org(request)
    user = state_of(request).create_user(org, attrs.get("email"), attrs.get("name"),
                                         attrs.get("title"), roles)
    return _answer(request, {"data": user_json(user, org)}, status=201)


async def get_user(request: web.Request) -> web.Response:
    """GET /api/v2/users/{user_id}."""
    org = caller_org(request)
    user = state_of(request).find_user(org, request.match_info["user_id"])
    return _answer(request, {"data": user_json(user, org)})


async def update_user(request: web.Request) -> web.Response:
    """PATCH /api/v2/users/{user_id}."""
    user_id = request.match_info["user_id"]
    data = data_of(await read_json(request), "users")
    if data.get("id") != user_id:
        raise SimError(422, "UUID's in the URL and request body do not match")
    attrs = need_obj(data.get("attributes", {}), "data.attributes")
    org = caller_org(request)
    user = state_of(request).update_user(org, user_id, attrs)
    return _answer(request, {"data": user_json(user, org)})


async def disable_user(request: web.Request) -> web.Response:
    """DELETE /api/v2/users/{user_id}: disables."""
    state_of(request).disable_user(caller_org(request), request.match_info["user_id"])
    return web.Response(status=204)


async def send_invitations(request: web.Request) -> web.Response:
    """POST /api/v2/user_invitations."""
    items = need_obj(await read_json(request), "body").get("data")
    if not isinstance(items, list) or not items:
        raise SimError(400, "data must be a non-empty list of user_invitations")
    state = state_of(request)
    org = caller_org(request)
    user_ids: list[str] = []
    for item in items:
        item = need_obj(item, "data[]")
        if item.get("type") != "user_invitations":
            raise SimError(400, "data[].type must be 'user_invitations'")
        rels = need_obj(item.get("relationships"), "data[].relationships")
        user_ids.append(rel_id(rels.get("user"), "relationships.user", "users"))
    with state.lock:
        for uid in user_ids:  # all or nothing
            state.find_user(org, uid)
        invitations = [state.invite(org, uid) for uid in user_ids]
    return _answer(request, {"data": [invitation_json(i) for i in invitations]}, status=201)


async def get_invitation(request: web.Request) -> web.Response:
    """GET /api/v2/user_invitations/{user_invitation_uuid}."""
    inv = state_of(request).find_invitation(caller_org(request),
                                            request.match_info["user_invitation_uuid"])
    return _answer(request, {"data": invitation_json(inv)})


async def _membership(request: web.Request, add: bool) -> web.Response:
    role_id = request.match_info["role_id"]
    state = state_of(request)
    org = caller_org(request)
    state.find_role(org, role_id)
    data = data_of(await read_json(request), "users")
    user_id = need_str(data.get("id"), "data.id")
    if add:
        state.add_to_role(org, role_id, user_id)
    else:
        state.remove_from_role(org, role_id, user_id)
    with state.lock:
        members = [u for u in state.org_users(org).values() if role_id in u.role_ids]
    return _answer(request, {"meta": {"page": {"total_count": len(members)}},
                             "data": [user_json(u, org) for u in members]})


async def add_role_user(request: web.Request) -> web.Response:
    """POST /api/v2/roles/{role_id}/users."""
    return await _membership(request, add=True)


async def remove_role_user(request: web.Request) -> web.Response:
    """DELETE /api/v2/roles/{role_id}/users."""
    return await _membership(request, add=False)


async def list_role_users(request: web.Request) -> web.Response:
    """GET /api/v2/roles/{role_id}/users."""
    role_id = request.match_info["role_id"]
    state = state_of(request)
    org = caller_org(request)
    state.find_role(org, role_id)
    with state.lock:
        members = [u for u in state.org_users(org).values() if role_id in u.role_ids]
    return _user_list(request, org, members)


USER_PATH = "/api/v2/users/{user_id}"
ROLE_USERS = "/api/v2/roles/{role_id}/users"

ROUTES: list[Route] = [
    ("GET", "/api/v2/users", list_users, "both", "users"),
    ("POST", "/api/v2/users", create_user, "both", "users"),
    ("GET", USER_PATH, get_user, "both", "users"),
    ("PATCH", USER_PATH, update_user, "both", "users"),
    ("DELETE", USER_PATH, disable_user, "both", "users"),
    ("POST", "/api/v2/user_invitations", send_invitations, "both", "users"),
    ("GET", "/api/v2/user_invitations/{user_invitation_uuid}", get_invitation, "both", "users"),
    ("GET", ROLE_USERS, list_role_users, "both", "roles"),
    ("POST", ROLE_USERS, add_role_user, "both", "roles"),
    ("DELETE", ROLE_USERS, remove_role_user, "both", "roles"),
]
