"""Leak checks whose failures never print the key they look for.

Why: pytest explains a failed ``assert key not in text`` by printing both operands, so the
check meant to keep a key out of the output would put it there; these report which key
(by position and a label) and where, never its value."""

from __future__ import annotations

from collections.abc import Iterable


def assert_absent(secrets: Iterable[str], text: str, where: str) -> None:
    """No secret of ``secrets`` occurs in ``text`` (``where`` names the text)."""
    leaked = [index for index, secret in enumerate(secrets) if secret and secret in text]
    if leaked:
        raise AssertionError(f"key(s) #{leaked} of the checked list leaked into {where}")


def works(ok: bool, what: str) -> None:
    """Assert a check made with keys passed, without pytest showing the call's arguments."""
    if not ok:
        raise AssertionError(what)
