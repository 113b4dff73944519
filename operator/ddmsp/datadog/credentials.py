"""A Datadog API/application key pair that never shows itself."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, SecretStr

REDACTED = "[REDACTED]"


class Credentials(BaseModel):
    """An API key and an application key. repr/str show only a fingerprint."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    api_key: SecretStr
    app_key: SecretStr
    # Where the keys came from (e.g. "Secret ns/name"): named in errors, never a key.
    source: str = ""

    @classmethod
    def of(cls, api_key: str, app_key: str, source: str = "") -> Credentials:
        """Build from plain strings (typed helper for callers)."""
        return cls(api_key=SecretStr(api_key), app_key=SecretStr(app_key), source=source)

    def fingerprint(self) -> str:
        """A short, stable, non-reversible id for cache keys and log correlation."""
        digest = hashlib.sha256(b"ddmsp-credentials\0")
        digest.update(self.api_key.get_secret_value().encode())
        digest.update(b"\0")
        digest.update(self.app_key.get_secret_value().encode())
        return digest.hexdigest()[:12]

    def scrub(self, text: str) -> str:
        """Replace either key, wherever it occurs in text, by a marker."""
        for secret in (self.api_key.get_secret_value(), self.app_key.get_secret_value()):
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"Credentials(fingerprint={self.fingerprint()!r})"

    def __str__(self) -> str:
        return self.__repr__()
