"""End to end in a kind cluster with the real image and chart (needs Docker and kind).

Skipped cleanly where no Docker engine runs (as on the build machines here); the same
flow runs against the envtest-style control plane in tests/integration/.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _docker_running() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


requires_kind = pytest.mark.skipif(
    not (_docker_running() and shutil.which("kind") and shutil.which("kubectl")
         and shutil.which("helm")),
    reason="needs a running Docker engine plus kind, kubectl and helm on PATH",
)


def sh(*args: str, timeout: float = 600) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True,
                          timeout=timeout).stdout


@requires_kind
def test_chart_and_image_provision_a_client_in_kind(tmp_path: Path) -> None:
    name = f"ddmsp-{uuid.uuid4().hex[:6]}"
    kubeconfig = str(tmp_path / "kubeconfig")
    sh("kind", "create", "cluster", "--name", name, "--kubeconfig", kubeconfig, "--wait", "120s")
    try:
        sh("docker", "build", "-t", "ddmsp:e2e", str(REPO_ROOT))
        sh("kind", "load", "docker-image", "ddmsp:e2e", "--name", name)
        k = ["kubectl", f"--kubeconfig={kubeconfig}"]
        sh(*k, "create", "namespace", "ddmsp")
        # the simulator runs in-cluster from the same image
        sh(*k, "-n", "ddmsp", "run", "simulator", "--image=ddmsp:e2e", "--port=8080",
           "--image-pull-policy=Never", "--env=DDMSP_SIM_API_KEY=" + "a" * 32,
           "--env=DDMSP_SIM_APP_KEY=" + "b" * 40, "--",
           "simulator", "--host", "0.0.0.0", "--port", "8080")
        sh(*k, "-n", "ddmsp", "expose", "pod", "simulator", "--port=8080")
        sh(*k, "-n", "ddmsp", "create", "secret", "generic", "datadog-partner",
           "--from-literal=api-key=" + "a" * 32, "--from-literal=app-key=" + "b" * 40)
        sh("helm", "install", "ddmsp", str(REPO_ROOT / "helm" / "ddmsp"), "-n", "ddmsp",
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
