"""Fixtures for the image tests: a Docker engine (started here when none runs, and then
stopped here), the image built from the project's Dockerfile, and the integration fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.image.chartrun import NoEngine, build_image, engine_up
from tests.integration.conftest import crds, sim  # noqa: F401 (fixtures used here)

IMAGE_TAG = "ddmsp:test"


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    try:
        engine = engine_up()
    except NoEngine as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs hack/ci-setup.d/20-docker.sh, yet: {exc}")
        pytest.skip(f"no Docker engine can run here: {exc}")
    try:
        yield
    finally:
        engine.stop()  # only a dockerd this session started


@pytest.fixture(scope="session")
def image(docker_engine: None) -> str:
    """The project's Dockerfile built on the local Debian base (cached layers when unchanged)."""
    try:
        return build_image(IMAGE_TAG)
    except NoEngine as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs hack/ci-setup.d/20-docker.sh, yet: {exc}")
        pytest.skip(str(exc))
