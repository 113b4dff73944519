"""Site -> API base URL mapping."""

from __future__ import annotations

import pytest

from ddmsp.datadog import SITES, Credentials, DatadogClient, UnknownSiteError, api_base_url

EXPECTED = {
    "datadoghq.com": "https://api.datadoghq.com",
    "us3.datadoghq.com": "https://api.us3.datadoghq.com",
    "us5.datadoghq.com": "https://api.us5.datadoghq.com",
    "ap1.datadoghq.com": "https://api.ap1.datadoghq.com",
    "ap2.datadoghq.com": "https://api.ap2.datadoghq.com",
    "uk1.datadoghq.com": "https://api.uk1.datadoghq.com",
    "datadoghq.eu": "https://api.datadoghq.eu",
    "ddog-gov.com": "https://api.ddog-gov.com",
    "us2.ddog-gov.com": "https://api.us2.ddog-gov.com",
}


def test_sites_tuple_is_complete() -> None:
    assert isinstance(SITES, tuple)
    assert set(SITES) == set(EXPECTED)


@pytest.mark.parametrize(("site", "url"), sorted(EXPECTED.items()))
def test_each_site_maps_to_its_api_host(site: str, url: str) -> None:
    assert api_base_url(site) == url


@pytest.mark.parametrize(
    "alias",
    [
        "DatadogHQ.eu",
        " datadoghq.eu ",
        "app.datadoghq.eu",
        "api.datadoghq.eu",
        "https://app.datadoghq.eu/",
    ],
)
def test_site_aliases_normalise(alias: str) -> None:
    assert api_base_url(alias) == "https://api.datadoghq.eu"


@pytest.mark.parametrize("bad", ["datadoghq.org", "us4.datadoghq.com", "", "evil.com"])
def test_unknown_site_lists_valid_ones(bad: str) -> None:
    with pytest.raises(UnknownSiteError) as info:
        api_base_url(bad or "nope")
    for site in SITES:
        assert site in str(info.value)
    assert isinstance(info.value, ValueError)


def test_explicit_base_url_overrides_site() -> None:
    assert api_base_url("datadoghq.eu", "http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert api_base_url(None, "https://proxy.example/dd/") == "https://proxy.example/dd"


@pytest.mark.parametrize("bad", ["127.0.0.1:8080", "ftp://x", "https://user:pw@host"])
def test_bad_base_url_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        api_base_url(None, bad)


async def test_client_uses_site() -> None:
    creds = Credentials.of("a" * 32, "b" * 40)
    async with DatadogClient(creds, site="us5.datadoghq.com") as dd:
        assert dd.base_url == "https://api.us5.datadoghq.com"
    async with DatadogClient(creds, base_url="http://localhost:9") as dd:
        assert dd.base_url == "http://localhost:9"
    with pytest.raises(UnknownSiteError):
        DatadogClient(creds, site="datadoghq.co")
