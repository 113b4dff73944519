"""Datadog sites and the API base URL each one answers on."""

from __future__ import annotations

from typing import Literal, get_args
from urllib.parse import urlsplit

Site = Literal[
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "uk1.datadoghq.com",
    "datadoghq.eu",
    "ddog-gov.com",
    "us2.ddog-gov.com",
]
SITES: tuple[str, ...] = get_args(Site)

DEFAULT_SITE = "datadoghq.com"


class UnknownSiteError(ValueError):
    """The site is not one of Datadog's sites."""

    def __init__(self, site: str) -> None:
        super().__init__(f"unknown Datadog site {site!r}; valid sites: {', '.join(SITES)}")
        self.site = site


def normalize_site(site: str) -> str:
    """Return the canonical site name; accepts `app.`/`api.` prefixes and a URL form."""
    value = site.strip().lower().rstrip("/")
    if "://" in value:
        value = urlsplit(value).hostname or ""
    for prefix in ("api.", "app."):
        if value.startswith(prefix) and value[len(prefix) :] in SITES:
            value = value[len(prefix) :]
    if value not in SITES:
        raise UnknownSiteError(site)
    return value


def api_base_url(site: str | None = DEFAULT_SITE, base_url: str | None = None) -> str:
    """The API base URL (no trailing slash) for a site, or the validated explicit override."""
    if base_url is not None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        if parts.username or parts.password:
            raise ValueError("base_url must not carry credentials")
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return f"https://api.{normalize_site(site or DEFAULT_SITE)}"
