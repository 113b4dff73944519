"""Session fixtures: a real local control plane (or an existing cluster) and namespaces."""

from __future__ import annotations

import os
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
    home = Path(os.environ.get("DDMSP_TEST_HOME") or tmp_path_factory.mktemp("ddmsp-home"))
    plane = ControlPlane(home=home, bin_dir=bin_dir)
    state = plane.up()
    try:
        yield Cluster(Path(state.kubeconfig), bin_dir, owned=True)
    finally:
        plane.down()


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
    try:
        core.delete_namespace(name)
    except client.ApiException:
        pass
