"""HTTP statuses and bodies map onto one error taxonomy."""

from __future__ import annotations

import pickle

import httpx
import pytest
import respx

from ddmsp.datadog import (
    AuthenticationError,
    ConflictError,
    Credentials,
    DatadogClient,
    DatadogError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    RateLimitRegistry,
    ResponseFormatError,
    RetryPolicy,
    ServerError,
    UnexpectedStatusError,
    ValidationError,
)

BASE = "https://api.datadoghq.com"
FAST = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.002, max_rate_limit_wait=1.0)


def make(router: respx.Router, **kw: object) -> DatadogClient:
    return DatadogClient(
        Credentials.of("k" * 32, "a" * 40),
        transport=httpx.MockTransport(router.async_handler),
        retry=FAST,
        rate_limits=RateLimitRegistry(),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE, assert_all_called=False)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (405, UnexpectedStatusError),
        (409, ConflictError),
        (415, ValidationError),
        (422, ValidationError),
        (500, ServerError),
        (503, ServerError),
    ],
)
async def test_status_maps_to_error_class(router: respx.Router, status: int, cls: type) -> None:
    router.get("/api/v2/roles/r1").respond(status, json={"errors": [f"problem {status}"]})
    async with make(router) as dd:
        with pytest.raises(cls) as info:
            await dd.get_role("r1")
    err = info.value
    assert isinstance(err, DatadogError)
    assert err.status == status
    assert err.api_errors == [f"problem {status}"]
    assert err.method == "GET"
    assert err.path == "/api/v2/roles/r1"
    assert f"problem {status}" in str(err)


async def test_forbidden_is_an_authentication_error(router: respx.Router) -> None:
    # The recorded answer of the real API to a bad key.
    router.get("/api/v1/org").respond(403, json={"errors": ["API key required"]})
    async with make(router) as dd:
        with pytest.raises(AuthenticationError) as info:
            await dd.list_orgs()
    assert info.value.api_errors == ["API key required"]
    assert not info.value.retryable


async def test_conflict_carries_api_message(router: respx.Router) -> None:
    router.post("/api/v2/roles").respond(
        409, json={"errors": ["Role with name 'ops' already exists"]}
    )
    async with make(router) as dd:
        with pytest.raises(ConflictError, match="already exists"):
            await dd.create_role("ops")


async def test_jsonapi_error_objects_and_plain_text(router: respx.Router) -> None:
    router.patch("/api/v2/roles/r1").respond(
        422, json={"errors": [{"status": "422", "title": "Bad", "detail": "name too long"}]}
    )
    router.delete("/api/v2/roles/r1").respond(400, text="<html>nope</html>")
    async with make(router) as dd:
        with pytest.raises(ValidationError) as info:
            await dd.update_role("r1", name="x" * 500)
        assert info.value.api_errors == ["name too long"]
        with pytest.raises(ValidationError) as info2:
            await dd.delete_role("r1")
        assert info2.value.api_errors == ["<html>nope</html>"]


async def test_path_never_includes_query(router: respx.Router) -> None:
    router.get("/api/v2/usage/projected_cost").respond(404, json={"errors": ["no"]})
    async with make(router) as dd:
        with pytest.raises(NotFoundError) as info:
            await dd.projected_cost()
    assert info.value.path == "/api/v2/usage/projected_cost"
    assert "view" not in str(info.value)


async def test_rate_limited_error_carries_reset_and_name(router: respx.Router) -> None:
    router.get("/api/v2/permissions").respond(
        429,
        json={"errors": ["Too many requests"]},
        headers={
            "X-RateLimit-Limit": "10",
            "X-RateLimit-Period": "60",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "45",
            "X-RateLimit-Name": "permissions",
        },
    )
    async with make(router) as dd:
        with pytest.raises(RateLimitedError) as info:
            await dd.list_permissions()
    err = info.value
    assert err.reset_seconds == 45
    assert err.limit_name == "permissions"
    assert err.status == 429
    assert err.retryable
    assert "reset_in=45s" in str(err)
    assert router.calls.call_count == 1


async def test_success_with_bad_shape_is_response_format_error(router: respx.Router) -> None:
    router.get("/api/v1/org/abc").respond(200, json={"unexpected": True})
    router.get("/api/v2/roles/r1").respond(200, text="not json")
    async with make(router) as dd:
        with pytest.raises(ResponseFormatError, match="OrgResponse"):
            await dd.get_org("abc")
        with pytest.raises(ResponseFormatError, match="not JSON"):
            await dd.get_role("r1")


def test_errors_pickle_round_trip() -> None:
    err = RateLimitedError(
        "x", reset_seconds=3, limit_name="n", status=429, method="GET", path="/p"
    )
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is RateLimitedError
    assert (back.reset_seconds, back.limit_name, back.status, back.path) == (3, "n", 429, "/p")
    assert str(back) == str(err)


def test_retryable_flags() -> None:
    from ddmsp.datadog import OutcomeUnknownError, TransportError

    assert ServerError("x").retryable and TransportError("x").retryable
    assert not OutcomeUnknownError("x").retryable
    assert OutcomeUnknownError("x").may_have_committed
    assert not isinstance(OutcomeUnknownError("x"), TransportError)
    assert not NotFoundError("x").retryable
