"""A Kubernetes API refusal in one line.

Why: the kubernetes client's ApiException prints the HTTP status, every response header and
the raw JSON body. In a condition or an event that is a dozen lines in which the one that
matters (the API server's ``Status.message``, e.g. "unable to create new content in
namespace x because it is being terminated") is hard to find.
"""

from __future__ import annotations

import json
from typing import Any

from ddmsp.reconcile.scrub import scrub


def status_message(exc: Any) -> str:
    """The API server's own one-line ``Status.message`` (never keys: it names the request)."""
    try:
        body = json.loads(getattr(exc, "body", "") or "{}")
    except (TypeError, ValueError):
        return ""
    return first_line(str(body.get("message") or ""))[:300] if isinstance(body, dict) else ""


def first_line(text: str) -> str:
    return next(iter(text.splitlines()), "")


def refusal(exc: Any) -> str:
    """``403 Forbidden: <the API server's message>`` (the raw body, scrubbed and capped,
    when it has no Status message)."""
    detail = status_message(exc) or scrub(str(getattr(exc, "body", "") or ""))[:300]
    return f"{getattr(exc, 'status', '?')} {getattr(exc, 'reason', '') or ''}".rstrip() + \
        (f": {detail}" if detail else "")
