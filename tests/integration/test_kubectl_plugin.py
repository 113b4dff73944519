"""`kubectl ddmsp confirm-registration`: the real kubectl finds the plugin on PATH (as
`kubectl-ddmsp`, the console script pyproject.toml installs) and the SpinOff org proceeds."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.integration.conftest import Operator
from tests.support.kube import REPO_ROOT

pytestmark = pytest.mark.kube

PLURAL = "datadogclientorgs"


def plugin_dir(tmp_path: Path) -> Path:
    """A PATH entry with `kubectl-ddmsp`: exactly what pip generates for the console script
    (the venv may predate the entry), pointing at this checkout's code."""
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, func = scripts["kubectl-ddmsp"].split(":")
    shim = tmp_path / "kubectl-ddmsp"
    shim.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import {func}\n"
                    f"sys.exit({func}())\n")
    shim.chmod(0o755)
    return tmp_path


def kubectl_ddmsp(op: Operator, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert op.cluster.bin_dir is not None
    env = {**os.environ, "PATH": f"{path}:{os.environ['PATH']}",
           "PYTHONPATH": str(REPO_ROOT / "operator"), "KUBECONFIG": str(op.cluster.kubeconfig)}
    return subprocess.run([str(op.cluster.bin_dir / "kubectl"), "ddmsp", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_confirm_registration_through_kubectl(operator: Operator, tmp_path: Path) -> None:
    op = operator
    if op.cluster.bin_dir is None:
        pytest.skip("kubectl comes from hack/build-binaries")
    (tmp_path / "bin").mkdir()
    path = plugin_dir(tmp_path / "bin")
    listed = subprocess.run([str(op.cluster.bin_dir / "kubectl"), "plugin", "list"],
                            env={**os.environ, "PATH": f"{path}:{os.environ['PATH']}"},
                            capture_output=True, text=True)
    assert "kubectl-ddmsp" in listed.stdout
    helped = kubectl_ddmsp(op, path, "--help")
    assert helped.returncode == 0 and "usage: kubectl ddmsp" in helped.stdout
    assert "confirm-registration" in helped.stdout and "report" in helped.stdout

    op.start()
    op.apply(PLURAL, {"kind": "DatadogClientOrg", "metadata": {"name": "globex"},
                      "spec": {"displayName": "Globex", "provisioning": "SpinOff"}})
    op.apply(PLURAL, {"kind": "DatadogClientOrg", "metadata": {"name": "acme"},
                      "spec": {"displayName": "Acme"}})
    op.wait_condition(PLURAL, "globex", "Ready", "False", "AwaitingRegistration", timeout=60)

    wrong = kubectl_ddmsp(op, path, "confirm-registration", "acme", "-n", op.namespace)
    assert wrong.returncode == 1 and "only provisioning: SpinOff" in wrong.stderr
    missing = kubectl_ddmsp(op, path, "confirm-registration", "nope", "-n", op.namespace)
    assert missing.returncode == 1 and "not found" in missing.stderr

    done = kubectl_ddmsp(op, path, "confirm-registration", "globex", "--deal-id", "D-7",
                         "-n", op.namespace)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "datadogclientorgs.ddmsp.io/globex registration confirmed"
    op.wait_condition(PLURAL, "globex", "Ready", timeout=60)
    globex = op.get(PLURAL, "globex")
    assert globex["status"]["registration"]["dealId"] == "D-7"
    assert globex["spec"]["registration"]["orgPublicId"] == \
        globex["status"]["parentOrg"]["publicId"]
    again = kubectl_ddmsp(op, path, "confirm-registration", "globex", "--deal-id", "D-7",
                          "-n", op.namespace)
    assert again.returncode == 0 and "already confirmed" in again.stdout
