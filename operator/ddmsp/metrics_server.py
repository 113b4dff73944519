"""`/metrics` served the way controller-runtime serves it by default (its `filters`
package, kubebuilder's `--metrics-secure`): HTTPS, the caller's bearer token checked with a
TokenReview and authorised with a SubjectAccessReview for `get` on the non-resource URL
`/metrics`. The series name every client, its org ID and its cost, so only those bound to
the chart's `metrics-reader` ClusterRole (or anything granting the same) may read them.

Results are cached as controller-runtime caches them (authentication 1 min, allowed 5 min,
denied 30 s), so a scrape every 30 s costs no API call. The serving certificate comes from a
directory holding `tls.crt` and `tls.key` (a mounted Secret, re-read when it changes), or is
self-signed at start. Plain HTTP (`--metrics-secure false`) binds the loopback interface only:
for local runs and tests, or a proxy sidecar in the same Pod.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import logging
import socket
import ssl
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# controller-runtime's WithAuthenticationAndAuthorization: CacheTTL, AllowCacheTTL, DenyCacheTTL.
AUTHN_TTL, ALLOW_TTL, DENY_TTL = 60.0, 300.0, 30.0
CACHE_ENTRIES = 1024  # bounded: random tokens must not grow memory
CERT_RELOAD_SECONDS = 60.0


@dataclass(frozen=True)
class Caller:
    """Who a token belongs to (TokenReview's status.user)."""

    username: str
    uid: str | None
    groups: tuple[str, ...]
    extra: tuple[tuple[str, tuple[str, ...]], ...]


class _TTLCache:
    """Token digest -> (value, expiry); oldest entries dropped past ``CACHE_ENTRIES``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._items: OrderedDict[str, tuple[Any, float]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, Any]:
        item = self._items.get(key)
        if item is None or item[1] <= self.clock():
            self._items.pop(key, None)
            return False, None
        return True, item[0]

    def put(self, key: str, value: Any, ttl: float) -> None:
        self._items[key] = (value, self.clock() + ttl)
        self._items.move_to_end(key)
        while len(self._items) > CACHE_ENTRIES:
            self._items.popitem(last=False)


class Authorizer:
    """Answers "may this bearer token read /metrics?" as 200, 401 or 403 (500: API failed)."""

    def __init__(self, api: client.ApiClient,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.authn = client.AuthenticationV1Api(api)
        self.authz = client.AuthorizationV1Api(api)
        self._callers = _TTLCache(clock)
        self._decisions = _TTLCache(clock)
        self.api_calls = 0  # TokenReviews + SubjectAccessReviews made (tests, bench)

    async def status(self, authorization: str | None) -> int:
        token = _bearer(authorization)
        if token is None:
            return 401
        key = hashlib.sha256(token.encode()).hexdigest()  # never the token itself as a key
        try:
            hit, caller = self._callers.get(key)
            if not hit:
                caller = await asyncio.to_thread(self._review_token, token)
                self._callers.put(key, caller, AUTHN_TTL)
            if caller is None:
                return 401
            hit, allowed = self._decisions.get(key)
            if not hit:
                allowed = await asyncio.to_thread(self._review_access, caller)
                self._decisions.put(key, allowed, ALLOW_TTL if allowed else DENY_TTL)
        except Exception as exc:  # the API server unreachable: refuse, cache nothing
            log.warning("metrics authorisation failed: %s", type(exc).__name__)
            return 500
        return 200 if allowed else 403

    def _review_token(self, token: str) -> Caller | None:
        self.api_calls += 1
        review = self.authn.create_token_review(client.V1TokenReview(
            spec=client.V1TokenReviewSpec(token=token)))
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            return None
        user = status.user
        extra = tuple(sorted((k, tuple(v)) for k, v in (user.extra or {}).items()))
        return Caller(user.username or "", user.uid, tuple(user.groups or ()), extra)

    def _review_access(self, caller: Caller) -> bool:
        self.api_calls += 1
        review = self.authz.create_subject_access_review(client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=caller.username, uid=caller.uid, groups=list(caller.groups),
                extra={k: list(v) for k, v in caller.extra} or None,
                non_resource_attributes=client.V1NonResourceAttributes(
                    path=METRICS_PATH, verb="get"))))
        return bool(review.status and review.status.allowed)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def self_signed(directory: Path, days: int = 365) -> tuple[Path, Path]:
    """A throwaway serving certificate for this host (Prometheus is told to skip
    verification, as kubebuilder's default ServiceMonitor does, unless a cert is given)."""
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ddmsp-metrics")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName(host), x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    crt, pem = directory / "tls.crt", directory / "tls.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.touch(mode=0o600)
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


class TLSFiles:
    """The serving context, re-loaded when a mounted Secret's files change (cert-manager
    renewals, as controller-runtime's certwatcher does): new handshakes get the new cert."""

    def __init__(self, cert_dir: str | None) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.paths: tuple[Path, Path] | None = None
        if cert_dir:
            self.paths = (Path(cert_dir) / "tls.crt", Path(cert_dir) / "tls.key")
            self._stamp = self._mtimes()
            self.context.load_cert_chain(*self.paths)
        else:
            with tempfile.TemporaryDirectory(prefix="ddmsp-metrics-") as tmp:
                self.context.load_cert_chain(*self_signed(Path(tmp)))  # read, then removed

    def _mtimes(self) -> tuple[float, float]:
        assert self.paths is not None
        return self.paths[0].stat().st_mtime, self.paths[1].stat().st_mtime

    def reload_if_changed(self) -> bool:
        if self.paths is None:
            return False
        try:
            stamp = self._mtimes()
            if stamp == self._stamp:
                return False
            self.context.load_cert_chain(*self.paths)
        except (OSError, ssl.SSLError) as exc:  # half-written during a Secret update
            log.warning("metrics certificate not reloaded yet: %s", exc)
            return False
        self._stamp = stamp
        log.info("metrics serving certificate reloaded from %s", self.paths[0].parent)
        return True

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(CERT_RELOAD_SECONDS)
            self.reload_if_changed()


def _exposition() -> bytes:
    return generate_latest(REGISTRY)


def build_app(authorizer: Authorizer | None) -> web.Application:
    """GET /metrics, behind ``authorizer`` when there is one."""

    async def metrics(request: web.Request) -> web.Response:
        if authorizer is not None:
            status = await authorizer.status(request.headers.get("Authorization"))
            if status != 200:
                text = {401: "Unauthorized", 403: "Forbidden"}.get(status, "Internal error")
                return web.Response(status=status, text=text + "\n")
        body = await asyncio.to_thread(_exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get(METRICS_PATH, metrics)
    return app


async def serve(port: int, api: client.ApiClient | None, cert_dir: str | None = None,
                host: str | None = None) -> web.AppRunner:
    """Serve /metrics on ``port``: HTTPS + TokenReview/SubjectAccessReview with ``api``
    (all interfaces), or plain HTTP on the loopback interface when ``api`` is None."""
    secure = api is not None
    app = build_app(Authorizer(api) if api is not None else None)
    tls = TLSFiles(cert_dir) if secure else None
    if tls is not None and tls.paths is not None:
        watcher = asyncio.create_task(tls.watch())
        app.on_cleanup.append(lambda _: _cancel(watcher))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    bind = host or ("0.0.0.0" if secure else "127.0.0.1")
    await web.TCPSite(runner, bind, port, ssl_context=tls.context if tls else None).start()
    log.info("metrics on %s://%s:%d%s%s", "https" if secure else "http", bind, port,
             METRICS_PATH, " (bearer token, get /metrics)" if secure else " (no auth)")
    return runner


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
