"""Fixtures shared by the simulator's contract tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ddmsp.simulator.server import RunningSimulator, running_simulator

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "datadog-api"
if not REFERENCE.exists():  # a checkout elsewhere: fall back to the shared workspace
    REFERENCE = Path("/work/shared/datadog-api")
CASSETTES = REFERENCE / "cassettes"
OPENAPI_V1 = REFERENCE / "openapi-v1.yaml"


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    """A fresh simulator per test (starting one takes a few milliseconds)."""
    with running_simulator() as running:
        yield running
