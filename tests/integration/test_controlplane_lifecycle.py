"""hack/controlplane semantics: `up` twice is safe, `down` stops exactly what `up` started."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.kube import REPO_ROOT, reachable

pytestmark = pytest.mark.kube


def controlplane(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DDMSP_HOME": str(home)}
    return subprocess.run([str(REPO_ROOT / "hack" / "controlplane"), *args], env=env,
                          capture_output=True, text=True, timeout=180)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_up_twice_status_and_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = controlplane(home, "up")
    assert first.returncode == 0, first.stderr
    kubeconfig = first.stdout.strip().splitlines()[-1]
    assert kubeconfig == str(home / "kubeconfig") and reachable(kubeconfig)
    import json

    state = json.loads((home / "controlplane" / "state.json").read_text())
    pids = state["pids"]
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}

    second = controlplane(home, "up")  # idempotent: same processes, same kubeconfig
    assert second.returncode == 0 and second.stdout.strip().splitlines()[-1] == kubeconfig
    assert json.loads((home / "controlplane" / "state.json").read_text())["pids"] == pids

    status = controlplane(home, "status")
    assert status.returncode == 0 and "ready" in status.stdout and "True" in status.stdout

    # a bystander process that is not ours survives `down`
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        down = controlplane(home, "down")
        assert down.returncode == 0
        assert not any(alive(pid) for pid in pids.values())
        assert bystander.poll() is None
        assert not (home / "controlplane").exists() and not (home / "kubeconfig").exists()
        after = controlplane(home, "status")
        assert after.returncode == 3 and "stopped" in after.stdout
    finally:
        bystander.kill()
