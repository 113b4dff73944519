"""What every controller needs to talk to Datadog: credentials from Secrets, a shared
client per key pair, and one translation of API errors into engine outcomes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import httpx
from pydantic import SecretStr

from ddmsp.config import OperatorSettings
from ddmsp.datadog import (
    AuthenticationError,
    ConflictError,
    Credentials,
    DatadogClient,
    DatadogError,
    ForbiddenError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    api_base_url,
)
from ddmsp.datadog.permissions import required_permission
from ddmsp.datadog.retry import NEVER_RETRY, SETTLED_BY_OBSERVE
from ddmsp.reconcile.conditions import is_true
from ddmsp.reconcile.external import ReconcileContext
from ddmsp.reconcile.kube import KubeAPI
from ddmsp.reconcile.outcomes import Blocked, ReconcileOutcome, Waiting

API_KEY = "api-key"
APP_KEY = "app-key"
SITE_KEY = "site"
ORG_ID_KEY = "org-public-id"
ORG_NAME_KEY = "org-name"
# Keys are read by every pass of every object in an org: a read this recent is reused. A
# rotated key is picked up within this time (a refused call waits at least 30 s anyway).
CREDENTIALS_MAX_AGE = 30.0


class DatadogClients:
    """One client per (base URL, key pair), all sharing one connection pool per base URL.

    A thousand client orgs mean a thousand key pairs; an httpx client each with its own
    TLS context and pool cost ~1 MiB apiece, so the transport (pool + TLS) is shared and
    only the per-key auth differs.
    """

    # httpcore checks every pooled connection of a pool on each request (a getpeername and
    # a poll each, and a quadratic idle count): one pool of 64 cost ~12% of the operator's
    # CPU at 1,000 clients (bench/README.md). Keys are spread over a few smaller pools.
    POOLS_PER_SITE = 4
    CONNECTIONS_PER_POOL = 16

    def __init__(self, settings: OperatorSettings) -> None:
        self.settings = settings
        self._clients: dict[tuple[str, str, str], DatadogClient] = {}
        self._transports: dict[tuple[str, int], httpx.AsyncHTTPTransport] = {}

    def _transport(self, base_url: str, shard: int = 0) -> httpx.AsyncHTTPTransport:
        transport = self._transports.get((base_url, shard))
        if transport is None:
            proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
            transport = httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=self.CONNECTIONS_PER_POOL,
                                    max_keepalive_connections=self.CONNECTIONS_PER_POOL // 2),
                proxy=proxy if proxy and base_url.startswith("https") else None,
            )
            self._transports[(base_url, shard)] = transport
        return transport

    def get(self, credentials: Credentials, site: str) -> DatadogClient:
        base_url = api_base_url(site, self.settings.datadog_url)
        fingerprint = credentials.fingerprint()
        key = (base_url, fingerprint, credentials.source)
        client = self._clients.get(key)
        if client is None:
            shard = int(hashlib.sha256(fingerprint.encode()).hexdigest()[:8], 16) \
                % self.POOLS_PER_SITE
            client = DatadogClient(credentials, base_url=base_url,
                                   transport=_Unclosable(self._transport(base_url, shard)))
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        for transport in self._transports.values():
            await transport.aclose()
        self._clients.clear()
        self._transports.clear()


class _Unclosable(httpx.AsyncBaseTransport):
    """A view of the shared transport that one client's aclose() cannot shut down."""

    def __init__(self, inner: httpx.AsyncHTTPTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        return None


async def credentials_from_secret(
    kube: KubeAPI, namespace: str, name: str, purpose: str
) -> Credentials:
    """Read `api-key`/`app-key` from a Secret, or say exactly what is missing."""
    data = await kube.read_secret_data(namespace, name, max_age=CREDENTIALS_MAX_AGE)
    if data is None:
        raise Waiting(
            "CredentialsMissing",
            f"Secret {namespace}/{name} ({purpose}) not found: create it with keys "
            f"`{API_KEY}` and `{APP_KEY}`",
            delay=10,
        )
    missing = [k for k in (API_KEY, APP_KEY) if not data.get(k, "").strip()]
    if missing:
        kube.forget_secret(namespace, name)  # the fix should show on the very next pass
        raise Waiting(
            "CredentialsMissing",
            f"Secret {namespace}/{name} ({purpose}) lacks {', '.join(missing)}",
            delay=10,
        )
    return Credentials(
        api_key=SecretStr(data[API_KEY].strip()), app_key=SecretStr(data[APP_KEY].strip()),
        source=f"Secret {namespace}/{name}",
    )


def translate_datadog_error(exc: BaseException, wait_poll: float = 15.0,
                            permission_recheck: float = 30.0) -> ReconcileOutcome | None:
    """Datadog errors as engine outcomes: waits retry by themselves (with the engine's
    backoff), blocks need a human or a spec change."""
    if not isinstance(exc, DatadogError):
        return None
    where = exc.route or (f"{exc.method} {exc.path}" if exc.path else "Datadog")
    detail = "; ".join(exc.api_errors) if exc.api_errors else str(exc)
    keys = exc.keys_source or "the credentials Secret"
    if isinstance(exc, ForbiddenError):
        needed = required_permission(exc.method or "", exc.path or "")
        if needed:
            return Waiting(
                "MissingPermission",
                f"Datadog refused {where} (403): the keys in {keys} lack the {needed} "
                f"permission{'s' if ' and ' in needed else ''} (or are no longer valid). "
                f"Grant {needed} to the application key (its scopes, or its owner's role), "
                "or put keys that have it in the Secret; the operator retries by itself",
                delay=max(wait_poll, permission_recheck),
            )
    if isinstance(exc, AuthenticationError):
        return Waiting("CredentialsInvalid",
                       f"Datadog refused the keys in {keys} ({exc.status}) at {where}: "
                       f"{detail}; fix the Secret and the operator retries by itself",
                       delay=max(wait_poll, 10))
    if isinstance(exc, RateLimitedError):
        # Waited out by the queue, not inside the pass: the object is requeued at the
        # reset and the worker serves other objects meanwhile (reconcile/engine.py).
        reset = max(1.0, float(exc.reset_seconds or 5))
        return Waiting("RateLimited",
                       f"Datadog's rate limit {exc.limit_name or 'for this call'} on the keys "
                       f"in {keys} is used up at {where}; it resets in {reset:.0f}s and the "
                       "operator retries then", delay=reset)
    if isinstance(exc, OutcomeUnknownError):
        if exc.route in SETTLED_BY_OBSERVE and exc.route not in NEVER_RETRY:
            return Waiting("AnswerLost",
                           f"{where}: the answer was lost ({detail}); the next pass looks "
                           "at Datadog and finishes or repeats the step", delay=wait_poll)
        return Blocked("OutcomeUnknown", f"{where}: the outcome is unknown: {detail}")
    if isinstance(exc, (ServerError, TransportError)):
        return Waiting("DatadogUnavailable", f"{where}: {detail}", delay=wait_poll)
    if isinstance(exc, ValidationError):
        return Blocked("InvalidRequest", f"Datadog rejected the request at {where}: {detail}")
    if isinstance(exc, ConflictError):
        return Blocked("Conflict", f"Datadog reported a conflict at {where}: {detail}")
    if isinstance(exc, NotFoundError):
        return Waiting("NotFound", f"{where}: not found: {detail}", delay=wait_poll)
    return Waiting("DatadogError", f"{where}: {detail}", delay=wait_poll)


def create_definitely_failed(exc: BaseException) -> bool:
    """True when a create's error proves nothing was created (the request was refused)."""
    return isinstance(
        exc,
        (AuthenticationError, ValidationError, ConflictError, RateLimitedError, NotFoundError),
    ) or (isinstance(exc, TransportError) and not isinstance(exc, OutcomeUnknownError))


class DatadogConnector:
    """What every Datadog kind's connector shares: its settings, the shared clients, and the
    one translation of Datadog's errors (no kind maps 400/403/404/409 itself), with a
    closer look at a refused call first (``explain``): a key refused by Datadog is named
    (``KeysInvalid``, controllers/keycheck.py), as the DatadogClientOrg names its own.

    ``applied_keys`` (status keys proving the object acted on Datadog) lets the engine tell
    drift from a spec not applied yet (reconcile/drift.py); empty: the kind reports none."""

    applied_keys: tuple[str, ...] = ()
    identity_keys: tuple[str, ...] = ()

    def __init__(self, settings: OperatorSettings, clients: DatadogClients) -> None:
        self.settings = settings
        self.clients = clients

    def translate_error(self, exc: BaseException) -> ReconcileOutcome | None:
        return translate_datadog_error(exc, self.settings.wait_poll,
                                       self.settings.permission_recheck)

    async def explain(self, ctx: ReconcileContext,
                      exc: BaseException | None) -> ReconcileOutcome | None:
        """How the pass ended, looked at before ``translate_error``: a 401/403 from the keys
        of an org this pass acts in (controllers/orgref.py) is a refused key, named in
        ``KeysInvalid``, unless both keys prove valid (then a missing permission, which
        the translation names). A pass that succeeded clears an earlier ``KeysInvalid``."""
        # keycheck imports this module (the Secret's data key names)
        from ddmsp.controllers import keycheck
        from ddmsp.controllers.orgref import targets_of

        obj = ctx.obj
        if exc is None:
            if is_true(obj.conditions, keycheck.KEYS_INVALID):
                keycheck.keys_valid(obj)
            return None
        if not isinstance(exc, AuthenticationError):
            return None
        target = targets_of(ctx).get(exc.keys_source)
        if target is None or target.secret is None:
            return None
        data = await ctx.kube.read_secret_data(obj.namespace, target.secret,
                                               max_age=CREDENTIALS_MAX_AGE)
        found = await keycheck.explain_refusal(
            obj, target.dd, keycheck.key_in_use(target.secret, data), exc,
            max(self.settings.wait_poll, self.settings.permission_recheck))
        if found is not None:  # the fix is a new key in the Secret: read it afresh
            ctx.kube.forget_secret(obj.namespace, target.secret)
        return found


def failed_create(exc: DatadogError, what: str, found_by: str,
                  forget_start: Callable[[], None]) -> ReconcileOutcome | None:
    """A create call's error, read one way for every kind: a lost answer waits for the next
    pass (which ``found_by`` the thing); a refusal proves nothing was created, so the
    create's start marker is forgotten (``forget_start``). None: re-raise ``exc``."""
    if isinstance(exc, OutcomeUnknownError):
        return Waiting("CreationResultUnknown",
                       f"the answer to creating {what} was lost; the next pass {found_by}",
                       delay=5)
    if create_definitely_failed(exc):
        forget_start()
    return None
