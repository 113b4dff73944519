"""End to end in a kind cluster with the real image and chart (needs Docker, kind and a kind
node image).

Where it cannot run it skips and says which piece is missing. On the build machines here a
Docker engine runs (hack/image starts one) but kind creates its node from a `kindest/node`
image pulled from docker.io, and no image registry is reachable: the test says so. Load a
node image with `docker load` and name it in DDMSP_KIND_NODE_IMAGE to run it anyway. The
image and chart are run for real without kind in tests/image/test_image_run.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image.chartrun import NoEngine, build_image, engine_up
from tests.support.kube import REPO_ROOT, build_binaries

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("docker")]
NODE_IMAGE_REPOSITORY = "kindest/node"


def node_image() -> str | None:
    """A kind node image present in the local engine (none can be pulled here)."""
    wanted = os.environ.get("DDMSP_KIND_NODE_IMAGE")
    listing = subprocess.run(["docker", "image", "ls", "--format",
                              "{{.Repository}}:{{.Tag}}", wanted or NODE_IMAGE_REPOSITORY],
                             capture_output=True, text=True, timeout=60)
    found = [line for line in listing.stdout.split() if not line.endswith(":<none>")]
    return found[0] if found else None


def why_not(has_node_image: bool) -> str | None:
    missing = []
    if not has_node_image:
        missing.append(f"no kind node image ({NODE_IMAGE_REPOSITORY}) in the local Docker "
                       "engine, and kind would pull it from docker.io: no image registry is "
                       "reachable from this machine (`docker load` one and set "
                       "DDMSP_KIND_NODE_IMAGE)")
    if shutil.which("kind") is None:
        missing.append("no kind binary on PATH")
    return "Docker runs, but " + "; ".join(missing) if missing else None


@pytest.fixture
def kind_node_image() -> Iterator[str]:
    try:
        engine = engine_up()
    except NoEngine as exc:
        pytest.skip(f"no Docker engine can run here: {exc}")
    try:
        image = node_image()
        reason = why_not(image is not None)
        if reason or image is None:
            pytest.skip(reason or "no node image")
        yield image
    finally:
        engine.stop()


def sh(*args: str, timeout: float = 600) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True,
                          timeout=timeout).stdout


@pytest.mark.timeout(1200)
def test_chart_and_image_provision_a_client_in_kind(kind_node_image: str,
                                                    tmp_path: Path) -> None:
    bin_dir = build_binaries()
    kubectl, helm = str(bin_dir / "kubectl"), str(bin_dir / "helm")
    name = f"ddmsp-{uuid.uuid4().hex[:6]}"
    kubeconfig = str(tmp_path / "kubeconfig")
    sh("kind", "create", "cluster", "--name", name, "--image", kind_node_image,
       "--kubeconfig", kubeconfig, "--wait", "120s")
    try:
        image = build_image("ddmsp:e2e")
        sh("kind", "load", "docker-image", image, "--name", name)
        k = [kubectl, f"--kubeconfig={kubeconfig}"]
        sh(*k, "create", "namespace", "ddmsp")
        # the simulator runs in-cluster from the same image
        sh(*k, "-n", "ddmsp", "run", "simulator", "--image=ddmsp:e2e", "--port=8080",
           "--image-pull-policy=Never", "--env=DDMSP_SIM_API_KEY=" + "a" * 32,
           "--env=DDMSP_SIM_APP_KEY=" + "b" * 40, "--",
           "simulator", "--host", "0.0.0.0", "--port", "8080")
        sh(*k, "-n", "ddmsp", "expose", "pod", "simulator", "--port=8080")
        sh(*k, "-n", "ddmsp", "create", "secret", "generic", "datadog-partner",
           "--from-literal=api-key=" + "a" * 32, "--from-literal=app-key=" + "b" * 40)
        sh(helm, "install", "ddmsp", str(REPO_ROOT / "helm" / "ddmsp"), "-n", "ddmsp",
           f"--kubeconfig={kubeconfig}", "--set", "image.tag=e2e",
           "--set", "image.pullPolicy=Never",
           "--set", "partnerCredentials.existingSecret=datadog-partner",
           "--set", "datadogUrl=http://simulator.ddmsp:8080", "--wait")
        example = REPO_ROOT / "examples" / "clientorg-childorg.yaml"
        sh(*k, "-n", "ddmsp", "apply", "-f", str(example))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            out = subprocess.run([*k, "-n", "ddmsp", "wait", "--for=condition=Ready",
                                  "ddorg/acme", "--timeout=10s"], capture_output=True)
            if out.returncode == 0:
                break
        else:
            pytest.fail(sh(*k, "-n", "ddmsp", "logs", "deploy/ddmsp-ddmsp"))
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", name], capture_output=True)
