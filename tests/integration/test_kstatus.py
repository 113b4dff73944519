"""Health as GitOps tools compute it, over real objects in each phase: kstatus
(sigs.k8s.io/cli-utils, what Flux's `wait: true` and kubectl-style waits use) reads Current
only when Ready; Argo CD's health.lua (run by gopher-lua) reads Healthy, Progressing,
Degraded and Suspended. Both run from `ddmsp-health`, built by hack/build-binaries.

With DDMSP_WRITE_ARGOCD_TESTDATA=1 the captured objects are written into
deploy/argocd/resource_customizations/ddmsp.io/<Kind>/testdata/ (the Lua unit tests'
inputs are real operator output)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.integration.conftest import GROUP, VERSION, Operator
from tests.support.kube import REPO_ROOT, Cluster, unique_name
from tests.support.operator import wait_for
from tests.support.samlmeta import MALFORMED, metadata

pytestmark = pytest.mark.kube

CUSTOMIZATIONS = REPO_ROOT / "deploy" / "argocd" / "resource_customizations" / "ddmsp.io"
SCRIPT = REPO_ROOT / "deploy" / "argocd" / "health.lua"


def tool(cluster: Cluster) -> Path:
    if cluster.bin_dir is None or not (cluster.bin_dir / "ddmsp-health").exists():
        pytest.skip("ddmsp-health comes from hack/build-binaries")
    return cluster.bin_dir / "ddmsp-health"


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as `kubectl get -o yaml` shows it, minus noise (managedFields, uids)."""
    meta = obj["metadata"]
    for key in ("managedFields", "uid", "resourceVersion", "creationTimestamp",
                "namespace", "finalizers"):
        meta.pop(key, None)
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items()
                           if not k.startswith("kopf.")} or None
    if meta["annotations"] is None:
        del meta["annotations"]
    return obj


def evaluate(cluster: Cluster, tmp: Path, captured: dict[str, dict[str, Any]]
             ) -> dict[str, tuple[str, str, str]]:
    """phase -> (kstatus status, Argo CD status, Argo CD message)."""
    paths = []
    for phase, obj in captured.items():
        path = tmp / f"{phase}.yaml"
        path.write_text(yaml.safe_dump(obj))
        paths.append(str(path))
    ks = json.loads(subprocess.run([str(tool(cluster)), "kstatus", *paths], check=True,
                                   capture_output=True, text=True).stdout)
    argo = json.loads(subprocess.run([str(tool(cluster)), "lua", str(SCRIPT), *paths],
                                     check=True, capture_output=True, text=True).stdout)
    return {phase: (k["status"], a["status"], a.get("message", ""))
            for phase, k, a in zip(captured, ks, argo, strict=True)}


@pytest.fixture
def partners(api: client.ApiClient) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        with contextlib.suppress(client.ApiException):
            client.CustomObjectsApi(api).delete_cluster_custom_object(
                GROUP, VERSION, "datadogpartners", name)


