"""Many similar clients: helm/ddmsp-client renders one client's org (with its settings and a
connection to the partner's org), standard roles and SAML config from a few values; three
clients (the ApplicationSet example's value files) are rendered, applied to the real control
plane and provisioned by the operator."""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.integration.conftest import Operator
from tests.support.kube import REPO_ROOT
from tests.support.samlmeta import metadata

pytestmark = pytest.mark.kube

CHART = REPO_ROOT / "helm" / "ddmsp-client"
CLIENTS = REPO_ROOT / "deploy" / "argocd" / "clients"


def render(op: Operator, values: Path) -> str:
    assert op.cluster.bin_dir is not None
    name = yaml.safe_load(values.read_text())["client"]["name"]
    out = subprocess.run([str(op.cluster.bin_dir / "helm"), "template", name, str(CHART),
                          "-f", str(values), "--namespace", op.namespace,
                          "--set", "partnerCredentialsSecret=partner"],  # the fixture's
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_three_clients_rendered_applied_and_ready(operator: Operator) -> None:
    op = operator
    if op.cluster.bin_dir is None:
        pytest.skip("helm comes from hack/build-binaries")
    files = sorted((CLIENTS / "clients").glob("*.yaml"))
    assert len(files) == 3
    core = client.CoreV1Api(op.api)
    names = []
    for values in files:
        name = yaml.safe_load(values.read_text())["client"]["name"]
        names.append(name)
        core.create_namespaced_config_map(op.namespace, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"{name}-idp-metadata",
                                         labels={"ddmsp.io/idp-metadata": "true"}),
            data={"metadata.xml": metadata(f"https://login.{name}.example/saml")}))
        manifest = render(op, values)
        docs = [d for d in yaml.safe_load_all(manifest) if d]
        assert sorted(d["kind"] for d in docs) == ["DatadogClientOrg", "DatadogRole",
                                                   "DatadogRole", "DatadogSAMLConfig"]
        op.cluster.kubectl("apply", "-n", op.namespace, "-f", "-", input=manifest)
    op.start()
    for name in names:
        op.wait_condition("datadogclientorgs", name, timeout=120)
        for role in ("sre", "developer"):
            op.wait_condition("datadogroles", f"{name}-{role}", timeout=90)
        op.wait_condition("datadogsamlconfigs", f"{name}-sso", timeout=90)
    orgs = {o["name"] for o in op.sim.state.snapshot()["orgs"]}
    assert {"Acme Corp", "Globex", "Initech"} <= orgs
    sso = op.get("datadogsamlconfigs", "globex-sso")
    assert sso["status"]["idp"]["entityId"] == "https://login.globex.example/saml"
    mapped = {m["attributeValue"] for m in sso["status"]["roleMappings"]}
    assert mapped == {"globex-sre", "globex-developer", "globex-everyone"}
    # acme's values set spec.settings and a connection to the partner's org
    op.wait_condition("datadogorgconnections", "acme-ops-connection", timeout=90)
    acme = op.get("datadogclientorgs", "acme")["status"]["clientOrg"]["publicId"]
    assert op.sim.state.org_config_value(acme, "monitor_timezone") == "Europe/Paris"
    (conn,) = [c for c in list(op.sim.state.connections.values()) if c.source == acme]
    assert sorted(conn.types) == ["logs", "metrics"]


def test_the_applicationset_reads_the_client_files() -> None:
    appset = yaml.safe_load((CLIENTS / "applicationset.yaml").read_text())
    (generator,) = appset["spec"]["generators"]
    pattern = generator["git"]["files"][0]["path"]
    files = [p.relative_to(CLIENTS).as_posix() for p in (CLIENTS / "clients").glob("*")]
    assert files and all(fnmatch.fnmatch(f, pattern) for f in files)
    chart_source, values_source = appset["spec"]["template"]["spec"]["sources"]
    assert (REPO_ROOT / chart_source["path"]).is_dir()
    assert chart_source["helm"]["valueFiles"] == ["$values/clients/{{ .client.name }}.yaml"]
    assert values_source["ref"] == "values"
    assert appset["spec"]["template"]["spec"]["syncPolicy"]["automated"]["prune"] is False


def test_client_chart_refuses_typos_and_missing_names(tmp_path: Path) -> None:
    from tests.support.kube import build_binaries

    helm = str(build_binaries() / "helm")
    bad = subprocess.run([helm, "template", "x", str(CHART), "--set", "client.name=x",
                          "--set", "client.displayName=X", "--set", "saml.metadataInline=<x/>",
                          "--set", "client.dispalyName=X"], capture_output=True, text=True)
    assert bad.returncode != 0 and "additional properties" in bad.stderr
    missing = subprocess.run([helm, "template", "x", str(CHART)], capture_output=True,
                             text=True)
    assert missing.returncode != 0
    ok = subprocess.run([helm, "lint", "--strict", str(CHART), "-f",
                         str(CLIENTS / "clients" / "acme.yaml")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
