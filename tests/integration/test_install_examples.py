"""docs/install.md as a new user follows it: the partner Secret and `helm install` with the
documented values, then `kubectl -n client-acme apply -f examples/` with no other step. The
operator runs as the chart's Deployment would (its ServiceAccount token, its rendered
environment; no kubelet here, so as a process watching the examples' namespace) against the
simulator (`datadogUrl`, the only value added to the documented ones)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import GROUP, VERSION
from tests.support.chart import chart_operator, helm
from tests.support.kube import REPO_ROOT, Cluster, unique_name
from tests.support.operator import refusals_in, wait_for

pytestmark = pytest.mark.kube

READY = {"datadogclientorgs": ["acme"], "datadogroles": ["acme-sre"],
         "datadogsamlconfigs": ["acme-sso"], "datadogusers": ["acme-oncall"]}


def ready_condition(api: client.ApiClient, ns: str, plural: str, name: str
                    ) -> dict[str, str] | None:
    obj = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, ns, plural, name)
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c["type"] == "Ready"), None)


def test_examples_converge_after_the_documented_install(
        cluster: Cluster, api: client.ApiClient, namespace: str, crds: None,
        sim: RunningSimulator, tmp_path: Path) -> None:
    if cluster.bin_dir is None:
        pytest.skip("helm comes from hack/build-binaries")
    system, clients = namespace, unique_name("client-acme")  # ddmsp-system, client-acme
    cluster.kubectl("-n", system, "create", "secret", "generic", "datadog-partner",
                    f"--from-literal=api-key={sim.partner_api_key}",
                    f"--from-literal=app-key={sim.partner_app_key}")
    release = unique_name("ddmsp")
    installed = helm(cluster, "install", release, str(REPO_ROOT / "helm" / "ddmsp"),
                     "-n", system, "--skip-crds",  # the session installed these CRDs
                     "--set", "partnerCredentials.existingSecret=datadog-partner",
                     "--set", "partnerCredentials.allowedNamespaces={*}",
                     "--set", f"datadogUrl={sim.base_url}")
    try:
        notes = installed.stdout
        assert "kubectl -n client-acme apply -f examples/" in notes, notes
        assert f"{system}/datadog-partner" in notes
        cluster.kubectl("create", "namespace", clients)
        applied = cluster.kubectl("-n", clients, "apply", "-f", str(REPO_ROOT / "examples"))
        assert "datadogclientorg.ddmsp.io/acme created" in applied.stdout
        op = chart_operator(cluster, release, system, [clients], sim.base_url, tmp_path)
        op.start()
        try:
            for plural, names in READY.items():
                for name in names:
                    wait_for(lambda p=plural, n=name: (c := ready_condition(api, clients, p, n))
                             and c["status"] == "True", timeout=180,
                             what=f"{plural}/{name} Ready; log:\n{op.log()[-3000:]}")
            wait_for(lambda: (c := ready_condition(api, clients, "datadogclientorgs",
                                                   "globex"))
                     and c["reason"] == "AwaitingRegistration", timeout=120,
                     what="globex waits for the partner's DPN registration")
            conditions = [ready_condition(api, clients, p, n)
                          for p in READY for n in READY[p]]
            assert all(c and c["reason"] != "CredentialsMissing" for c in conditions)
            log = op.log()
            assert not refusals_in(log), f"{refusals_in(log)} in the operator log:\n{log[-3000:]}"
        finally:
            op.stop()
    finally:
        helm(cluster, "uninstall", release, "-n", system, check=False)
        cluster.kubectl("delete", "namespace", clients, "--wait=false", check=False)
