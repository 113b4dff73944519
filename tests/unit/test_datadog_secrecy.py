"""No key ever appears in a repr, an exception, a traceback or a log line."""

from __future__ import annotations

import logging
import pickle
import traceback

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddmsp.datadog import (
    CreatedOrg,
    Credentials,
    DatadogClient,
    DatadogError,
    RateLimitRegistry,
    RetryPolicy,
)
from ddmsp.datadog.models import OrgCreateResponse
from tests.support.secrecy import assert_absent

BASE = "https://api.datadoghq.com"
API_KEY = "0123456789abcdef0123456789abcdef"
APP_KEY = "fedcba9876543210fedcba9876543210fedcba98"
NEW_API_KEY = "11112222333344445555666677778888"
NEW_APP_KEY = "9999aaaabbbbccccddddeeeeffff000011112222"
SECRETS = (API_KEY, APP_KEY, NEW_API_KEY, NEW_APP_KEY)
CREATE_BODY = {
    "org": {"public_id": "child1", "name": "acme"},
    "user": {"handle": "admin@example.com"},
    "api_key": {"key": NEW_API_KEY, "name": "k"},
    "application_key": {"hash": NEW_APP_KEY, "name": "a"},
}


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert_absent([secret], text, "the text")


def exception_texts(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        parts += [str(seen), repr(seen), repr(getattr(seen, "request", None))]
        seen = seen.__cause__ or seen.__context__
    parts.append(repr(vars(exc)))
    return "\n".join(parts)


def make(router: respx.Router) -> DatadogClient:
    return DatadogClient(
        Credentials.of(API_KEY, APP_KEY),
        transport=httpx.MockTransport(router.async_handler),
        retry=RetryPolicy(max_attempts=2, backoff_base=0.001, max_rate_limit_wait=0.5),
        rate_limits=RateLimitRegistry(),
    )


def test_credentials_never_show_keys() -> None:
    creds = Credentials.of(API_KEY, APP_KEY)
    for text in (
        repr(creds),
        str(creds),
        f"{creds}",
        creds.model_dump_json(),
        str(creds.model_dump()),
        repr(pickle.loads(pickle.dumps(creds))),
    ):
        assert_clean(text)
    assert creds.fingerprint() in repr(creds)
    assert len(creds.fingerprint()) == 12
    assert creds.fingerprint() == Credentials.of(API_KEY, APP_KEY).fingerprint()
    assert creds.fingerprint() != Credentials.of(API_KEY, NEW_APP_KEY).fingerprint()
    assert creds.api_key.get_secret_value() == API_KEY
    with pytest.raises(Exception) as info:
        Credentials(api_key=API_KEY, app_key=12345)  # type: ignore[arg-type]
    assert_clean(str(info.value))


def test_created_org_and_create_response_never_show_keys() -> None:
    parsed = OrgCreateResponse.model_validate(CREATE_BODY)
    created = CreatedOrg(
        org=parsed.org,
        credentials=Credentials(api_key=parsed.api_key.key, app_key=parsed.application_key.hash),
    )
    for text in (
        repr(parsed),
        str(parsed),
        repr(created),
        str(created),
        parsed.model_dump_json(),
        created.model_dump_json(),
    ):
        assert_clean(text)


def test_invalid_create_response_error_hides_input() -> None:
    bad = dict(CREATE_BODY, org="not-an-object")
    with pytest.raises(Exception) as info:
        OrgCreateResponse.model_validate(bad)
    assert_clean(str(info.value))


def test_client_repr() -> None:
    dd = DatadogClient(Credentials.of(API_KEY, APP_KEY))
    assert_clean(repr(dd))
    assert_clean(repr(vars(dd)))


@pytest.mark.parametrize(
    "side_effect",
    [
        httpx.Response(403, json={"errors": [f"Forbidden for key {API_KEY}"]}),
        httpx.Response(500, text=f"trace: DD-APPLICATION-KEY={APP_KEY}"),
        httpx.Response(429, headers={"X-RateLimit-Reset": "60"}),
        httpx.Response(200, json={"org": {"public_id": "c"}, "api_key": {"key": NEW_API_KEY}}),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError(f"cannot connect using {API_KEY}"),
    ],
)
async def test_exceptions_from_create_org_never_show_keys(
    side_effect: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router = respx.Router(base_url=BASE, assert_all_called=False)
    router.post("/api/v1/org").mock(side_effect=[side_effect, side_effect])
    async with make(router) as dd:
        with pytest.raises(DatadogError) as info:
            await dd.create_child_org("acme")
    assert_clean(exception_texts(info.value))
    assert_clean(caplog.text)
    assert_clean(repr(pickle.loads(pickle.dumps(info.value))))


async def test_requests_carry_keys_and_logs_do_not(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    router = respx.Router(base_url=BASE, assert_all_called=False)
    route = router.post("/api/v1/org").respond(200, json=CREATE_BODY)
    router.get("/api/v1/validate").respond(200, json={"valid": True})
    async with make(router) as dd:
        created = await dd.create_child_org("acme")
        assert await dd.validate()
    request = route.calls.last.request
    assert request.headers["DD-API-KEY"] == API_KEY
    assert request.headers["DD-APPLICATION-KEY"] == APP_KEY
    assert created.credentials.api_key.get_secret_value() == NEW_API_KEY
    assert created.credentials.app_key.get_secret_value() == NEW_APP_KEY
    assert caplog.records  # something was logged ...
    assert_clean(caplog.text)  # ... and no key
    for record in caplog.records:
        assert_clean(repr(record.args))
    assert_clean(repr(created))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    api_key=st.text("0123456789abcdef", min_size=32, max_size=32),
    app_key=st.text("0123456789abcdef", min_size=40, max_size=40),
    status=st.sampled_from([400, 401, 403, 404, 409, 415, 422, 429, 500, 503, 418]),
    echo=st.sampled_from(["{api}", "key={app}", "{api}/{app}", "nothing secret"]),
)
async def test_property_api_echoing_keys_is_scrubbed(
    api_key: str, app_key: str, status: int, echo: str
) -> None:
    message = echo.format(api=api_key, app=app_key)

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, json={"errors": [message]}, headers={"X-RateLimit-Reset": "999"}
        )

    async with DatadogClient(
        Credentials.of(api_key, app_key),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_attempts=1, max_rate_limit_wait=0.1),
        rate_limits=RateLimitRegistry(),
    ) as dd:
        with pytest.raises(DatadogError) as info:
            await dd.create_role("r")
    text = exception_texts(info.value)
    assert_absent([api_key, app_key], text, "the text")
