"""/metrics is for those allowed to read it: the operator, installed by the chart and running
with the chart's ServiceAccount token, serves HTTPS and asks the real API server who the
caller is (TokenReview) and whether it may get /metrics (SubjectAccessReview)."""

from __future__ import annotations

import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.conftest import Operator
from tests.support.kube import REPO_ROOT, Cluster, serviceaccount_kubeconfig, unique_name
from tests.support.operator import OperatorProcess, wait_for

pytestmark = pytest.mark.kube


def sa_token(api: client.ApiClient, namespace: str, name: str) -> str:
    core = client.CoreV1Api(api)
    try:
        core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name)))
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    return str(core.create_namespaced_service_account_token(
        name, namespace, client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))).status.token)


def scrape(port: int, token: str | None) -> tuple[int, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # self-signed at start
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"https://127.0.0.1:{port}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def review_requests(cluster: Cluster) -> float:
    """TokenReviews and SubjectAccessReviews the API server has answered (its /metrics)."""
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("apiserver_request_total{") and 'verb="POST"' in line
               and ('resource="tokenreviews"' in line
                    or 'resource="subjectaccessreviews"' in line))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_served_only_to_the_metrics_reader(operator: Operator, tmp_path: Path) -> None:
    op = operator
    if op.cluster.bin_dir is None:
        pytest.skip("helm comes from hack/build-binaries")
    release = unique_name("met")
    helm = str(op.cluster.bin_dir / "helm")
    subprocess.run(
        [helm, "install", release, str(REPO_ROOT / "helm" / "ddmsp"),
         "--namespace", op.namespace, "--kubeconfig", str(op.cluster.kubeconfig),
         "--set", "partnerCredentials.existingSecret=partner", "--skip-crds",
         "--set", f"watchNamespaces={{{op.namespace}}}",
         "--set", "metrics.readerSubjects[0].kind=ServiceAccount",
         "--set", "metrics.readerSubjects[0].name=scraper"],
        check=True, capture_output=True, text=True, timeout=120)
    try:
        reader = sa_token(op.api, op.namespace, "scraper")
        stranger = sa_token(op.api, op.namespace, "stranger")
        port = free_port()
        kubeconfig = serviceaccount_kubeconfig(op.cluster, op.namespace, f"{release}-ddmsp",
                                               tmp_path / "sa-kubeconfig")
        op.process = OperatorProcess(
            kubeconfig, op.sim.base_url, [op.namespace], tmp_path / "metrics-operator.log",
            extra_env={"DDMSP_PARTNER_SECRET": f"{op.namespace}/partner"},
            extra_args=["--metrics-port", str(port), "--metrics-secure", "true"])
        op.start()
        op.apply("datadogclientorgs", {"kind": "DatadogClientOrg", "metadata": {"name": "m"},
                                       "spec": {"displayName": "Metered Co"}})
        op.wait_condition("datadogclientorgs", "m", "Ready", timeout=120)

        def served() -> tuple[int, str] | None:
            try:
                return scrape(port, reader)
            except OSError:
                return None

        status, body = wait_for(served, timeout=60, what="HTTPS /metrics")
        assert status == 200, op.process.log()[-2000:]
        assert 'ddmsp_object_ready{kind="DatadogClientOrg"' in body
        assert scrape(port, None)[0] == 401
        assert scrape(port, "not-a-token")[0] == 401
        assert scrape(port, stranger)[0] == 403
        reviews = review_requests(op.cluster)
        for _ in range(5):  # cached decisions: scrapes cost the API server nothing
            assert scrape(port, reader)[0] == 200
        assert review_requests(op.cluster) == reviews > 0
        with pytest.raises(OSError):  # plain HTTP is not spoken on the port
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
        log = op.process.log()
        assert reader not in log and stranger not in log
        assert "metrics authorisation failed" not in log, log[-2000:]  # RBAC enough
    finally:
        subprocess.run([helm, "uninstall", release, "--namespace", op.namespace,
                        "--kubeconfig", str(op.cluster.kubeconfig)],
                       capture_output=True, timeout=120)
