"""The async Datadog API client (httpx).

Every call goes through `_call`, which owns rate limiting, the concurrency cap,
retries (see retry.py), error mapping (errors.py) and secrecy: keys live only in the
auth hook and never reach a log line, an exception or a repr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from ddmsp import __version__, metrics
from ddmsp.datadog.credentials import Credentials
from ddmsp.datadog.errors import (
    AuthenticationError,
    DatadogError,
    OutcomeUnknownError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    TransportError,
    error_for_status,
)
from ddmsp.datadog.models import (
    ApiKey,
    ApplicationKey,
    AuthNMapping,
    CreatedApiKey,
    CreatedApplicationKey,
    CreatedOrg,
    MessageResponse,
    Org,
    OrgConfig,
    OrgConnection,
    OrgCost,
    OrgCreateResponse,
    OrgListResponse,
    OrgResponse,
    OrgSettings,
    Permission,
    Role,
    UsageSummary,
    User,
    UserInvitation,
    ValidateResponse,
)
from ddmsp.datadog.ratelimit import DEFAULT_REGISTRY, RateLimitInfo, RateLimitRegistry
from ddmsp.datadog.retry import NEVER_RETRY, RetryPolicy, is_idempotent, route_key
from ddmsp.datadog.sites import DEFAULT_SITE, api_base_url

log = logging.getLogger("ddmsp.datadog")

M = TypeVar("M", bound=pydantic.BaseModel)
T = TypeVar("T")

PAGE_SIZE = 100
# What the official clients send to the usage-metering endpoints (recorded exchanges).
USAGE_ACCEPT = {"Accept": "application/json;datetime-format=rfc3339"}
DateLike = date | datetime | str
_SA_KEYS = "/api/v2/service_accounts/{service_account_id}/application_keys"

# httpx failures that happen before a byte of the request can have reached the server.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


class _KeyAuth(httpx.Auth):
    """Adds the auth headers at send time, so no request-building code holds them."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["DD-API-KEY"] = self._credentials.api_key.get_secret_value()
        request.headers["DD-APPLICATION-KEY"] = self._credentials.app_key.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return "_KeyAuth(<redacted>)"


def _format_month(value: DateLike) -> str:
    """The month's first instant as an RFC 3339 date-time: the spec types these
    parameters `format: date-time` and the recorded exchanges send full timestamps."""
    if isinstance(value, str):
        return value
    return f"{value.year:04d}-{value.month:02d}-01T00:00:00Z"


def _format_instant(value: DateLike) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="seconds") + "Z"
    return value.isoformat()


def _q(segment: str) -> str:
    return quote(segment, safe="")


