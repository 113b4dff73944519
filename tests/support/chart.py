"""The Helm chart installed against the test control plane, and the operator run as the
chart's Deployment would run it: the ServiceAccount's token (TokenRequest) and the literal
environment the rendered Deployment gives the container. No kubelet runs Pods here, so the
container is a process; ports the tests would clash on are turned off by flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.kube import REPO_ROOT, Cluster, serviceaccount_kubeconfig
from tests.support.operator import OperatorProcess

# Served by the container on fixed ports; the test processes share one host.
_PORT_ENV = {"DDMSP_LIVENESS", "DDMSP_READINESS_PORT", "DDMSP_METRICS_PORT"}


def helm(cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert cluster.bin_dir is not None
    out = subprocess.run([str(cluster.bin_dir / "helm"), *args,
                          "--kubeconfig", str(cluster.kubeconfig)],
                         capture_output=True, text=True, timeout=180)
    if check and out.returncode != 0:
        raise AssertionError(f"helm {' '.join(args[:2])} failed: {out.stderr}")
    return out


def manifest(cluster: Cluster, release: str, namespace: str) -> list[dict[str, Any]]:
    out = helm(cluster, "get", "manifest", release, "--namespace", namespace).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def deployment_env(docs: list[dict[str, Any]], pod_namespace: str) -> dict[str, str]:
    """The operator container's environment as the kubelet would give it."""
    (deploy,) = [d for d in docs if d["kind"] == "Deployment"]
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var and var["name"] not in _PORT_ENV:
            env[var["name"]] = str(var["value"])
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == \
                "metadata.namespace":
            env[var["name"]] = pod_namespace
        elif var["name"] == "POD_NAME":
            env[var["name"]] = f"{deploy['metadata']['name']}-test"
    return env


def chart_operator(cluster: Cluster, release: str, namespace: str, watch: list[str],
                   datadog_url: str, workdir: Path, log_name: str = "operator.log",
                   code: Path | None = None, extra_env: dict[str, str] | None = None
                   ) -> OperatorProcess:
    """The release's operator as a process; ``code``: another checkout's ``operator/``
    directory (an older version), else this one."""
    docs = manifest(cluster, release, namespace)
    (sa,) = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"]
    kubeconfig = serviceaccount_kubeconfig(cluster, namespace, sa,
                                           workdir / f"{release}-{log_name}.kubeconfig")
    env = {**deployment_env(docs, namespace), **(extra_env or {})}
    command = None
    if code is not None:
        env["PYTHONPATH"] = str(code)
        command = [sys.executable, "-m", "ddmsp"]
    return OperatorProcess(kubeconfig, datadog_url, watch, workdir / log_name, extra_env=env,
                           command=command, cwd=code.parent if code else REPO_ROOT)
