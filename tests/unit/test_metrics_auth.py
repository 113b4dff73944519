"""The metrics endpoint's authorisation pieces without an API server: bearer parsing, the
TokenReview/SubjectAccessReview caches (fake reviewers count calls), the self-signed cert,
and HTTPS serving end to end on loopback (the real control plane: integration test)."""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from kubernetes import client

from ddmsp import metrics, metrics_server
from ddmsp.config import from_env_and_args
from ddmsp.metrics_server import ALLOW_TTL, AUTHN_TTL, DENY_TTL, Authorizer, _bearer


class FakeReviews:
    """Stands in for AuthenticationV1Api and AuthorizationV1Api: token -> user, user -> allowed."""

    def __init__(self, users: dict[str, str], allowed: set[str]) -> None:
        self.users, self.allowed = users, allowed
        self.sar_specs: list[Any] = []

    def create_token_review(self, body: client.V1TokenReview) -> Any:
        user = self.users.get(body.spec.token)
        return SimpleNamespace(status=SimpleNamespace(
            authenticated=user is not None,
            user=SimpleNamespace(username=user, uid="u1", groups=["g"], extra={"x": ["y"]})
            if user else None))

    def create_subject_access_review(self, body: client.V1SubjectAccessReview) -> Any:
        self.sar_specs.append(body.spec)
        return SimpleNamespace(status=SimpleNamespace(allowed=body.spec.user in self.allowed))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def authorizer(clock: Clock) -> tuple[Authorizer, FakeReviews]:
    auth = Authorizer(client.ApiClient(), clock=clock)
    fake = FakeReviews({"reader-token": "reader", "other-token": "other"}, {"reader"})
    auth.authn = fake  # type: ignore[assignment]
    auth.authz = fake  # type: ignore[assignment]
    return auth, fake


def test_bearer_header_parsing() -> None:
    assert _bearer("Bearer abc") == "abc"
    assert _bearer("bearer  abc ") == "abc"
    assert _bearer("Basic abc") is None
    assert _bearer("Bearer ") is None
    assert _bearer(None) is None


def test_statuses_and_the_access_review_asked() -> None:
    auth, fake = authorizer(Clock())
    run = asyncio.run
    assert run(auth.status(None)) == 401
    assert run(auth.status("Bearer nobody")) == 401
    assert run(auth.status("Bearer other-token")) == 403
    assert run(auth.status("Bearer reader-token")) == 200
    spec = fake.sar_specs[-1]
    assert (spec.user, spec.groups, spec.uid, spec.extra) == ("reader", ["g"], "u1", {"x": ["y"]})
    assert spec.non_resource_attributes.path == "/metrics"
    assert spec.non_resource_attributes.verb == "get"
    assert spec.resource_attributes is None


def test_decisions_are_cached_like_controller_runtime() -> None:
    clock = Clock()
    auth, fake = authorizer(clock)

    async def scrape(token: str) -> int:
        return await auth.status(f"Bearer {token}")

    assert asyncio.run(scrape("reader-token")) == 200
    assert auth.api_calls == 2  # one TokenReview, one SubjectAccessReview
    for _ in range(10):  # a scrape every 5 s for the authentication TTL: no API call
        clock.now += 5
        assert asyncio.run(scrape("reader-token")) == 200
    assert auth.api_calls == 2
    clock.now += AUTHN_TTL  # the token is reviewed again; the allow decision still holds
    assert asyncio.run(scrape("reader-token")) == 200
    assert auth.api_calls == 3
    clock.now += ALLOW_TTL
    assert asyncio.run(scrape("reader-token")) == 200
    assert auth.api_calls == 5

    assert asyncio.run(scrape("other-token")) == 403
    calls = auth.api_calls
    fake.allowed.add("other")  # granted: seen once the short deny TTL is over
    assert asyncio.run(scrape("other-token")) == 403
    assert auth.api_calls == calls
    clock.now += DENY_TTL
    assert asyncio.run(scrape("other-token")) == 200


def test_api_failure_refuses_and_is_not_cached() -> None:
    auth, fake = authorizer(Clock())

    def broken(body: Any) -> Any:
        raise client.ApiException(status=500)

    fake.create_token_review = broken  # type: ignore[method-assign]
    assert asyncio.run(auth.status("Bearer reader-token")) == 500
    del fake.create_token_review
    assert asyncio.run(auth.status("Bearer reader-token")) == 200


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_server, "CACHE_ENTRIES", 8)
    auth, _ = authorizer(Clock())
    for i in range(50):
        asyncio.run(auth.status(f"Bearer random-{i}"))
    assert len(auth._callers._items) == 8


def test_self_signed_certificate(tmp_path: Path) -> None:
    crt, key = metrics_server.self_signed(tmp_path)
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert key.stat().st_mode & 0o077 == 0


def test_settings_default_secure_and_plain_flag() -> None:
    assert from_env_and_args(env={}).metrics_secure is True
    s = from_env_and_args(env={"DDMSP_METRICS_SECURE": "false",
                               "DDMSP_METRICS_CERT_DIR": "/etc/x"})
    assert (s.metrics_secure, s.metrics_cert_dir) == (False, "/etc/x")


assert metrics.RECONCILES  # registered: the served exposition names it


def _get(url: str, token: str | None) -> int:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                 if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            assert b"# TYPE ddmsp_reconciles_total counter" in resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_https_served_with_fake_reviews_and_a_reloaded_cert(tmp_path: Path) -> None:
    """HTTPS with a cert directory; the fake reviewers stand in for the API server."""
    import socket

    metrics_server.self_signed(tmp_path)
    first = (tmp_path / "tls.crt").read_bytes()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def scenario() -> list[Any]:
        auth, _ = authorizer(Clock())
        app = metrics_server.build_app(auth)
        tls = metrics_server.TLSFiles(str(tmp_path))
        runner = metrics_server.web.AppRunner(app)
        await runner.setup()
        await metrics_server.web.TCPSite(runner, "127.0.0.1", port,
                                         ssl_context=tls.context).start()
        url = f"https://127.0.0.1:{port}/metrics"
        try:
            codes = [await asyncio.to_thread(_get, url, t)
                     for t in (None, "other-token", "reader-token")]
            served = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", port))
            import os
            metrics_server.self_signed(tmp_path)  # renewed
            os.utime(tmp_path / "tls.key", (1, 1))  # mtime surely differs
            reloaded = tls.reload_if_changed()
            renewed = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", port))
            return [codes, served, reloaded, renewed]
        finally:
            await runner.cleanup()

    codes, served, reloaded, renewed = asyncio.run(scenario())
    assert codes == [401, 403, 200]
    pem = lambda text: x509.load_pem_x509_certificate(text.encode())  # noqa: E731
    assert pem(served) == x509.load_pem_x509_certificate(first)
    assert reloaded and pem(renewed) != pem(served)