class DatadogClient:
    """Async client of the Datadog API calls ddmsp needs.

    Use as `async with DatadogClient(creds, site="datadoghq.eu") as dd: ...`,
    or call `aclose()` yourself. One client per key pair; limits and the concurrency
    cap are shared process-wide between clients of the same base URL and keys.
    """

    def __init__(
        self,
        credentials: Credentials,
        site: str | None = DEFAULT_SITE,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_concurrency: int = 8,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        rate_limits: RateLimitRegistry | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._credentials = credentials
        self.base_url = api_base_url(site, base_url)
        self.fingerprint = credentials.fingerprint()
        self._retry = retry or RetryPolicy()
        self._limits = rate_limits or DEFAULT_REGISTRY
        self._max_concurrency = max_concurrency
        self._sleep = sleep
        self._last_date: str | None = None
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=_KeyAuth(credentials),
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": f"ddmsp/{__version__}"},
            follow_redirects=False,
            trust_env=transport is None,
        )

    def __repr__(self) -> str:
        return f"DatadogClient(base_url={self.base_url!r}, fingerprint={self.fingerprint!r})"

    async def __aenter__(self) -> DatadogClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ core

    async def _wait_for_budget(self, route: str, method: str, path: str) -> None:
        limiter = self._limits.for_route(self.base_url, self.fingerprint, route)
        while True:
            wait = limiter.wait_time()
            if wait <= 0:
                limiter.reserve()
                return
            if wait > self._retry.rate_limit_patience():
                raise RateLimitedError(
                    "rate limit exhausted; not waiting that long",
                    reset_seconds=wait,
                    limit_name=limiter.name,
                    method=method,
                    path=path,
                )
            log.debug(
                "datadog rate limit %s: waiting %.2fs before %s [key %s]",
                limiter.name,
                wait,
                route,
                self.fingerprint,
            )
            metrics.RATE_LIMIT_WAITS.labels(limiter.name).inc()
            await self._sleep(wait)

    def _api_errors(self, response: httpx.Response) -> list[str]:
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            text = response.text.strip()
            return [self._credentials.scrub(text[:500])] if text else []
        items: list[Any] = []
        if isinstance(body, dict):
            errs = body.get("errors", body.get("error"))
            items = errs if isinstance(errs, list) else [errs] if errs else []
        out: list[str] = []
        for item in items:
            if isinstance(item, dict):
                text = item.get("detail") or item.get("title") or json.dumps(item)
            else:
                text = str(item)
            out.append(self._credentials.scrub(str(text)))
        return out

    def _error_from_response(
        self, response: httpx.Response, method: str, path: str, *, may_have_committed: bool
    ) -> DatadogError:
        status = response.status_code
        cls = error_for_status(status)
        common: dict[str, Any] = {
            "status": status,
            "api_errors": self._api_errors(response),
            "method": method,
            "path": path,
        }
        if cls is RateLimitedError:
            info = RateLimitInfo.from_headers(response.headers)
            return RateLimitedError(
                "rate limited by Datadog",
                reset_seconds=info.reset,
                limit_name=info.name,
                **common,
            )
        reason = response.reason_phrase or "error"
        if cls is ServerError:
            common["may_have_committed"] = may_have_committed
        return cls(f"Datadog API answered {status} {reason}", **common)

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        files: Any,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response | Exception:
        sem = self._limits.semaphore(self.base_url, self.fingerprint, self._max_concurrency)
        async with sem:
            try:
                return await self._http.request(
                    method, path, params=params, json=json_body, files=files, headers=headers
                )
            except httpx.TransportError as exc:
                return exc

    async def _call(
        self,
        method: str,
        template: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One logical API call: returns the decoded JSON body (None when empty)."""
        try:
            return await self._call_once(method, template, path, params=params,
                                         json_body=json_body, files=files, headers=headers)
        except DatadogError as exc:
            exc.route = route_key(method, template)
            exc.keys_source = self._credentials.source
            raise

    async def _call_once(
        self,
        method: str,
        template: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        route = route_key(method, template)
        idempotent = is_idempotent(route)
        never_retry = route in NEVER_RETRY
        policy = self._retry
        attempt = 0
        rate_limit_waits = 0
        while True:
            attempt += 1
            await self._wait_for_budget(route, method, path)
            started = time.monotonic()
            outcome = await self._send(method, path, params, json_body, files, headers)
            elapsed = time.monotonic() - started

            if isinstance(outcome, Exception):
                # Built here, outside any `except`, so no httpx object (its request
                # carries the auth headers) is chained to what we raise.
                detail = self._credentials.scrub(f"{type(outcome).__name__}: {outcome}")
                sent = not isinstance(outcome, _NOT_SENT)
                log.warning(
                    "datadog %s %s failed on the network (attempt %d, %s) [key %s]",
                    method,
                    template,
                    attempt,
                    type(outcome).__name__,
                    self.fingerprint,
                )
                del outcome
                if sent and not idempotent:
                    raise OutcomeUnknownError(
                        f"response lost after the request was sent ({detail}); "
                        "the call may or may not have taken effect",
                        method=method,
                        path=path,
                    )
                if not never_retry and policy.can_retry(attempt):
                    await self._sleep(policy.backoff(attempt))
                    continue
                raise TransportError(f"network failure ({detail})", method=method, path=path)

            response = outcome
            status = response.status_code
            self._last_date = response.headers.get("date")  # Datadog's clock, see get_user
            info = RateLimitInfo.from_headers(response.headers)
            limiter = self._limits.observe(self.base_url, self.fingerprint, route, info)
            log.debug(
                "datadog %s %s -> %d in %.3fs (attempt %d) [key %s]",
                method,
                template,
                status,
                elapsed,
                attempt,
                self.fingerprint,
            )

            if status == 429:
                reset = info.reset
                if reset is None:
                    retry_after = response.headers.get("retry-after", "")
                    reset = float(retry_after) if retry_after.isdigit() else None
                wait = reset if reset is not None else policy.default_rate_limit_wait
                if limiter is None:
                    limiter = self._limits.for_route(self.base_url, self.fingerprint, route)
                if rate_limit_waits < policy.max_rate_limit_waits and (
                    wait <= policy.rate_limit_patience()
                ):
                    rate_limit_waits += 1
                    metrics.RATE_LIMIT_WAITS.labels(info.name or limiter.name).inc()
                    limiter.block_for(wait)
                    log.info(
                        "datadog %s %s rate limited (%s); retrying in %.2fs [key %s]",
                        method,
                        template,
                        info.name or limiter.name,
                        wait,
                        self.fingerprint,
                    )
                    attempt -= 1  # a 429 does not consume the error budget
                    continue
                # Too long to wait here: every caller of this limit (same keys, same name)
                # learns the reset, so they give up at once without another request.
                limiter.block_for(wait)
                error = self._error_from_response(response, method, path,
                                                  may_have_committed=False)
                if isinstance(error, RateLimitedError):
                    error.reset_seconds = wait
                    error.limit_name = info.name or limiter.name
                raise error

            if status >= 500 or status == 408:
                if idempotent and policy.can_retry(attempt):
                    log.info(
                        "datadog %s %s -> %d; retrying (attempt %d) [key %s]",
                        method,
                        template,
                        status,
                        attempt,
                        self.fingerprint,
                    )
                    await self._sleep(policy.backoff(attempt))
                    continue
                raise self._error_from_response(
                    response, method, path, may_have_committed=not idempotent
                )

            if not 200 <= status < 300:
                raise self._error_from_response(response, method, path, may_have_committed=False)

            if not response.content or status == 204:
                return None
            try:
                return response.json()
            except ValueError:
                pass
            raise ResponseFormatError(
                "response body is not JSON", status=status, method=method, path=path
            )

    def _parse(self, model: type[M], data: Any, method: str, path: str) -> M:
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as exc:
            problems = _describe(exc)
        raise ResponseFormatError(
            f"unexpected response shape for {model.__name__}",
            api_errors=problems,
            method=method,
            path=path,
        )

    def _parse_resources(
        self, build: Callable[[dict[str, Any]], T], data: Any, method: str, path: str
    ) -> list[T]:
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ResponseFormatError(
                "expected a JSON:API list under 'data'", method=method, path=path
            )
        return [self._parse_resource(build, item, method, path) for item in items]

    def _parse_resource(
        self, build: Callable[[dict[str, Any]], T], data: Any, method: str, path: str
    ) -> T:
        if isinstance(data, dict) and "data" in data and "attributes" not in data:
            data = data["data"]
        if not isinstance(data, dict):
            raise ResponseFormatError("expected a JSON:API resource", method=method, path=path)
        try:
            return build(data)
        except pydantic.ValidationError as exc:
            problems = _describe(exc)
        raise ResponseFormatError(
            "unexpected JSON:API resource shape", api_errors=problems, method=method, path=path
        )

    async def _paged(
        self,
        template: str,
        path: str,
        build: Callable[[dict[str, Any]], T],
        params: Mapping[str, Any] | None = None,
        on_page: Callable[[Any], None] | None = None,
    ) -> AsyncGenerator[T, None]:
        number = 0
        seen = 0
        while True:
            page_params = dict(params or {})
            page_params.update({"page[size]": PAGE_SIZE, "page[number]": number})
            data = await self._call("GET", template, path, params=page_params)
            items = self._parse_resources(build, data, "GET", path)
            if on_page is not None:
                on_page(data)
            for item in items:
                yield item
            seen += len(items)
            total = _total_count(data)
            if len(items) < PAGE_SIZE or (total is not None and seen >= total) or not items:
                return
            number += 1

    # ------------------------------------------------------------------ v1 org & auth

    async def validate(self) -> bool:
        """True when Datadog accepts the API key; False on 401/403.

        (`/api/v1/validate` checks the API key only, not the application key.)
        """
        path = "/api/v1/validate"
        try:
            data = await self._call("GET", path, path)
        except AuthenticationError:
            return False
        return self._parse(ValidateResponse, data, "GET", path).valid

    async def list_orgs(self) -> list[Org]:
        path = "/api/v1/org"
        data = await self._call("GET", path, path)
        return self._parse(OrgListResponse, data, "GET", path).orgs

    async def create_child_org(self, name: str) -> CreatedOrg:
        """Create a child org. NEVER retried: a lost response raises OutcomeUnknownError.

        The returned credentials are the only copy of the new org's keys.
        """
        path = "/api/v1/org"
        data = await self._call("POST", path, path, json_body={"name": name})
        try:
            parsed = OrgCreateResponse.model_validate(data)
        except pydantic.ValidationError as exc:
            problems = _describe(exc)
        else:
            creds = Credentials(api_key=parsed.api_key.key, app_key=parsed.application_key.hash)
            log.info(
                "datadog created child org %s [key %s]", parsed.org.public_id, self.fingerprint
            )
            return CreatedOrg(org=parsed.org, credentials=creds, user=parsed.user)
        raise OutcomeUnknownError(
            "child org creation answered 200 but its body could not be read; "
            "the org probably exists and its keys are lost",
            status=200,
            api_errors=problems,
            method="POST",
            path=path,
        )

    async def get_org(self, public_id: str) -> Org:
        path = f"/api/v1/org/{_q(public_id)}"
        data = await self._call("GET", "/api/v1/org/{public_id}", path)
        return self._parse(OrgResponse, data, "GET", path).org

    async def update_org(
        self, public_id: str, settings: Mapping[str, Any] | OrgSettings, *, name: str | None = None
    ) -> Org:
        """PUT the given settings (a partial settings dict or an OrgSettings)."""
        if isinstance(settings, OrgSettings):
            settings_body: Any = settings.model_dump(exclude_none=True, mode="json")
        else:
            settings_body = dict(settings)
        body: dict[str, Any] = {"settings": settings_body}
        if name is not None:
            body["name"] = name
        path = f"/api/v1/org/{_q(public_id)}"
        data = await self._call("PUT", "/api/v1/org/{public_id}", path, json_body=body)
        return self._parse(OrgResponse, data, "PUT", path).org

    async def spin_off(self, public_id: str) -> None:
        """Detach a child org into a standalone parent (`POST .../downgrade`). Not retried."""
        path = f"/api/v1/org/{_q(public_id)}/downgrade"
        data = await self._call("POST", "/api/v1/org/{public_id}/downgrade", path)
        if data is not None:
            self._parse(MessageResponse, data, "POST", path)

    async def upload_idp_metadata(
        self, public_id: str, metadata: bytes, *, strip_bom: bool = True
    ) -> None:
        """v1 multipart upload (`idp_file`). Datadog rejects a UTF-8 BOM; by default we strip it."""
        path = f"/api/v1/org/{_q(public_id)}/idp_metadata"
        files = {
            "idp_file": (
                "idp_metadata.xml",
                _prepare_metadata(metadata, strip_bom),
                "application/xml",
            )
        }
        await self._call("POST", "/api/v1/org/{public_id}/idp_metadata", path, files=files)

    async def upload_idp_metadata_v2(self, metadata: bytes, *, strip_bom: bool = True) -> None:
        """v2 upload for the org of these keys (`/api/v2/saml_configurations/idp_metadata`)."""
        path = "/api/v2/saml_configurations/idp_metadata"
        files = {
            "idp_file": (
                "idp_metadata.xml",
                _prepare_metadata(metadata, strip_bom),
                "application/xml",
            )
        }
        await self._call("POST", path, path, files=files)

    async def usage_summary(
        self,
        start_month: DateLike,
        end_month: DateLike | None = None,
        *,
        include_org_details: bool = True,
        include_connected_accounts: bool = False,
    ) -> UsageSummary:
        """Usage across the account (parent-level orgs only). With
        ``include_connected_accounts`` a partner admin org also sees its connected customer
        orgs (spun-off DPN customers)."""
        path = "/api/v1/usage/summary"
        params: dict[str, Any] = {
            "start_month": _format_month(start_month),
            "include_org_details": "true" if include_org_details else "false",
        }
        if end_month is not None:
            params["end_month"] = _format_month(end_month)
        if include_connected_accounts:
            params["include_connected_accounts"] = "true"
        data = await self._call("GET", path, path, params=params, headers=USAGE_ACCEPT)
        return self._parse(UsageSummary, data, "GET", path)

    # ------------------------------------------------------------------ v2 roles

    async def list_roles(self, name_filter: str | None = None) -> list[Role]:
        """All roles (every page); `name_filter` is Datadog's substring filter."""
        path = "/api/v2/roles"
        params = {"filter": name_filter} if name_filter else None
        return [r async for r in self._paged(path, path, Role.from_resource, params)]

    async def find_role_by_name(self, name: str) -> Role | None:
        """The role whose name is exactly `name`, or None."""
        for role in await self.list_roles(name_filter=name):
            if role.name == name:
                return role
        return None

    async def roles_named(self, name: str) -> list[Role]:
        """Every role whose name equals `name` regardless of case.

        Datadog answers 409 to a clone with a taken name, but its spec says a role name "is
        neither unique nor a stable identifier", so several roles may match. The listing
        is filtered by the name (Datadog's recorded answer to `filter=<exact name>` is that
        role alone, out of 4,376 in that org: unfiltered, this listing would page through
        every role before each create). Whether the filter ignores case is not public;
        either way the exact name (what a create of ours makes) is returned. A role differing
        only in case that a case-sensitive filter would hide is never adopted: the create
        that follows meets Datadog's own rule (409, RoleExists, if it ignores case). Only
        the matches are parsed."""
        wanted = name.casefold()
        path = "/api/v2/roles"
        found: list[Role] = []
        async for raw in self._paged(path, path, _as_is, {"filter": name}):
            attributes = raw.get("attributes")
            if isinstance(attributes, dict) and \
                    str(attributes.get("name") or "").casefold() == wanted:
                found.append(self._parse_resource(Role.from_resource, raw, "GET", path))
        return found

    async def get_role(self, role_id: str) -> Role:
        path = f"/api/v2/roles/{_q(role_id)}"
        data = await self._call("GET", "/api/v2/roles/{role_id}", path)
        return self._parse_resource(Role.from_resource, data, "GET", path)

    async def create_role(
        self,
        name: str,
        permission_ids: list[str] | None = None,
        *,
        default_permissions_opt_out: bool = False,
    ) -> Role:
        """Create a role. Datadog adds its default (restricted) permissions to whatever is
        asked unless ``default_permissions_opt_out`` is set (RBAC docs; recorded in the
        Terraform provider's TestAccDatadogRole_CreateUpdate)."""
        path = "/api/v2/roles"
        attributes: dict[str, Any] = {"name": name}
        if default_permissions_opt_out:
            attributes["default_permissions_opt_out"] = True
        body: dict[str, Any] = {"data": {"type": "roles", "attributes": attributes}}
        if permission_ids:
            body["data"]["relationships"] = _permissions_relationship(permission_ids)
        data = await self._call("POST", path, path, json_body=body)
        return self._parse_resource(Role.from_resource, data, "POST", path)

    async def update_role(
        self,
        role_id: str,
        name: str | None = None,
        permission_ids: list[str] | None = None,
        *,
        default_permissions_opt_out: bool = False,
    ) -> Role:
        """PATCH a role. A permission list replaces the role's set, but Datadog keeps its
        defaults in it unless ``default_permissions_opt_out`` is set (recorded: a PATCH
        with an empty list leaves the ten defaults; with the opt-out, none)."""
        path = f"/api/v2/roles/{_q(role_id)}"
        resource: dict[str, Any] = {"type": "roles", "id": role_id, "attributes": {}}
        if name is not None:
            resource["attributes"]["name"] = name
        if default_permissions_opt_out:
            resource["attributes"]["default_permissions_opt_out"] = True
        if permission_ids is not None:
            resource["relationships"] = _permissions_relationship(permission_ids)
        data = await self._call(
            "PATCH", "/api/v2/roles/{role_id}", path, json_body={"data": resource}
        )
        return self._parse_resource(Role.from_resource, data, "PATCH", path)

    async def delete_role(self, role_id: str) -> None:
        path = f"/api/v2/roles/{_q(role_id)}"
        await self._call("DELETE", "/api/v2/roles/{role_id}", path)

    async def list_role_permissions(self, role_id: str) -> list[Permission]:
        path = f"/api/v2/roles/{_q(role_id)}/permissions"
        data = await self._call("GET", "/api/v2/roles/{role_id}/permissions", path)
        return self._parse_resources(Permission.from_resource, data, "GET", path)

    async def grant_permission(self, role_id: str, permission_id: str) -> None:
        path = f"/api/v2/roles/{_q(role_id)}/permissions"
        body = {"data": {"type": "permissions", "id": permission_id}}
        await self._call("POST", "/api/v2/roles/{role_id}/permissions", path, json_body=body)

    async def revoke_permission(self, role_id: str, permission_id: str) -> None:
        path = f"/api/v2/roles/{_q(role_id)}/permissions"
        body = {"data": {"type": "permissions", "id": permission_id}}
        await self._call("DELETE", "/api/v2/roles/{role_id}/permissions", path, json_body=body)

    async def list_permissions(self) -> list[Permission]:
        path = "/api/v2/permissions"
        data = await self._call("GET", path, path)
        return self._parse_resources(Permission.from_resource, data, "GET", path)

    # ------------------------------------------------------------------ v2 authn mappings

    async def list_authn_mappings(self) -> list[AuthNMapping]:
        """All mappings, each with its role's name from the listing's `included` roles (as
        recorded), so mapped roles need no separate role listing."""
        path = "/api/v2/authn_mappings"
        names: dict[str, str] = {}

        def note(data: Any) -> None:
            for item in (data.get("included") if isinstance(data, dict) else None) or []:
                if isinstance(item, dict) and item.get("type") == "roles":
                    name = (item.get("attributes") or {}).get("name")
                    if isinstance(name, str):
                        names[str(item.get("id"))] = name

        mappings = [m async for m in self._paged(path, path, AuthNMapping.from_resource,
                                                 on_page=note)]
        for m in mappings:
            if m.role_id and m.role_name is None:
                m.role_name = names.get(m.role_id)
        return mappings

    async def get_authn_mapping(self, mapping_id: str) -> AuthNMapping:
        path = f"/api/v2/authn_mappings/{_q(mapping_id)}"
        data = await self._call("GET", "/api/v2/authn_mappings/{authn_mapping_id}", path)
        return self._parse_resource(AuthNMapping.from_resource, data, "GET", path)

    async def create_authn_mapping(
        self, attribute_key: str, attribute_value: str, role_id: str
    ) -> AuthNMapping:
        path = "/api/v2/authn_mappings"
        body = {
            "data": {
                "type": "authn_mappings",
                "attributes": {"attribute_key": attribute_key, "attribute_value": attribute_value},
                "relationships": {"role": {"data": {"type": "roles", "id": role_id}}},
            }
        }
        data = await self._call("POST", path, path, json_body=body)
        return self._parse_resource(AuthNMapping.from_resource, data, "POST", path)

    async def update_authn_mapping(
        self,
        mapping_id: str,
        *,
        attribute_key: str | None = None,
        attribute_value: str | None = None,
        role_id: str | None = None,
    ) -> AuthNMapping:
        path = f"/api/v2/authn_mappings/{_q(mapping_id)}"
        resource: dict[str, Any] = {"type": "authn_mappings", "id": mapping_id}
        attributes = {
            k: v
            for k, v in (("attribute_key", attribute_key), ("attribute_value", attribute_value))
            if v is not None
        }
        if attributes:
            resource["attributes"] = attributes
        if role_id is not None:
            resource["relationships"] = {"role": {"data": {"type": "roles", "id": role_id}}}
        data = await self._call(
            "PATCH", "/api/v2/authn_mappings/{authn_mapping_id}", path, json_body={"data": resource}
        )
        return self._parse_resource(AuthNMapping.from_resource, data, "PATCH", path)

    async def delete_authn_mapping(self, mapping_id: str) -> None:
        path = f"/api/v2/authn_mappings/{_q(mapping_id)}"
        await self._call("DELETE", "/api/v2/authn_mappings/{authn_mapping_id}", path)

    # ------------------------------------------------------------------ v2 org configs

    async def list_org_configs(self) -> list[OrgConfig]:
        path = "/api/v2/org_configs"
        data = await self._call("GET", path, path)
        return self._parse_resources(OrgConfig.from_resource, data, "GET", path)

    async def get_org_config(self, name: str) -> OrgConfig:
        path = f"/api/v2/org_configs/{_q(name)}"
        data = await self._call("GET", "/api/v2/org_configs/{org_config_name}", path)
        return self._parse_resource(OrgConfig.from_resource, data, "GET", path)

    async def update_org_config(self, name: str, value: Any) -> OrgConfig:
        path = f"/api/v2/org_configs/{_q(name)}"
        body = {"data": {"type": "org_configs", "attributes": {"value": value}}}
        data = await self._call(
            "PATCH", "/api/v2/org_configs/{org_config_name}", path, json_body=body
        )
        return self._parse_resource(OrgConfig.from_resource, data, "PATCH", path)

    # ------------------------------------------------------------------ v2 org connections

    async def current_org_v2_id(self) -> str:
        """The v2 UUID of the keys' own org: ``GET /api/v2/current_user``'s
        ``relationships.org.data.id`` (the official client's ``RelationshipToOrganization``;
        a v2 org's ``public_id`` is a separate attribute, ``OrganizationAttributes``)."""
        path = "/api/v2/current_user"
        data = await self._call("GET", path, path)
        ids = _relationship_ids_of(data)
        if not ids:
            raise ResponseFormatError("no relationships.org in the current user",
                                      method="GET", path=path)
        return ids

    async def list_org_connections(
        self, *, sink_org_id: str | None = None, source_org_id: str | None = None
    ) -> list[OrgConnection]:
        """The connections the keys' org is source or sink of (one page of up to 1000,
        Datadog's maximum ``limit``), filtered by v2 org UUIDs."""
        path = "/api/v2/org_connections"
        params: dict[str, Any] = {"limit": 1000}
        if sink_org_id:
            params["sink_org_id"] = sink_org_id
        if source_org_id:
            params["source_org_id"] = source_org_id
        data = await self._call("GET", path, path, params=params)
        return self._parse_resources(OrgConnection.from_resource, data, "GET", path)

    async def create_org_connection(self, sink_org_id: str, types: list[str]) -> OrgConnection:
        """POST with the source org's keys; the sink named by its v2 org UUID."""
        path = "/api/v2/org_connections"
        body = {"data": {
            "type": "org_connection",
            "attributes": {"connection_types": list(types)},
            "relationships": {"sink_org": {"data": {"type": "orgs", "id": sink_org_id}}},
        }}
        data = await self._call("POST", path, path, json_body=body)
        return self._parse_resource(OrgConnection.from_resource, data, "POST", path)

    async def update_org_connection(self, connection_id: str,
                                    types: list[str]) -> OrgConnection:
        """PATCH the connection types in place."""
        path = f"/api/v2/org_connections/{_q(connection_id)}"
        body = {"data": {"type": "org_connection", "id": connection_id,
                         "attributes": {"connection_types": list(types)}}}
        data = await self._call("PATCH", "/api/v2/org_connections/{connection_id}", path,
                                json_body=body)
        return self._parse_resource(OrgConnection.from_resource, data, "PATCH", path)

    async def delete_org_connection(self, connection_id: str) -> None:
        path = f"/api/v2/org_connections/{_q(connection_id)}"
        await self._call("DELETE", "/api/v2/org_connections/{connection_id}", path)

    # ------------------------------------------------------------------ v2 cost

    async def estimated_cost(
        self,
        *,
        start_month: DateLike | None = None,
        end_month: DateLike | None = None,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        view: str = "sub-org",
        cost_aggregation: str | None = None,
        include_connected_accounts: bool = False,
    ) -> list[OrgCost]:
        """Estimated cost for the current month (or the given month/date range; the API
        keeps the current and previous month). Parent-level orgs only."""
        if start_month is not None and start_date is not None:
            raise ValueError("give start_month or start_date, not both (the API answers 400)")
        params: dict[str, Any] = {"view": view}
        for key, value, fmt in (
            ("start_month", start_month, _format_month),
            ("end_month", end_month, _format_month),
            ("start_date", start_date, _format_instant),
            ("end_date", end_date, _format_instant),
        ):
            if value is not None:
                params[key] = fmt(value)
        if cost_aggregation is not None:
            params["cost_aggregation"] = cost_aggregation
        return await self._cost("/api/v2/usage/estimated_cost", params, include_connected_accounts)

    async def historical_cost(
        self,
        start_month: DateLike,
        end_month: DateLike | None = None,
        *,
        view: str = "sub-org",
        include_connected_accounts: bool = False,
    ) -> list[OrgCost]:
        """Historical cost; a month is published by the 16th of the following month."""
        params: dict[str, Any] = {"view": view, "start_month": _format_month(start_month)}
        if end_month is not None:
            params["end_month"] = _format_month(end_month)
        return await self._cost("/api/v2/usage/historical_cost", params,
                                include_connected_accounts)

    async def projected_cost(
        self, *, view: str = "sub-org", include_connected_accounts: bool = False
    ) -> list[OrgCost]:
        """Projected month-end cost of the current month (published from about the 12th)."""
        return await self._cost("/api/v2/usage/projected_cost", {"view": view},
                                include_connected_accounts)

    async def _cost(
        self, path: str, params: Mapping[str, Any], include_connected_accounts: bool = False
    ) -> list[OrgCost]:
        query = dict(params)
        if include_connected_accounts:
            query["include_connected_accounts"] = "true"
        data = await self._call("GET", path, path, params=query, headers=USAGE_ACCEPT)
        return self._parse_resources(OrgCost.from_resource, data, "GET", path)

    # ------------------------------------------------------------------ v2 users

    async def list_users(self, name_filter: str | None = None) -> list[User]:
        """All users, disabled and unverified ones included; `name_filter` is Datadog's
        substring filter."""
        path = "/api/v2/users"
        params = {"filter": name_filter} if name_filter else None
        return [u async for u in self._paged(path, path, User.from_resource, params)]

    async def find_user_by_email(self, email: str) -> User | None:
        """The user whose email is exactly `email` (Datadog stores emails lowercased); the
        filter is a substring match, so other users may come back too."""
        wanted = email.strip().lower()
        for user in await self.list_users(name_filter=wanted):
            if (user.email or "").lower() == wanted:
                return user
        return None

    async def get_user(self, user_id: str) -> User:
        """One user; `observed_at` is Datadog's own clock (the answer's Date header)."""
        path = f"/api/v2/users/{_q(user_id)}"
        data = await self._call("GET", "/api/v2/users/{user_id}", path)
        observed = _http_date(self._last_date)  # set by this very call: no await between
        user = self._parse_resource(User.from_resource, data, "GET", path)
        user.observed_at = observed
        return user

    async def create_user(self, email: str, name: str | None = None) -> User:
        """Create a user (201, status Pending). An email that exists raises ConflictError."""
        path = "/api/v2/users"
        attributes: dict[str, Any] = {"email": email}
        if name is not None:
            attributes["name"] = name
        body = {"data": {"type": "users", "attributes": attributes}}
        data = await self._call("POST", path, path, json_body=body)
        return self._parse_resource(User.from_resource, data, "POST", path)

    async def update_user(
        self, user_id: str, *, name: str | None = None, disabled: bool | None = None
    ) -> User:
        path = f"/api/v2/users/{_q(user_id)}"
        attributes: dict[str, Any] = {}
        if name is not None:
            attributes["name"] = name
        if disabled is not None:
            attributes["disabled"] = disabled
        body = {"data": {"type": "users", "id": user_id, "attributes": attributes}}
        data = await self._call("PATCH", "/api/v2/users/{user_id}", path, json_body=body)
        return self._parse_resource(User.from_resource, data, "PATCH", path)

    async def disable_user(self, user_id: str) -> None:
        """DELETE disables (users are never deleted); an already disabled user is a 404."""
        path = f"/api/v2/users/{_q(user_id)}"
        await self._call("DELETE", "/api/v2/users/{user_id}", path)

    async def send_invitation(self, user_id: str) -> UserInvitation:
        path = "/api/v2/user_invitations"
        body = {"data": [{"type": "user_invitations", "relationships": {
            "user": {"data": {"type": "users", "id": user_id}}}}]}
        data = await self._call("POST", path, path, json_body=body)
        items = self._parse_resources(UserInvitation.from_resource, data, "POST", path)
        if not items:
            raise ResponseFormatError("no invitation in the answer", method="POST", path=path)
        return items[0]

    async def add_user_to_role(self, role_id: str, user_id: str) -> None:
        path = f"/api/v2/roles/{_q(role_id)}/users"
        body = {"data": {"type": "users", "id": user_id}}
        await self._call("POST", "/api/v2/roles/{role_id}/users", path, json_body=body)

    async def remove_user_from_role(self, role_id: str, user_id: str) -> None:
        path = f"/api/v2/roles/{_q(role_id)}/users"
        body = {"data": {"type": "users", "id": user_id}}
        await self._call("DELETE", "/api/v2/roles/{role_id}/users", path, json_body=body)

    # ------------------------------------------------------------------ v2 API keys

    async def create_api_key(self, name: str) -> CreatedApiKey:
        """A new API key of this org. Its secret is sure to be shown only here (One-Time Read
        orgs never show it again), so keep it before anything else can fail. Not idempotent:
        a lost answer leaves a key the caller can find by name."""
        path = "/api/v2/api_keys"
        body = {"data": {"type": "api_keys", "attributes": {"name": name}}}
        data = await self._call("POST", path, path, json_body=body)
        return self._parse_resource(CreatedApiKey.from_resource, data, "POST", path)

    async def list_api_keys(self, name_filter: str | None = None) -> list[ApiKey]:
        """Every API key of the org (never a secret); `name_filter` is Datadog's `filter`,
        a match on names."""
        path = "/api/v2/api_keys"
        params = {"filter": name_filter} if name_filter else None
        return [k async for k in self._paged(path, path, ApiKey.from_resource, params)]

    async def get_api_key(self, key_id: str) -> ApiKey:
        """One API key's metadata (a secret in the answer is dropped: never rely on it)."""
        path = f"/api/v2/api_keys/{_q(key_id)}"
        data = await self._call("GET", "/api/v2/api_keys/{api_key_id}", path)
        return self._parse_resource(ApiKey.from_resource, data, "GET", path)

    async def rename_api_key(self, key_id: str, name: str) -> ApiKey:
        path = f"/api/v2/api_keys/{_q(key_id)}"
        body = {"data": {"type": "api_keys", "id": key_id, "attributes": {"name": name}}}
        data = await self._call("PATCH", "/api/v2/api_keys/{api_key_id}", path, json_body=body)
        return self._parse_resource(ApiKey.from_resource, data, "PATCH", path)

    async def delete_api_key(self, key_id: str) -> None:
        """Revoke an API key at once (an org keeps at least one: the last is refused)."""
        path = f"/api/v2/api_keys/{_q(key_id)}"
        await self._call("DELETE", "/api/v2/api_keys/{api_key_id}", path)

    # ------------------------------------------------------------------ v2 application keys

    async def create_application_key(
        self, name: str, scopes: list[str] | None = None
    ) -> CreatedApplicationKey:
        """A new application key owned by the user of this client's key (current_user).
        `scopes` (permission names) narrow it; None gives the owner's permissions."""
        path = "/api/v2/current_user/application_keys"
        data = await self._call("POST", path, path, json_body=_app_key_body(name, scopes))
        return self._parse_resource(CreatedApplicationKey.from_resource, data, "POST", path)

    async def list_application_keys(self, name_filter: str | None = None
                                    ) -> list[ApplicationKey]:
        """The application keys of the current user (never a secret)."""
        path = "/api/v2/current_user/application_keys"
        params = {"filter": name_filter} if name_filter else None
        return [k async for k in self._paged(path, path, ApplicationKey.from_resource, params)]

    async def list_org_application_keys(
        self, name_filter: str | None = None, owned_by: str | None = None
    ) -> list[ApplicationKey]:
        """Every application key of the org, whoever owns it (needs org_app_keys_read)."""
        path = "/api/v2/application_keys"
        params: dict[str, Any] = {}
        if name_filter:
            params["filter"] = name_filter
        if owned_by:
            params["filter[owned_by]"] = owned_by
        return [k async for k in self._paged(path, path, ApplicationKey.from_resource,
                                              params or None)]

    async def get_application_key(self, key_id: str) -> ApplicationKey:
        """Any application key of the org by ID (org-wide path): `last4`, no secret."""
        path = f"/api/v2/application_keys/{_q(key_id)}"
        data = await self._call("GET", "/api/v2/application_keys/{app_key_id}", path)
        return self._parse_resource(ApplicationKey.from_resource, data, "GET", path)

    async def delete_application_key(self, key_id: str) -> None:
        """Revoke one of the current user's application keys."""
        path = f"/api/v2/current_user/application_keys/{_q(key_id)}"
        await self._call("DELETE", "/api/v2/current_user/application_keys/{app_key_id}", path)

    async def delete_org_application_key(self, key_id: str) -> None:
        """Revoke any application key of the org, e.g. a person's bootstrap key, with a
        service account's key (needs org_app_keys_write)."""
        path = f"/api/v2/application_keys/{_q(key_id)}"
        await self._call("DELETE", "/api/v2/application_keys/{app_key_id}", path)

    # ------------------------------------------------------------------ v2 service accounts

    async def create_service_account(
        self, email: str, name: str | None = None, role_ids: list[str] | None = None
    ) -> User:
        """A new service account (a user with `service_account: true`). Not idempotent:
        several accounts may share one email, so a caller that may have crashed after the
        create looks for its earlier account (`find_service_accounts`) first."""
        path = "/api/v2/service_accounts"
        attributes: dict[str, Any] = {"email": email, "service_account": True}
        if name is not None:
            attributes["name"] = name
        resource: dict[str, Any] = {"type": "users", "attributes": attributes}
        if role_ids:
            resource["relationships"] = {
                "roles": {"data": [{"type": "roles", "id": r} for r in role_ids]}}
        data = await self._call("POST", path, path, json_body={"data": resource})
        return self._parse_resource(User.from_resource, data, "POST", path)

    async def find_service_accounts(self, email: str) -> list[User]:
        """Every service account with this email (disabled ones included), oldest first."""
        wanted = email.lower()
        found = [u for u in await self.list_users(name_filter=wanted)
                 if u.service_account and (u.email or "").lower() == wanted]
        return sorted(found, key=lambda u: (u.created_at is None, u.created_at or 0, u.id))

    async def create_service_account_application_key(
        self, service_account_id: str, name: str, scopes: list[str] | None = None
    ) -> CreatedApplicationKey:
        """A new application key owned by a service account; its secret is shown only here."""
        path = f"/api/v2/service_accounts/{_q(service_account_id)}/application_keys"
        data = await self._call("POST", _SA_KEYS, path, json_body=_app_key_body(name, scopes))
        return self._parse_resource(CreatedApplicationKey.from_resource, data, "POST", path)

    async def list_service_account_application_keys(
        self, service_account_id: str
    ) -> list[ApplicationKey]:
        path = f"/api/v2/service_accounts/{_q(service_account_id)}/application_keys"
        return [k async for k in self._paged(_SA_KEYS, path, ApplicationKey.from_resource)]

    async def get_service_account_application_key(
        self, service_account_id: str, key_id: str
    ) -> ApplicationKey:
        path = (f"/api/v2/service_accounts/{_q(service_account_id)}/application_keys/"
                f"{_q(key_id)}")
        data = await self._call("GET", _SA_KEYS + "/{app_key_id}", path)
        return self._parse_resource(ApplicationKey.from_resource, data, "GET", path)

    async def delete_service_account_application_key(
        self, service_account_id: str, key_id: str
    ) -> None:
        path = (f"/api/v2/service_accounts/{_q(service_account_id)}/application_keys/"
                f"{_q(key_id)}")
        await self._call("DELETE", _SA_KEYS + "/{app_key_id}", path)


# ---------------------------------------------------------------------- helpers


def _http_date(value: str | None) -> datetime | None:
    """An HTTP Date header as an aware datetime (None when absent or malformed)."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _permissions_relationship(permission_ids: list[str]) -> dict[str, Any]:
    return {"permissions": {"data": [{"type": "permissions", "id": pid} for pid in permission_ids]}}


def _prepare_metadata(metadata: bytes, strip_bom: bool) -> bytes:
    if strip_bom and metadata.startswith(b"\xef\xbb\xbf"):
        return metadata[3:]
    return metadata


def _as_is(resource: dict[str, Any]) -> dict[str, Any]:
    return resource


def _app_key_body(name: str, scopes: list[str] | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"name": name}
    if scopes is not None:
        attributes["scopes"] = list(scopes)
    return {"data": {"type": "application_keys", "attributes": attributes}}


def _total_count(data: Any) -> int | None:
    try:
        page = data["meta"]["page"]
        total = page.get("total_filtered_count", page.get("total_count"))
    except (KeyError, TypeError, AttributeError):
        return None
    return total if isinstance(total, int) else None


def _describe(exc: pydantic.ValidationError) -> list[str]:
    """Field locations and messages only: never the input (it may hold keys)."""
    return [
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False, include_context=False)
    ]


def _relationship_ids_of(data: Any) -> str:
    """``data.relationships.org.data.id`` of a JSON:API answer, or ""."""
    resource = data.get("data") if isinstance(data, dict) else None
    org = ((resource or {}).get("relationships") or {}).get("org") or {} \
        if isinstance(resource, dict) else {}
    ref = org.get("data") if isinstance(org, dict) else None
    return str(ref.get("id") or "") if isinstance(ref, dict) else ""
