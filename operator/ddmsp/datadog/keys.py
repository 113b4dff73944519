"""Service accounts and application keys (Datadog v2), as the key hand-over needs them.

Evidence: Datadog's v2 spec (DataDog/datadog-api-client-python
``.generator/schemas/v2/openapi.yaml``): ``POST /api/v2/service_accounts`` (a
``ServiceAccountCreateRequest``: ``type: users``, ``email``, ``service_account: true``,
roles as relationships), ``POST /api/v2/service_accounts/{service_account_id}/
application_keys`` (answers a ``FullApplicationKey``: ``key`` is shown in this answer only),
``GET`` the same path, ``GET /api/v2/current_user/application_keys`` (``PartialApplicationKey``:
``last4``, no ``key``) and ``DELETE /api/v2/application_keys/{app_key_id}`` (204).
The key value is held as a ``SecretStr`` and never appears in a repr, log or error.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from ddmsp.datadog.client import DatadogClient, _q
from ddmsp.datadog.errors import ResponseFormatError
from ddmsp.datadog.models import User, _flatten, _Model

SA_PATH = "/api/v2/service_accounts"
SA_KEYS = "/api/v2/service_accounts/{service_account_id}/application_keys"
SA_KEY = "/api/v2/service_accounts/{service_account_id}/application_keys/{app_key_id}"
MY_KEYS = "/api/v2/current_user/application_keys"
APP_KEY = "/api/v2/application_keys/{app_key_id}"


class ApplicationKey(_Model):
    """An application key's metadata; ``key`` only in a create's answer."""

    id: str
    name: str | None = None
    last4: str | None = None
    created_at: str | None = None
    scopes: list[str] | None = None
    key: SecretStr | None = None

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> ApplicationKey:
        return cls.model_validate(_flatten(resource))


async def create_service_account(dd: DatadogClient, email: str, *, name: str,
                                 role_ids: list[str]) -> User:
    """Create a service account (not idempotent: run it through the CreateGuard)."""
    body = {"data": {
        "type": "users",
        "attributes": {"email": email, "name": name, "service_account": True},
        "relationships": {"roles": {"data": [{"type": "roles", "id": r} for r in role_ids]}},
    }}
    data = await dd._call("POST", SA_PATH, SA_PATH, json_body=body)
    return dd._parse_resource(User.from_resource, data, "POST", SA_PATH)


async def create_service_account_application_key(
    dd: DatadogClient, service_account_id: str, name: str
) -> ApplicationKey:
    """A new key owned by the service account; the answer is the only copy of its value."""
    path = f"{SA_PATH}/{_q(service_account_id)}/application_keys"
    body = {"data": {"type": "application_keys", "attributes": {"name": name}}}
    data = await dd._call("POST", SA_KEYS, path, json_body=body)
    created = dd._parse_resource(ApplicationKey.from_resource, data, "POST", path)
    if created.key is None:
        raise ResponseFormatError("the key create answered no key", method="POST", path=path)
    return created


async def list_service_account_application_keys(
    dd: DatadogClient, service_account_id: str
) -> list[ApplicationKey]:
    path = f"{SA_PATH}/{_q(service_account_id)}/application_keys"
    return [k async for k in dd._paged(SA_KEYS, path, ApplicationKey.from_resource)]


async def delete_service_account_application_key(
    dd: DatadogClient, service_account_id: str, key_id: str
) -> None:
    path = f"{SA_PATH}/{_q(service_account_id)}/application_keys/{_q(key_id)}"
    await dd._call("DELETE", SA_KEY, path)


async def list_current_user_application_keys(dd: DatadogClient) -> list[ApplicationKey]:
    """The application keys of the user owning the client's application key."""
    return [k async for k in dd._paged(MY_KEYS, MY_KEYS, ApplicationKey.from_resource)]


async def delete_application_key(dd: DatadogClient, key_id: str) -> None:
    """Revoke any application key of the org by ID (404 when it is gone)."""
    path = f"/api/v2/application_keys/{_q(key_id)}"
    await dd._call("DELETE", APP_KEY, path)
