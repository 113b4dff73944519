"""Retry policy: idempotent calls retried with backoff, create-org never, 429 waited out."""

from __future__ import annotations

import time

import httpx
import pytest
import respx

from ddmsp.datadog import (
    Credentials,
    DatadogClient,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    RateLimitRegistry,
    ResponseFormatError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from ddmsp.datadog.retry import is_idempotent

BASE = "https://api.datadoghq.com"
API_KEY = "k" * 32
APP_KEY = "a" * 40
ORG_BODY = {
    "org": {"public_id": "child1", "name": "c"},
    "user": {"handle": "x@example.com"},
    "api_key": {"key": "n" * 32},
    "application_key": {"hash": "h" * 40},
}
ROLE = {"data": {"type": "roles", "id": "r1", "attributes": {"name": "ops"}}}


class Sleeps:
    """Records requested sleeps and really sleeps a tiny bit."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        import asyncio

        self.calls.append(seconds)
        await asyncio.sleep(min(seconds, 0.5))


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE, assert_all_called=False)


def make(router: respx.Router, sleeps: Sleeps | None = None, **policy: float) -> DatadogClient:
    settings: dict[str, float] = {
        "max_attempts": 4,
        "backoff_base": 0.001,
        "backoff_max": 0.004,
        "max_rate_limit_wait": 2.0,
    }
    settings.update(policy)
    return DatadogClient(
        Credentials.of(API_KEY, APP_KEY),
        transport=httpx.MockTransport(router.async_handler),
        retry=RetryPolicy(**settings),  # type: ignore[arg-type]
        rate_limits=RateLimitRegistry(),
        sleep=sleeps or Sleeps(),
    )


def rl_headers(reset: str, remaining: str = "0", name: str = "orgs") -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Period": "10",
        "X-RateLimit-Remaining": remaining,
        "X-RateLimit-Reset": reset,
        "X-RateLimit-Name": name,
    }


# ------------------------------------------------------------------ idempotent calls


async def test_get_5xx_retried_with_backoff_then_succeeds(router: respx.Router) -> None:
    route = router.get("/api/v2/roles/r1").mock(
        side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(500),
                     httpx.Response(200, json=ROLE)]
    )
    sleeps = Sleeps()
    async with make(router, sleeps, backoff_max=1.0) as dd:
        role = await dd.get_role("r1")
    assert role.name == "ops"
    assert route.call_count == 4
    assert len(sleeps.calls) == 3
    # exponential with jitter: the k-th wait lies in [base*2^(k-1)/2, base*2^(k-1)], so the
    # third is at least twice the first (a constant or linear backoff fails here)
    for attempt, slept in enumerate(sleeps.calls, start=1):
        ceiling = 0.001 * 2 ** (attempt - 1)
        assert ceiling / 2 <= slept <= ceiling, (attempt, slept)
    assert sleeps.calls[2] >= 2 * sleeps.calls[0]


async def test_get_5xx_gives_up_after_max_attempts(router: respx.Router) -> None:
    route = router.get("/api/v2/roles/r1").respond(500, json={"errors": ["boom"]})
    async with make(router, max_attempts=3) as dd:
        with pytest.raises(ServerError) as info:
            await dd.get_role("r1")
    assert route.call_count == 3
    assert info.value.api_errors == ["boom"]
    assert not info.value.may_have_committed


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
async def test_idempotent_calls_retry_transport_failures(
    router: respx.Router, exc: Exception
) -> None:
    route = router.put("/api/v1/org/abc").mock(
        side_effect=[exc, httpx.Response(200, json={"org": {"public_id": "abc"}})]
    )
    async with make(router) as dd:
        org = await dd.update_org("abc", {"saml": {"enabled": True}})
    assert org.public_id == "abc"
    assert route.call_count == 2


async def test_transport_failure_exhausts_to_transport_error(router: respx.Router) -> None:
    route = router.delete("/api/v2/roles/r1").mock(side_effect=httpx.ConnectError("refused"))
    async with make(router, max_attempts=2) as dd:
        with pytest.raises(TransportError, match="ConnectError"):
            await dd.delete_role("r1")
    assert route.call_count == 2


async def test_grant_permission_is_an_idempotent_post(router: respx.Router) -> None:
    route = router.post("/api/v2/roles/r1/permissions").mock(
        side_effect=[httpx.Response(500), httpx.ReadTimeout("t"), httpx.Response(200, json={})]
    )
    async with make(router) as dd:
        await dd.grant_permission("r1", "p1")
    assert route.call_count == 3


async def test_4xx_never_retried(router: respx.Router) -> None:
    route = router.get("/api/v2/roles/r1").respond(404, json={"errors": ["r1 not found"]})
    async with make(router) as dd:
        with pytest.raises(NotFoundError):
            await dd.get_role("r1")
    assert route.call_count == 1


# ------------------------------------------------------------------ create child org


async def test_create_org_5xx_not_retried(router: respx.Router) -> None:
    route = router.post("/api/v1/org").respond(500, json={"errors": ["Internal"]})
    async with make(router) as dd:
        with pytest.raises(ServerError) as info:
            await dd.create_child_org("acme")
    assert route.call_count == 1
    assert info.value.may_have_committed


@pytest.mark.parametrize(
    "exc",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("reset by peer"),
        httpx.WriteTimeout("w"),
    ],
)
async def test_create_org_lost_response_is_outcome_unknown(
    router: respx.Router, exc: Exception
) -> None:
    route = router.post("/api/v1/org").mock(side_effect=exc)
    async with make(router) as dd:
        with pytest.raises(OutcomeUnknownError) as info:
            await dd.create_child_org("acme")
    assert route.call_count == 1
    assert info.value.may_have_committed
    assert info.value.__cause__ is None and info.value.__context__ is None


async def test_create_org_connect_failure_not_retried_and_not_committed(
    router: respx.Router,
) -> None:
    route = router.post("/api/v1/org").mock(side_effect=httpx.ConnectError("refused"))
    async with make(router) as dd:
        with pytest.raises(TransportError) as info:
            await dd.create_child_org("acme")
    assert route.call_count == 1
    assert not info.value.may_have_committed


async def test_create_org_429_waits_and_retries(router: respx.Router) -> None:
    route = router.post("/api/v1/org").mock(
        side_effect=[
            httpx.Response(429, json={"errors": ["Too many requests"]}, headers=rl_headers("0.2")),
            httpx.Response(200, json=ORG_BODY, headers=rl_headers("5", remaining="3")),
        ]
    )
    start = time.monotonic()
    async with make(router) as dd:
        created = await dd.create_child_org("acme")
    assert time.monotonic() - start >= 0.19
    assert route.call_count == 2
    assert created.org.public_id == "child1"
    assert created.credentials.api_key.get_secret_value() == "n" * 32
    assert created.credentials.app_key.get_secret_value() == "h" * 40


async def test_create_org_unreadable_200_is_outcome_unknown(router: respx.Router) -> None:
    router.post("/api/v1/org").respond(200, json={"org": {"public_id": "c"}, "api_key": {}})
    async with make(router) as dd:
        with pytest.raises(OutcomeUnknownError) as info:
            await dd.create_child_org("acme")
    assert info.value.status == 200


async def test_other_non_idempotent_post_5xx_not_retried(router: respx.Router) -> None:
    route = router.post("/api/v2/roles").respond(503)
    async with make(router) as dd:
        with pytest.raises(ServerError):
            await dd.create_role("ops")
    assert route.call_count == 1


async def test_non_idempotent_post_retried_when_never_sent(router: respx.Router) -> None:
    route = router.post("/api/v2/roles").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=ROLE)]
    )
    async with make(router) as dd:
        assert (await dd.create_role("ops")).id == "r1"
    assert route.call_count == 2


async def test_spin_off_lost_response_is_outcome_unknown(router: respx.Router) -> None:
    route = router.post("/api/v1/org/c1/downgrade").mock(side_effect=httpx.ReadTimeout("t"))
    async with make(router) as dd:
        with pytest.raises(OutcomeUnknownError):
            await dd.spin_off("c1")
    assert route.call_count == 1


# ------------------------------------------------------------------ 429


async def test_429_waits_for_reset_then_succeeds(router: respx.Router) -> None:
    route = router.get("/api/v2/permissions").mock(
        side_effect=[
            httpx.Response(429, headers=rl_headers("0.3", name="perms")),
            httpx.Response(200, json={"data": []}),
        ]
    )
    sleeps = Sleeps()
    start = time.monotonic()
    async with make(router, sleeps) as dd:
        assert await dd.list_permissions() == []
    assert time.monotonic() - start >= 0.29
    assert route.call_count == 2
    assert sleeps.calls and max(sleeps.calls) <= 0.31


async def test_429_without_headers_uses_default_wait(router: respx.Router) -> None:
    route = router.get("/api/v2/permissions").mock(
        side_effect=[httpx.Response(429), httpx.Response(200, json={"data": []})]
    )
    async with make(router, default_rate_limit_wait=0.05) as dd:
        assert await dd.list_permissions() == []
    assert route.call_count == 2


async def test_429_reset_beyond_budget_raises_at_once(router: respx.Router) -> None:
    route = router.get("/api/v2/permissions").respond(429, headers=rl_headers("30", name="p"))
    async with make(router, max_rate_limit_wait=1.0) as dd:
        with pytest.raises(RateLimitedError) as info:
            await dd.list_permissions()
        assert info.value.reset_seconds == 30
        assert route.call_count == 1
        # The limiter remembers: the next call is refused without a request.
        with pytest.raises(RateLimitedError) as info2:
            await dd.list_permissions()
        assert route.call_count == 1
        assert info2.value.limit_name == "p"
        assert info2.value.reset_seconds is not None and info2.value.reset_seconds > 25


async def test_429_storm_longer_than_budget_raises(router: respx.Router) -> None:
    route = router.get("/api/v2/permissions").respond(429, headers=rl_headers("0.01"))
    async with make(router, max_rate_limit_waits=3) as dd:
        with pytest.raises(RateLimitedError):
            await dd.list_permissions()
    assert route.call_count == 4


# ------------------------------------------------------------------ policy unit


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("GET /api/v1/org", True),
        ("PUT /api/v1/org/{public_id}", True),
        ("PATCH /api/v2/roles/{role_id}", True),
        ("DELETE /api/v2/roles/{role_id}", True),
        ("POST /api/v2/roles/{role_id}/permissions", True),
        ("POST /api/v1/org", False),
        ("POST /api/v2/roles", False),
        ("POST /api/v2/authn_mappings", False),
        ("POST /api/v1/org/{public_id}/downgrade", False),
    ],
)
def test_is_idempotent(route: str, expected: bool) -> None:
    assert is_idempotent(route) is expected


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)):
        for _ in range(20):
            assert ceiling / 2 <= policy.backoff(attempt) <= ceiling


async def test_response_format_error_on_list_without_data(router: respx.Router) -> None:
    router.get("/api/v2/permissions").respond(200, json={"nope": 1})
    async with make(router) as dd:
        with pytest.raises(ResponseFormatError):
            await dd.list_permissions()
