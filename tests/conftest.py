"""Session fixtures: a real local control plane (or an existing cluster) and namespaces."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.support.kube import (
    Cluster,
    build_binaries,
    existing_cluster,
    unique_name,
)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A live kube-apiserver for the session: reuse $KUBECONFIG if asked, else start one."""
    found = existing_cluster()
    if found is not None:
        yield found
        return
    from ddmsp.localcluster import ControlPlane

    bin_dir = build_binaries()
    # Not under pytest's basetemp: concurrent pytest sessions prune each other's old
    # basetemp directories, which would pull etcd's data out from under a live cluster.
    home = Path(os.environ.get("DDMSP_TEST_HOME") or tempfile.mkdtemp(prefix="ddmsp-test-"))
    if "DDMSP_TEST_HOME" in os.environ and "PYTEST_XDIST_WORKER" in os.environ:
        home = home / os.environ["PYTEST_XDIST_WORKER"]  # one control plane per worker
    plane = ControlPlane(home=home, bin_dir=bin_dir)
    state = plane.up()
    try:
        yield Cluster(Path(state.kubeconfig), bin_dir, owned=True)
    finally:
        plane.down()
        if "DDMSP_TEST_HOME" not in os.environ:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def api(cluster: Cluster) -> client.ApiClient:
    return cluster.api_client()


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (without waiting)."""
    name = unique_name("t")
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    with contextlib.suppress(client.ApiException):
        core.delete_namespace(name)
