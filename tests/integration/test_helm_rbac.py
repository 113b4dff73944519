"""The Helm chart installs, and its RBAC is exactly enough: the operator runs with the
chart's ServiceAccount token (TokenRequest) and provisions a client org."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Operator
from tests.support.kube import REPO_ROOT, serviceaccount_kubeconfig, unique_name
from tests.support.operator import OperatorProcess

pytestmark = pytest.mark.kube


def test_operator_runs_with_the_charts_rbac(operator: Operator, tmp_path: Path) -> None:
    op = operator
    if op.cluster.bin_dir is None:
        pytest.skip("helm comes from hack/build-binaries")
    release = unique_name("rel")
    subprocess.run(
        [str(op.cluster.bin_dir / "helm"), "install", release, str(REPO_ROOT / "helm" / "ddmsp"),
         "--namespace", op.namespace, "--kubeconfig", str(op.cluster.kubeconfig),
         "--set", "partnerCredentials.existingSecret=partner", "--skip-crds"],
        check=True, capture_output=True, text=True, timeout=120)
    try:
        kubeconfig = serviceaccount_kubeconfig(op.cluster, op.namespace, f"{release}-ddmsp",
                                               tmp_path / "sa-kubeconfig")
        op.process = OperatorProcess(
            kubeconfig, op.sim.base_url, [op.namespace], tmp_path / "rbac-operator.log",
            extra_env={"DDMSP_PARTNER_SECRET": f"{op.namespace}/partner"})
        op.start()
        op.apply("datadogclientorgs", {"kind": "DatadogClientOrg", "metadata": {"name": "rbac"},
                                       "spec": {"displayName": "RBAC Co"}})
        op.wait_condition("datadogclientorgs", "rbac", "Ready", timeout=90)
        assert any(e.reason == "Created" for e in op.events("rbac"))  # events allowed too
        log = op.process.log()
        # A refusal reads "(403)" and "Forbidden"/"is forbidden" (kubernetes client, kopf);
        # a bare "403" also turns up inside key IDs and timestamps.
        assert "(403)" not in log and "forbidden" not in log.lower(), log[-2000:]
    finally:
        subprocess.run([str(op.cluster.bin_dir / "helm"), "uninstall", release, "--namespace",
                        op.namespace, "--kubeconfig", str(op.cluster.kubeconfig)],
                       capture_output=True, timeout=120)
