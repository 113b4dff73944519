"""The leak checks fail without printing the key they found (tests/support/secrecy.py)."""

from __future__ import annotations

import pytest

from tests.support.secrecy import assert_absent, works

KEY = "a" * 32


def test_a_leak_fails_and_the_failure_names_no_key() -> None:
    with pytest.raises(AssertionError) as failed:
        assert_absent(["b" * 32, KEY], f"log line {KEY}", "the log")
    assert "#[1]" in str(failed.value) and "the log" in str(failed.value)
    assert KEY not in str(failed.value)


def test_absent_keys_and_a_true_check_pass() -> None:
    assert_absent([KEY, ""], "nothing here", "the log")
    works(True, "the key works")
    with pytest.raises(AssertionError, match="the key works"):
        works(False, "the key works")
