"""The vendored reference data is a verbatim copy of ../shared/datadog-api."""

from __future__ import annotations

import pytest

from tests.contract.conftest import SHARED_REFERENCE, VENDORED_REFERENCE


def test_vendored_copy_matches_the_shared_reference() -> None:
    if not SHARED_REFERENCE.exists():
        pytest.skip("no ../shared/datadog-api beside this clone: the vendored copy is used")
    shared = {p.relative_to(SHARED_REFERENCE): p.read_bytes()
              for p in SHARED_REFERENCE.rglob("*") if p.is_file()}
    vendored = {p.relative_to(VENDORED_REFERENCE): p.read_bytes()
                for p in VENDORED_REFERENCE.rglob("*") if p.is_file()}
    assert shared.keys() == vendored.keys()
    assert [k for k in shared if shared[k] != vendored[k]] == []