def test_every_phase_under_kstatus_and_argocd(operator: Operator, tmp_path: Path,
                                               partners: list[str]) -> None:
    op = operator
    objects = client.CustomObjectsApi(op.api)
    captured: dict[str, dict[str, Any]] = {}

    def grab(phase: str, plural: str, name: str) -> None:
        captured[phase] = clean(op.get(plural, name))

    # Created while no operator runs: no status at all.
    op.apply("datadogroles", {"kind": "DatadogRole", "metadata": {"name": "ops"},
                              "spec": {"orgRef": {"name": "acme"},
                                       "permissions": ["monitors_write"]}})
    grab("role-new", "datadogroles", "ops")
    op.start()
    # Waiting for its org: Progressing with the operator's message.
    op.wait_condition("datadogroles", "ops", status="False", timeout=30)
    grab("role-waiting", "datadogroles", "ops")
    op.apply("datadogclientorgs", {"kind": "DatadogClientOrg", "metadata": {"name": "acme"},
                                   "spec": {"displayName": "Acme"}})
    op.wait_condition("datadogclientorgs", "acme", timeout=60)
    grab("org-ready", "datadogclientorgs", "acme")
    op.wait_condition("datadogroles", "ops", timeout=60)
    grab("role-ready", "datadogroles", "ops")
    op.apply("datadogsamlconfigs", {
        "kind": "DatadogSAMLConfig", "metadata": {"name": "sso"},
        "spec": {"orgRef": {"name": "acme"}, "idpMetadata": {"inline": metadata()}}})
    op.wait_condition("datadogsamlconfigs", "sso", timeout=60)
    grab("saml-ready", "datadogsamlconfigs", "sso")
    # one SAML configuration per org: the ready one goes before the broken one comes
    op.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", op.namespace,
                                               "datadogsamlconfigs", "sso")
    wait_for(lambda: not any(o["metadata"]["name"] == "sso" for o in op.objects.
                             list_namespaced_custom_object("ddmsp.io", "v1alpha1", op.namespace,
                                                           "datadogsamlconfigs")["items"]),
             what="sso deleted")
    op.apply("datadogsamlconfigs", {
        "kind": "DatadogSAMLConfig", "metadata": {"name": "bad"},
        "spec": {"orgRef": {"name": "acme"}, "idpMetadata": {"inline": MALFORMED}}})
    op.wait_condition("datadogsamlconfigs", "bad", "Stalled", timeout=60)
    grab("saml-stalled", "datadogsamlconfigs", "bad")
    op.apply("datadogusers", {
        "kind": "DatadogUser", "metadata": {"name": "alice"},
        "spec": {"orgRef": {"name": "acme"}, "email": "alice@example.com",
                 "roles": [{"roleRef": "ops"}]}})
    op.wait_condition("datadogusers", "alice", timeout=60)
    grab("user-ready", "datadogusers", "alice")
    op.patch("datadogclientorgs", "acme",
             {"metadata": {"annotations": {"ddmsp.io/paused": "true"}}})
    wait_for(lambda: op.get("datadogclientorgs", "acme")["status"].get("phase") == "Paused",
             timeout=30, what="org paused")
    grab("org-paused", "datadogclientorgs", "acme")
    # A cluster-scoped DatadogPartner: same conditions.
    name = unique_name("p")
    partners.append(name)
    objects.create_cluster_custom_object(GROUP, VERSION, "datadogpartners", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogPartner",
        "metadata": {"name": name},
        "spec": {"credentialsSecretRef": {"namespace": op.namespace, "name": "partner"},
                 "allowedNamespaces": [op.namespace]}})

    def partner_ready() -> dict[str, Any] | None:
        body = objects.get_cluster_custom_object(GROUP, VERSION, "datadogpartners", name)
        conds = (body.get("status") or {}).get("conditions") or []
        ok = any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
        return body if ok else None
    captured["partner-ready"] = clean(wait_for(partner_ready, timeout=60, what="partner"))
    captured["partner-ready"]["metadata"]["name"] = "partner"
    # A spec change the operator has not seen yet (it is stopped).
    op.process.stop()
    op.patch("datadogroles", "ops", {"spec": {"permissions": ["monitors_read"]}})
    grab("role-unobserved", "datadogroles", "ops")

    result = evaluate(op.cluster, tmp_path, captured)
    expected = {
        "role-new": ("InProgress", "Progressing"),  # the CRD defaults observedGeneration: 0
        "role-waiting": ("InProgress", "Progressing"),
        "org-ready": ("Current", "Healthy"),
        "role-ready": ("Current", "Healthy"),
        "saml-ready": ("Current", "Healthy"),
        "saml-stalled": ("Failed", "Degraded"),
        "org-paused": ("Current", "Suspended"),  # still Ready: kstatus knows no pause
        "partner-ready": ("Current", "Healthy"),
        "user-ready": ("Current", "Healthy"),
        "role-unobserved": ("InProgress", "Progressing"),
    }
    assert {k: v[:2] for k, v in result.items()} == expected, result
    # Current only when Ready=True, including before the operator wrote any status.
    for phase, (ks, _, _) in result.items():
        conds = captured[phase].get("status", {}).get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
        assert ks != "Current" or ready, phase
    # Progressing carries the operator's own message.
    waiting = next(c for c in captured["role-waiting"]["status"]["conditions"]
                   if c["type"] == "Ready")
    assert result["role-waiting"][2] == waiting["message"]
    stalled = next(c for c in captured["saml-stalled"]["status"]["conditions"]
                   if c["type"] == "Stalled")
    assert result["saml-stalled"][2] == stalled["message"]

    if os.environ.get("DDMSP_WRITE_ARGOCD_TESTDATA") == "1":
        for phase, obj in captured.items():
            kind_dir = CUSTOMIZATIONS / obj["kind"] / "testdata"
            kind_dir.mkdir(parents=True, exist_ok=True)
            (kind_dir / f"{phase}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))


def test_a_new_object_without_status_is_not_current(cluster: Cluster, namespace: str,
                                                     crds: None, tmp_path: Path) -> None:
    objects = client.CustomObjectsApi(cluster.api_client())
    body = objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "datadogroles", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogRole", "metadata": {"name": "r"},
        "spec": {"orgRef": {"name": "acme"}, "permissions": ["monitors_read"]}})
    result = evaluate(cluster, tmp_path, {"new": clean(body)})
    assert result["new"][1] == "Progressing"
    assert result["new"][0] != "Current"
