"""Scrub key-like strings from any text headed for status, events or logs.

Datadog API keys are 32 hex digits and application keys 40; nothing else ddmsp writes
(public IDs, role IDs, UUIDs with dashes) has that shape. Exception text from libraries
(the kubernetes client echoing a request body, an httpx error) is not under our control,
so everything copied out of an exception passes through here.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"
_KEY_LIKE = re.compile(r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{32})(?![0-9A-Za-z])")


def scrub(text: str) -> str:
    """``text`` with every API-key-like or application-key-like token replaced."""
    return _KEY_LIKE.sub(REDACTED, text)
