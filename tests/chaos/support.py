"""Chaos helpers: restarting the session's kube-apiserver, and collecting what must hold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.support.kube import Cluster, reachable

GROUP, VERSION = "ddmsp.io", "v1alpha1"
ORGS, ROLES, SAML = "datadogclientorgs", "datadogroles", "datadogsamlconfigs"


def _apiserver_state(cluster: Cluster) -> tuple[Path, dict[str, Any]] | None:
    """The state.json of the `ddmsp.localcluster` control plane behind the kubeconfig (it
    lives next to it: <home>/kubeconfig, <home>/controlplane/state.json), if this session
    owns one."""
    if not cluster.owned:
        return None
    path = cluster.kubeconfig.parent / "controlplane" / "state.json"
    if not path.exists():
        return None
    return path, json.loads(path.read_text())


def can_restart_apiserver(cluster: Cluster) -> bool:
    return _apiserver_state(cluster) is not None


def restart_apiserver(cluster: Cluster, down_seconds: float = 2.0, timeout: float = 90) -> None:
    """Stop the kube-apiserver (SIGTERM, as a rolling restart does), keep it down a moment,
    start it again with the very same command line (same port, certs, etcd), and wait
    until it answers. `ddmsp.localcluster` has no per-component restart; this does it from
    its recorded PID, and records the new one so that `down` still stops it."""
    found = _apiserver_state(cluster)
    assert found is not None, "not a session-owned local control plane"
    path, state = found
    pid = int(state["pids"]["kube-apiserver"])
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    cwd = os.readlink(f"/proc/{pid}/cwd")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
        if stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
            break
        time.sleep(0.1)
    else:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
    time.sleep(down_seconds)
    log = open(Path(cwd) / "logs" / "kube-apiserver.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([a.decode() for a in argv], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=cwd)
    log.close()
    state["pids"]["kube-apiserver"] = proc.pid
    path.write_text(json.dumps(state, indent=2))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reachable(str(cluster.kubeconfig)):
            return
        time.sleep(0.5)
    raise AssertionError("kube-apiserver did not come back after a restart")


def items(api: client.ApiClient, namespace: str, plural: str) -> list[dict[str, Any]]:
    return list(client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, plural)["items"])


def ready(body: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in (body.get("status") or {}).get("conditions") or []
                 if c["type"] == "Ready"), None)
