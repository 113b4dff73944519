"""Rate limits shared per (base URL, keys, limit name); header handling; concurrency cap."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import respx

from ddmsp.datadog import Credentials, DatadogClient, RateLimitRegistry, RetryPolicy
from ddmsp.datadog.ratelimit import DEFAULT_REGISTRY, RateLimiter, RateLimitInfo

BASE = "https://api.datadoghq.com"
FAST = RetryPolicy(backoff_base=0.001, backoff_max=0.002, max_rate_limit_wait=2.0)
ROLE = {"data": {"type": "roles", "id": "r1", "attributes": {"name": "ops"}}}


def creds(n: str = "1") -> Credentials:
    return Credentials.of(n * 32, n * 40)


def client(
    transport: httpx.AsyncBaseTransport,
    registry: RateLimitRegistry,
    c: Credentials | None = None,
    **kw: object,
) -> DatadogClient:
    return DatadogClient(
        c or creds(),
        transport=transport,
        retry=FAST,
        rate_limits=registry,
        **kw,  # type: ignore[arg-type]
    )


def headers(remaining: int, reset: float, name: str = "roles", limit: int = 10) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Period": "10",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
        "X-RateLimit-Name": name,
    }


def test_info_parses_headers_case_insensitively() -> None:
    info = RateLimitInfo.from_headers(
        httpx.Headers(
            {
                "x-ratelimit-limit": "100",
                "X-RATELIMIT-REMAINING": "7",
                "X-RateLimit-Reset": "12",
                "X-RateLimit-Period": "60",
                "X-RateLimit-Name": " roles ",
            }
        )
    )
    assert (info.limit, info.remaining, info.reset, info.period, info.name) == (
        100,
        7,
        12,
        60,
        "roles",
    )
    bad = RateLimitInfo.from_headers(httpx.Headers({"X-RateLimit-Reset": "soon"}))
    assert bad.reset is None and not bad.present


def test_limiter_waits_only_when_exhausted() -> None:
    now = [100.0]
    lim = RateLimiter(name="x", clock=lambda: now[0])
    assert lim.wait_time() == 0
    lim.observe(RateLimitInfo(limit=5, remaining=1, reset=10))
    assert lim.wait_time() == 0
    lim.reserve()  # the last request of the window
    assert lim.wait_time() == pytest.approx(10)
    now[0] += 4
    assert lim.wait_time() == pytest.approx(6)
    now[0] += 6.01
    assert lim.wait_time() == 0  # window rolled over
    assert lim.remaining is None
    lim.block_for(3)
    assert lim.wait_time() == pytest.approx(3)


def test_registry_keys() -> None:
    reg = RateLimitRegistry()
    a = reg.limiter(BASE, "fp1", "roles")
    assert reg.limiter(BASE, "fp1", "roles") is a
    assert reg.limiter(BASE, "fp2", "roles") is not a
    assert reg.limiter("http://other", "fp1", "roles") is not a
    assert reg.limiter(BASE, "fp1", "orgs") is not a
    # A route's limit is learned from X-RateLimit-Name and shared by its siblings.
    reg.observe(BASE, "fp1", "GET /api/v2/roles", RateLimitInfo(name="roles", remaining=3))
    reg.observe(BASE, "fp1", "PATCH /api/v2/roles/{role_id}", RateLimitInfo(name="roles"))
    assert reg.for_route(BASE, "fp1", "GET /api/v2/roles") is a
    assert reg.for_route(BASE, "fp1", "PATCH /api/v2/roles/{role_id}") is a
    assert a.remaining == 3
    assert reg.for_route(BASE, "fp2", "GET /api/v2/roles") is not a


def test_default_registry_is_process_wide() -> None:
    c1 = DatadogClient(creds())
    c2 = DatadogClient(creds())
    assert c1._limits is DEFAULT_REGISTRY and c2._limits is DEFAULT_REGISTRY


async def test_remaining_zero_makes_every_client_of_same_keys_wait() -> None:
    reg = RateLimitRegistry()
    router = respx.Router(base_url=BASE, assert_all_called=False)
    route = router.get("/api/v2/roles/r1").mock(
        side_effect=[
            httpx.Response(200, json=ROLE, headers=headers(remaining=0, reset=0.3)),
            httpx.Response(200, json=ROLE, headers=headers(remaining=9, reset=10)),
            httpx.Response(200, json=ROLE, headers=headers(remaining=8, reset=10)),
        ]
    )
    other = respx.Router(base_url=BASE, assert_all_called=False)
    other.get("/api/v2/roles/r1").respond(200, json=ROLE)
    transport = httpx.MockTransport(router.async_handler)
    async with (
        client(transport, reg) as first,
        client(transport, reg) as second,
        client(httpx.MockTransport(other.async_handler), reg, creds("2")) as stranger,
    ):
        await first.get_role("r1")
        start = time.monotonic()
        await stranger.get_role("r1")  # other keys: other budget, no wait
        assert time.monotonic() - start < 0.2
        await second.get_role("r1")  # same keys, same limit: waits for the reset
        assert time.monotonic() - start >= 0.28
        start = time.monotonic()
        await first.get_role("r1")
        assert time.monotonic() - start < 0.2
    assert route.call_count == 3


async def test_learned_name_shares_budget_across_routes() -> None:
    reg = RateLimitRegistry()
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.get("/api/v2/roles/r1").respond(200, json=ROLE, headers=headers(0, 0.3, "roles"))
    router.delete("/api/v2/roles/r1").respond(204, headers=headers(5, 10, "roles"))
    async with client(httpx.MockTransport(router.async_handler), reg) as dd:
        # The first DELETE has no learned name yet: it is its own limit and goes at once.
        await dd.delete_role("r1")
        await dd.get_role("r1")  # exhausts "roles"
        start = time.monotonic()
        await dd.delete_role("r1")  # DELETE is known to count against "roles" now
        assert time.monotonic() - start >= 0.28


async def test_429_reset_shared_with_concurrent_callers() -> None:
    reg = RateLimitRegistry()
    calls: list[float] = []
    state = {"n": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        state["n"] += 1
        if state["n"] == 1:
            return httpx.Response(429, headers=headers(0, 0.3, "roles"))
        return httpx.Response(200, json=ROLE, headers=headers(5, 10, "roles"))

    transport = httpx.MockTransport(handler)
    async with client(transport, reg) as dd:
        first = asyncio.create_task(dd.get_role("r1"))
        await asyncio.sleep(0.05)  # the 429 has been seen
        start = time.monotonic()
        rest = await asyncio.gather(*(dd.get_role("r1") for _ in range(3)))
        await first
    assert all(r.id == "r1" for r in rest)
    assert time.monotonic() - start >= 0.2
    assert len(calls) == 5
    assert all(t - calls[0] >= 0.28 for t in calls[1:])


async def test_concurrency_cap_per_keys() -> None:
    reg = RateLimitRegistry()
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return httpx.Response(200, json=ROLE)

    transport = httpx.MockTransport(handler)
    async with (
        client(transport, reg, max_concurrency=2) as a,
        client(transport, reg, max_concurrency=2) as b,
    ):
        await asyncio.gather(*(c.get_role("r1") for c in (a, b) for _ in range(4)))
    assert peak == 2
