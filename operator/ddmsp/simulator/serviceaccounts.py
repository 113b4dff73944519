"""Service accounts (v2 ``POST /api/v2/service_accounts``).

Why: the operator drives each client org with a key owned by a service account, so that the key
outlives the people who created the org. Datadog models a service account as a user with
``service_account: true``; it is then read, updated and disabled through ``/api/v2/users/{id}``
(``users.py``), and owns application keys (``keys.py``). Evidence (DataDog/datadog-api-client-python
``tests/v2/features/service_accounts.feature`` and ``tests/v2/cassettes/test_scenarios/``):

- ``POST /api/v2/service_accounts`` with ``{"data": {"type": "users", "attributes": {"email",
  "name"?, "title"?, "service_account": true}, "relationships"?: {"roles": ...}}}`` answers 201
  with a user whose ``handle`` is its own id, ``email`` lowercased, ``verified: true``,
  ``status: "Active"``, ``disabled: false``, ``service_account: true``, ``name`` null when not
  given and the roles asked for
  (``test_create_an_application_key_with_scopes_for_this_service_account_returns_created_response.yaml``,
  ``test_create_a_service_account_returns_ok_response.yaml``).
- A create is not idempotent: nothing in the API or the recordings makes an email unique among
  service accounts (every scenario creates a fresh account; the docs' create form has no
  uniqueness rule), so the simulator lets several accounts share one email, the reading that
  forces a crash-safe caller to find its earlier account by id rather than retry blindly.
- Disabling: ``DELETE /api/v2/users/{id}`` or ``PATCH`` with ``disabled: true`` (the scenarios
  delete their service account with ``DELETE /api/v2/users/{id}``, 204).

Stricter readings where nothing is recorded: ``service_account`` must be ``true`` (the spec
makes it required), an unknown role is a 400 as for users.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from ddmsp.simulator.http import (
    Route,
    caller_org,
    data_of,
    need_obj,
    read_json,
    rel_ids,
    state_of,
)
from ddmsp.simulator.store import Org, SimError
from ddmsp.simulator.users import User, UsersState, _answer, _email, _opt_str, user_json


class ServiceAccountsState(UsersState):
    """Service accounts are users of their org with ``service_account`` set."""

    def create_service_account(self, org: Org, email: Any, name: Any, title: Any,
                               role_ids: list[str] | None) -> User:
        """A new service account; never a 409: several may share an email."""
        with self.lock:
            address = _email(email)
            for rid in role_ids or []:
                if rid not in org.roles:
                    raise SimError(400, f"Role {rid} not found")
            ts = self._ts()
            user_id = str(uuid.uuid4())
            user = User(user_id, address, _opt_str(name, "name"), _opt_str(title, "title"),
                        ts, ts, status="Active", verified=True, service_account=True,
                        role_ids=list(dict.fromkeys(role_ids or [])), created_by="api")
            self.org_users(org)[user_id] = user
            self._recount(org)
            return user

    def update_user(self, org: Org, user_id: str, attrs: dict[str, Any]) -> User:
        """As for users, except that a service account's email need not be unique."""
        with self.lock:
            user = self.find_user(org, user_id)
            if user.service_account and "email" in attrs:
                address = _email(attrs["email"])
                rest = {k: v for k, v in attrs.items() if k != "email"}
                user = super().update_user(org, user_id, rest)
                user.email = address
                return user
            return super().update_user(org, user_id, attrs)

    def find_service_account(self, org: Org, user_id: str) -> User:
        """A service account by id; a person's id (or an unknown one) answers 404."""
        user = self.org_users(org).get(user_id)
        if user is None or not user.service_account:
            raise SimError(404, f"Service account {user_id} not found")
        return user


def service_account_json(user: User, org: Org) -> dict[str, Any]:
    """A service account as recorded: a v2 user whose handle is its id."""
    body = user_json(user, org)
    body["attributes"]["handle"] = user.id
    return body


async def create_service_account(request: web.Request) -> web.Response:
    """POST /api/v2/service_accounts."""
    data = data_of(await read_json(request), "users")
    attrs = need_obj(data.get("attributes"), "data.attributes")
    if attrs.get("service_account") is not True:
        raise SimError(400, "service_account must be true")
    roles: list[str] | None = None
    rels = data.get("relationships")
    if rels is not None and need_obj(rels, "data.relationships").get("roles") is not None:
        roles = rel_ids(rels["roles"], "relationships.roles", "roles")
    org = caller_org(request)
    user = state_of(request).create_service_account(org, attrs.get("email"), attrs.get("name"),
                                                    attrs.get("title"), roles)
    return _answer(request, {"data": service_account_json(user, org)}, status=201)


ROUTES: list[Route] = [
    ("POST", "/api/v2/service_accounts", create_service_account, "both", "users"),
]
