"""Fixtures shared by the simulator's contract tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ddmsp.simulator.server import RunningSimulator, running_simulator

SHARED_REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "datadog-api"
VENDORED_REFERENCE = Path(__file__).resolve().parent / "reference" / "datadog-api"
# The workspace's ../shared copy is the reference; a clone without it uses the verbatim
# copy under tests/contract/reference/ (test_reference_copy.py keeps the two equal).
REFERENCE = SHARED_REFERENCE if SHARED_REFERENCE.exists() else VENDORED_REFERENCE
CASSETTES = REFERENCE / "cassettes"
OPENAPI_V1 = REFERENCE / "openapi-v1.yaml"


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    """A fresh simulator per test (starting one takes a few milliseconds)."""
    with running_simulator() as running:
        yield running
