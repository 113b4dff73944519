"""The chart's two RBAC modes, installed with `helm install` on the real control plane: the
org + role + SAML scenario runs under the chart's own ServiceAccount token, `/readyz`
turns ready, and `kubectl auth can-i` shows what that identity cannot do. Sharding: two
releases with disjoint namespaces; a namespace claimed twice is refused; `helm upgrade`."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.integration.conftest import Operator, put_secret
from tests.support.kube import REPO_ROOT, Cluster, serviceaccount_kubeconfig, unique_name
from tests.support.operator import OperatorProcess, wait_for
from tests.support.samlmeta import metadata

pytestmark = pytest.mark.kube

CHART = REPO_ROOT / "helm" / "ddmsp"


def helm(cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if cluster.bin_dir is None:
        pytest.skip("helm comes from hack/build-binaries")
    out = subprocess.run([str(cluster.bin_dir / "helm"), *args, "--kubeconfig",
                          str(cluster.kubeconfig)], capture_output=True, text=True, timeout=120)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@contextlib.contextmanager
def release(cluster: Cluster, name: str, namespace: str, *sets: str) -> Iterator[str]:
    args = ["install", name, str(CHART), "--namespace", namespace, "--skip-crds"]
    for s in sets:
        args += ["--set", s]
    helm(cluster, *args)
    try:
        yield name
    finally:
        helm(cluster, "uninstall", name, "--namespace", namespace, check=False)


def make_namespace(api: client.ApiClient, prefix: str) -> str:
    name = unique_name(prefix)
    client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def can_i(cluster: Cluster, sa: str, *args: str) -> str:
    out = cluster.kubectl("auth", "can-i", *args, f"--as={sa}", check=False)
    return out.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def readyz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def run_scenario(op: Operator, kubeconfig: Path, log: Path) -> None:
    """Org, role and SAML config (metadata in a labelled Secret, changed once) under the
    given identity; `/readyz` is green once the watches run."""
    port = free_port()
    op.process = OperatorProcess(
        kubeconfig, op.sim.base_url, [op.namespace], log,
        extra_env={"DDMSP_PARTNER_SECRET": f"{op.namespace}/partner",
                   "DDMSP_READINESS_PORT": str(port), "DDMSP_METADATA_POLL": "3600",
                   "POD_NAMESPACE": op.namespace})  # the release's namespace, as in the pod
    op.start()
    wait_for(lambda: readyz(port)[0] == 200, timeout=60, what="/readyz 200")
    put_secret(op.api, op.namespace, "idp", {"xml": metadata()})
    client.CoreV1Api(op.api).patch_namespaced_secret(
        "idp", op.namespace, {"metadata": {"labels": {"ddmsp.io/idp-metadata": "true"}}})
    op.apply("datadogclientorgs", {"kind": "DatadogClientOrg", "metadata": {"name": "acme"},
                                   "spec": {"displayName": "Acme"}})
    op.apply("datadogroles", {"kind": "DatadogRole", "metadata": {"name": "ops"},
                              "spec": {"orgRef": {"name": "acme"},
                                       "permissions": ["monitors_write"]}})
    op.apply("datadogsamlconfigs", {
        "kind": "DatadogSAMLConfig", "metadata": {"name": "sso"},
        "spec": {"orgRef": {"name": "acme"}, "enabled": True,
                 "idpMetadata": {"secretKeyRef": {"name": "idp", "key": "xml"}},
                 "roleMappings": [{"attributeKey": "group", "attributeValue": "ops",
                                   "roleRef": {"name": "ops"}}]}})
    for plural, name in (("datadogclientorgs", "acme"), ("datadogroles", "ops"),
                         ("datadogsamlconfigs", "sso")):
        op.wait_condition(plural, name, timeout=90)
    # A labelled source is watched: the change is noticed although polling is off (1 h).
    put_secret(op.api, op.namespace, "idp", {"xml": metadata("https://idp.example.com/new")})
    client.CoreV1Api(op.api).patch_namespaced_secret(
        "idp", op.namespace, {"metadata": {"labels": {"ddmsp.io/idp-metadata": "true"}}})
    wait_for(lambda: op.get("datadogsamlconfigs", "sso")["status"]["idp"]["entityId"]
             == "https://idp.example.com/new", timeout=30, what="labelled Secret change")
    text = op.process.log()
    # A status code stands alone: IDs such as UUIDs may contain the digits 403.
    denied = re.search(r"\b403\b|Forbidden", text)
    if denied is not None:
        pytest.fail(text[max(0, denied.start() - 1500):denied.end() + 1500])


def record(mode: str, answers: dict[str, str]) -> None:
    """The `kubectl auth can-i` answers, as evidence in the test's captured output (shown
    with -s or on failure); nothing is written into the source tree."""
    print(json.dumps({"can-i": {mode: answers}}, indent=2))


def test_namespaced_mode_runs_the_scenario_and_can_do_nothing_else(
        operator: Operator, tmp_path: Path) -> None:
    op = operator
    other = make_namespace(op.api, "unwatched")
    put_secret(op.api, other, "someone-elses", {"password": "hunter2"})
    name = unique_name("ns")
    with release(op.cluster, name, op.namespace, f"watchNamespaces={{{op.namespace}}}",
                 "partnerCredentials.existingSecret=partner"):
        sa = f"system:serviceaccount:{op.namespace}:{name}-ddmsp"
        kubeconfig = serviceaccount_kubeconfig(op.cluster, op.namespace, f"{name}-ddmsp",
                                               tmp_path / "sa")
        run_scenario(op, kubeconfig, tmp_path / "op.log")
        answers = {
            f"get secret someone-elses -n {other}": can_i(
                op.cluster, sa, "get", "secret/someone-elses", "-n", other),
            "list secrets --all-namespaces": can_i(op.cluster, sa, "list", "secrets", "-A"),
            f"list secrets -n {other}": can_i(op.cluster, sa, "list", "secrets", "-n", other),
            f"list datadogclientorgs -n {other}": can_i(
                op.cluster, sa, "list", "datadogclientorgs.ddmsp.io", "-n", other),
            f"delete secrets -n {op.namespace}": can_i(
                op.cluster, sa, "delete", "secrets", "-n", op.namespace),
            "list customresourcedefinitions": can_i(
                op.cluster, sa, "list", "customresourcedefinitions.apiextensions.k8s.io"),
            f"watch secrets -n {op.namespace}": can_i(
                op.cluster, sa, "watch", "secrets", "-n", op.namespace),
        }
        record("namespaced", answers)
        assert answers[f"get secret someone-elses -n {other}"] == "no"
        assert answers["list secrets --all-namespaces"] == "no"
        assert answers[f"list secrets -n {other}"] == "no"
        assert answers[f"list datadogclientorgs -n {other}"] == "no"
        assert answers[f"delete secrets -n {op.namespace}"] == "no"
        assert answers["list customresourcedefinitions"] == "yes"
        assert answers[f"watch secrets -n {op.namespace}"] == "yes"
        # Under this identity the Secret in the unwatched namespace is really unreadable.
        with pytest.raises(client.ApiException) as err:
            client.CoreV1Api(op.cluster.__class__(kubeconfig, None, False).api_client()) \
                .read_namespaced_secret("someone-elses", other)
        assert err.value.status == 403
    client.CoreV1Api(op.api).delete_namespace(other)


def test_cluster_mode_runs_the_scenario_and_cannot_delete_or_escalate(
        operator: Operator, tmp_path: Path) -> None:
    op = operator
    name = unique_name("cl")
    with release(op.cluster, name, op.namespace, "partnerCredentials.existingSecret=partner"):
        sa = f"system:serviceaccount:{op.namespace}:{name}-ddmsp"
        kubeconfig = serviceaccount_kubeconfig(op.cluster, op.namespace, f"{name}-ddmsp",
                                               tmp_path / "sa")
        run_scenario(op, kubeconfig, tmp_path / "op.log")
        answers = {
            "list secrets --all-namespaces": can_i(op.cluster, sa, "list", "secrets", "-A"),
            "delete secrets --all-namespaces": can_i(op.cluster, sa, "delete", "secrets", "-A"),
            "update secrets --all-namespaces": can_i(op.cluster, sa, "update", "secrets", "-A"),
            "create pods -n default": can_i(op.cluster, sa, "create", "pods", "-n", "default"),
            "list nodes": can_i(op.cluster, sa, "list", "nodes"),
            "create clusterrolebindings": can_i(op.cluster, sa, "create",
                                                "clusterrolebindings"),
            "delete datadogclientorgs --all-namespaces": can_i(
                op.cluster, sa, "delete", "datadogclientorgs.ddmsp.io", "-A"),
        }
        record("cluster", answers)
        assert answers["list secrets --all-namespaces"] == "yes"  # labelled sources only
        assert all(v == "no" for k, v in answers.items() if k != "list secrets --all-namespaces")


def test_two_shards_stay_apart_and_a_doubly_claimed_namespace_is_refused(
        operator: Operator, tmp_path: Path) -> None:
    op = operator
    ns_b = make_namespace(op.api, "shard-b")
    put_secret(op.api, ns_b, "partner", {"api-key": op.sim.partner_api_key,
                                         "app-key": op.sim.partner_app_key})
    a, b = unique_name("sa"), unique_name("sb")
    with release(op.cluster, a, op.namespace, f"watchNamespaces={{{op.namespace}}}",
                 "partnerCredentials.existingSecret=partner"), \
            release(op.cluster, b, ns_b, f"watchNamespaces={{{ns_b}}}",
                    "partnerCredentials.existingSecret=partner"):
        # A third release claiming A's namespace, or all of them, is refused.
        refused = helm(op.cluster, "install", unique_name("sc"), str(CHART), "--namespace",
                       ns_b, "--skip-crds", "--set", f"watchNamespaces={{{op.namespace}}}",
                       check=False)
        assert refused.returncode != 0
        assert f"namespace {op.namespace} is already watched by ddmsp release " \
               f"{op.namespace}.{a}" in refused.stderr
        everything = helm(op.cluster, "install", unique_name("sc"), str(CHART), "--namespace",
                          ns_b, "--skip-crds", check=False)
        assert everything.returncode != 0 and "cluster-mode release" in everything.stderr
        # Nor may B grow into A's namespace on upgrade.
        grow = helm(op.cluster, "upgrade", b, str(CHART), "--namespace", ns_b, "--skip-crds",
                    "--set", f"watchNamespaces={{{ns_b},{op.namespace}}}", check=False)
        assert grow.returncode != 0 and "already watched" in grow.stderr

        procs = []
        for rel, ns in ((a, op.namespace), (b, ns_b)):
            kc = serviceaccount_kubeconfig(op.cluster, ns, f"{rel}-ddmsp", tmp_path / rel)
            procs.append(OperatorProcess(
                kc, op.sim.base_url, [ns], tmp_path / f"{rel}.log",
                extra_env={"DDMSP_PARTNER_SECRET": f"{ns}/partner",
                           "POD_NAMESPACE": ns}).start())
        objects = client.CustomObjectsApi(op.api)
        try:
            for ns, org in ((op.namespace, "org-a"), (ns_b, "org-b")):
                objects.create_namespaced_custom_object(
                    "ddmsp.io", "v1alpha1", ns, "datadogclientorgs",
                    {"apiVersion": "ddmsp.io/v1alpha1", "kind": "DatadogClientOrg",
                     "metadata": {"name": org}, "spec": {"displayName": org}})
            op.wait_condition("datadogclientorgs", "org-a", timeout=90)

            def b_ready() -> bool:
                st = objects.get_namespaced_custom_object(
                    "ddmsp.io", "v1alpha1", ns_b, "datadogclientorgs", "org-b").get("status")
                return any(c["type"] == "Ready" and c["status"] == "True"
                           for c in (st or {}).get("conditions", []))
            wait_for(b_ready, timeout=90, what="org-b Ready")
        finally:
            for p in procs:
                p.stop()
        log_a, log_b = procs[0].log(), procs[1].log()
        assert "org-b" not in log_a and ns_b not in log_a
        assert "org-a" not in log_b and op.namespace not in log_b
        sa_a = f"system:serviceaccount:{op.namespace}:{a}-ddmsp"
        assert can_i(op.cluster, sa_a, "get", "datadogclientorgs.ddmsp.io", "-n", ns_b) == "no"
        # The upgrade that stays in its own lane works and changes the Deployment.
        helm(op.cluster, "upgrade", b, str(CHART), "--namespace", ns_b, "--skip-crds",
             "--reuse-values", "--set", "workerLimit=16")
        deploy = client.AppsV1Api(op.api).read_namespaced_deployment(f"{b}-ddmsp", ns_b)
        env = {e.name: e.value for e in deploy.spec.template.spec.containers[0].env}
        assert env["DDMSP_WORKER_LIMIT"] == "16"
    client.CoreV1Api(op.api).delete_namespace(ns_b)
