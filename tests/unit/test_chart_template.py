"""`helm template` of helm/ddmsp: every value that changes the output is checked here, the
schema refuses typos, and the chart agrees with the code (kinds in RBAC, env variables the
operator reads, metric names the alerts use)."""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from ddmsp import metrics
from ddmsp.config import _ENV
from ddmsp.resources import ALL_KINDS
from tests.support.kube import REPO_ROOT, build_binaries

CHART = REPO_ROOT / "helm" / "ddmsp"


@functools.cache
def helm() -> Path:
    return build_binaries() / "helm"


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm()), *args], capture_output=True, text=True, timeout=60)


def render(*sets: str, release: str = "r", namespace: str = "ops",
           strings: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    args = ["template", release, str(CHART), "--namespace", namespace]
    for s in sets:
        args += ["--set", s]
    for s in strings:
        args += ["--set-string", s]
    out = run_helm(*args)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deploy,) = of_kind(docs, "Deployment")
    return dict(deploy["spec"]["template"]["spec"]["containers"][0])


def pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deploy,) = of_kind(docs, "Deployment")
    return dict(deploy["spec"]["template"]["spec"])


def env(docs: list[dict[str, Any]]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(docs)["env"]}


def test_helm_lint_is_clean() -> None:
    out = run_helm("lint", "--strict", str(CHART))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout


@pytest.mark.parametrize("typo", ["watchNamspaces={a}", "image.tga=x", "metrics.prot=1",
                                  "networkPolicy.enable=true", "resources.limit.memory=1Gi"])
def test_a_typo_in_values_fails(typo: str) -> None:
    out = run_helm("template", "r", str(CHART), "--set", typo)
    assert out.returncode != 0
    assert "additional properties" in out.stderr


@pytest.mark.parametrize("bad", ["workerLimit=0", "image.pullPolicy=Sometimes",
                                 "watchNamespaces={Bad_NS}", "metrics.port=70000",
                                 "image.digest=latest", "metrics.prometheusRule.stalledFor=soon",
                                 "extraEnv[0].name=X,extraEnv[0].value=10"])
def test_wrong_types_and_ranges_fail(bad: str) -> None:
    assert run_helm("template", "r", str(CHART), "--set", bad).returncode != 0


def test_defaults_cluster_mode_restricted_pod_and_probes() -> None:
    docs = render()
    kinds = sorted(d["kind"] for d in docs)
    # operator: discovery + cluster-mode rules + metrics auth; users: view, edit,
    # cluster-view (aggregated) and metrics-reader
    assert kinds == ["ClusterRole"] * 7 + ["ClusterRoleBinding"] * 3 + [
        "Deployment", "Role", "RoleBinding", "ServiceAccount"]
    (lease_role,) = of_kind(docs, "Role")  # leader election: Leases in its own namespace
    assert lease_role["metadata"]["name"].endswith("-leader-election")
    assert lease_role["rules"] == [{"apiGroups": ["coordination.k8s.io"],
                                    "resources": ["leases"],
                                    "verbs": ["get", "create", "update"]},
                                   {"apiGroups": [""], "resources": ["secrets"],  # key escrow
                                    "verbs": ["get", "list", "create", "patch"]},
                                   {"apiGroups": ["", "events.k8s.io"],  # DatadogPartners'
                                    "resources": ["events"], "verbs": ["create", "patch"]}]
    assert env(docs)["DDMSP_LEADER_ELECTION_ID"] == lease_role["metadata"]["name"].removesuffix(
        "-leader-election")
    (deploy,) = of_kind(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"]["type"] == "Recreate"
    c = container(docs)
    assert c["args"] == ["run"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ready"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["securityContext"] == {"allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                    "capabilities": {"drop": ["ALL"]}}
    p = pod(docs)
    assert p["securityContext"]["runAsUser"] == 10001
    assert p["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "priorityClassName" not in p and "imagePullSecrets" not in p
    assert c["image"] == "ddmsp:0.1.0"
    assert env(docs)["DDMSP_READINESS_PORT"] == "8081"
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]


# ClusterRoles for people and Prometheus, and the operator's TokenReview/SAR rights: not
# the operator's rules on its kinds.
NOT_OPERATOR_RULES = ("-view", "-edit", "-cluster-view", "-metrics-reader", "-metrics-auth")


def discovery(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (role,) = [r for r in of_kind(docs, "ClusterRole")
               if r["metadata"]["name"].endswith("-discovery")]
    return role


def rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]}


def test_rbac_covers_every_kind_the_operator_serves() -> None:
    for mode in ((), ("watchNamespaces={a}",)):
        docs = render(*mode)
        (cluster,) = [r for r in of_kind(docs, "ClusterRole")
                      if r["metadata"]["name"].endswith("-discovery")]
        ops = [r for r in of_kind(docs, "ClusterRole") + of_kind(docs, "Role")
               if r is not cluster and not r["metadata"]["name"].endswith(
                   ("-credentials", "-leader-election", *NOT_OPERATOR_RULES))]
        for info in ALL_KINDS:
            holders = [cluster] if info.scope == "Cluster" else ops
            for role in holders:
                granted = rules(role)
                assert (info.group, info.plural, "watch") in granted, (mode, info.plural)
                assert (info.group, f"{info.plural}/status", "patch") in granted
        for role in ops:
            assert ("", "secrets", "delete") not in rules(role)  # never deletes a Secret


def test_namespaced_mode_roles_only() -> None:
    docs = render("watchNamespaces={team-a,team-b}")
    cluster_role = discovery(docs)
    assert {r["metadata"]["name"] for r in of_kind(docs, "ClusterRole")} == {
        "r-ddmsp-discovery", *(f"r-ddmsp{suffix}" for suffix in NOT_OPERATOR_RULES)}
    assert {(g, r) for g, r, _ in rules(cluster_role)} == {
        ("apiextensions.k8s.io", "customresourcedefinitions"), ("", "namespaces"),
        ("ddmsp.io", "datadogpartners"), ("ddmsp.io", "datadogpartners/status")}
    assert not {v for _, r, v in rules(cluster_role) if r != "datadogpartners"} - {
        "get", "list", "watch", "patch", "update"}
    assert cluster_role["metadata"]["labels"]["ddmsp.io/mode"] == "namespaced"
    roles = [r for r in of_kind(docs, "Role")
             if not r["metadata"]["name"].endswith("-leader-election")]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert all(r["metadata"]["labels"]["ddmsp.io/claim"] == "true" for r in roles)
    bindings = of_kind(docs, "RoleBinding")
    assert all(b["subjects"][0] == {"kind": "ServiceAccount", "name": "r-ddmsp",
                                    "namespace": "ops"} for b in bindings)
    assert container(docs)["args"] == ["run", "--namespace=team-a", "--namespace=team-b"]


def test_partner_credentials_secret_readable_by_name_only() -> None:
    docs = render("watchNamespaces={team-a}", "partnerCredentials.existingSecret=partner")
    assert env(docs)["DDMSP_PARTNER_SECRET"] == "ops/partner"
    role = next(r for r in of_kind(docs, "Role") if r["metadata"]["namespace"] == "ops"
                and not r["metadata"]["name"].endswith("-leader-election"))
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"],
                              "resourceNames": ["partner"], "verbs": ["get"]}]
    assert "DDMSP_DEFAULT_PARTNER_NAMESPACES" not in env(docs)
    docs = render("partnerCredentials.existingSecret=p", "partnerCredentials.namespace=keys",
                  "partnerCredentials.allowedNamespaces={team-a,team-b}")
    assert env(docs)["DDMSP_PARTNER_SECRET"] == "keys/p"
    assert env(docs)["DDMSP_DEFAULT_PARTNER_NAMESPACES"] == "team-a,team-b"
    # cluster mode reads it through the ClusterRole (the only Role: leader election)
    assert [r["metadata"]["name"] for r in of_kind(docs, "Role")] == ["r-ddmsp-leader-election"]


def test_extra_secrets_readable_by_name_in_namespaced_mode() -> None:
    docs = render("watchNamespaces={a}", "rbac.readSecrets[0].namespace=keys",
                  "rbac.readSecrets[0].name=partner-keys")
    (role,) = [r for r in of_kind(docs, "Role") if r["metadata"]["namespace"] == "keys"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"],
                              "resourceNames": ["partner-keys"], "verbs": ["get"]}]
    (binding,) = [b for b in of_kind(docs, "RoleBinding")
                  if b["metadata"]["namespace"] == "keys"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert not [r for r in of_kind(render("rbac.readSecrets[0].namespace=keys",
                                          "rbac.readSecrets[0].name=k"), "Role")
                if not r["metadata"]["name"].endswith("-leader-election")]


def test_sharded_releases_have_distinct_names() -> None:
    a = render("watchNamespaces={a}", release="shard-a")
    b = render("watchNamespaces={b}", release="shard-b")
    names_a = {(d["kind"], d["metadata"]["name"]) for d in a}
    names_b = {(d["kind"], d["metadata"]["name"]) for d in b}
    assert not names_a & names_b
    assert discovery(a)["metadata"]["labels"]["ddmsp.io/release"] == "ops.shard-a"


def test_pod_level_values() -> None:
    docs = render("image.repository=reg.example/ddmsp", "image.tag=1.2.3",
                  "imagePullSecrets[0].name=regcred", "priorityClassName=ops-critical",
                  "extraEnv[0].name=DDMSP_WAIT_POLL",
                  "podAnnotations.a=b", "podLabels.team=x", "nodeSelector.pool=ops",
                  "tolerations[0].key=k", "tolerations[0].operator=Exists",
                  "affinity.podAntiAffinity.x=y", "resources.limits.memory=1Gi",
                  "serviceAccount.name=custom", "serviceAccount.annotations.k=v",
                  "datadogUrl=http://proxy:8080", "driftIntervalSeconds=120",
                  "workerLimit=8", "metadataPollSeconds=30", "metrics.port=9100",
                  "probes.healthPort=8090", "probes.readinessPort=8091",
                  strings=("extraEnv[0].value=10",))
    p, c, e = pod(docs), container(docs), env(docs)
    assert c["image"] == "reg.example/ddmsp:1.2.3"
    assert p["imagePullSecrets"] == [{"name": "regcred"}]
    assert p["priorityClassName"] == "ops-critical"
    assert p["serviceAccountName"] == "custom"
    assert p["nodeSelector"] == {"pool": "ops"}
    assert p["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert p["affinity"] == {"podAntiAffinity": {"x": "y"}}
    (deploy,) = of_kind(docs, "Deployment")
    meta = deploy["spec"]["template"]["metadata"]
    assert meta["annotations"]["a"] == "b" and meta["labels"]["team"] == "x"
    assert meta["annotations"]["prometheus.io/port"] == "9100"
    assert c["resources"]["limits"]["memory"] == "1Gi"
    assert e["DDMSP_WAIT_POLL"] == "10" and e["DDMSP_DATADOG_URL"] == "http://proxy:8080"
    assert (e["DDMSP_DRIFT_INTERVAL"], e["DDMSP_WORKER_LIMIT"], e["DDMSP_METADATA_POLL"]) == \
        ("120", "8", "30")
    assert e["DDMSP_METRICS_PORT"] == "9100"
    assert e["DDMSP_LIVENESS"] == "http://0.0.0.0:8090/healthz"
    assert e["DDMSP_READINESS_PORT"] == "8091"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"health": 8090, "ready": 8091, "metrics": 9100}
    (sa,) = of_kind(docs, "ServiceAccount")
    assert sa["metadata"]["name"] == "custom" and sa["metadata"]["annotations"] == {"k": "v"}
    assert render("image.digest=sha256:" + "a" * 64)[-1]  # renders
    assert container(render("image.digest=sha256:" + "a" * 64))["image"] == \
        "ddmsp@sha256:" + "a" * 64


def test_rbac_and_serviceaccount_can_be_left_to_the_user() -> None:
    docs = render("rbac.create=false", "serviceAccount.create=false")
    assert sorted(d["kind"] for d in docs) == ["Deployment"]


def test_every_env_variable_the_chart_sets_is_read_by_the_operator() -> None:
    docs = render("partnerCredentials.existingSecret=p", "datadogUrl=http://x")
    # POD_NAMESPACE / POD_NAME come from the downward API: the Lease's namespace and holder
    assert set(env(docs)) - {"POD_NAMESPACE", "POD_NAME"} <= set(_ENV.values())


def test_network_policy() -> None:
    assert not of_kind(render(), "NetworkPolicy")
    docs = render("networkPolicy.enabled=true", "networkPolicy.apiServerCIDRs={10.96.0.1/32}",
                  "networkPolicy.datadogCIDRs={3.233.144.0/20}",
                  "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=mon")
    (np,) = of_kind(docs, "NetworkPolicy")
    spec = np["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    dns, api, datadog = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert api["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}]
    assert datadog == {"to": [{"ipBlock": {"cidr": "3.233.144.0/20"}}],
                       "ports": [{"protocol": "TCP", "port": 443}]}
    assert spec["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9090}]
    closed = of_kind(render("networkPolicy.enabled=true"), "NetworkPolicy")[0]["spec"]
    assert closed["ingress"] == [] and "to" not in closed["egress"][1]


def exported_metric_names() -> set[str]:
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names |= {family.name, f"{family.name}_total"}
    return names


def test_service_monitor_and_prometheus_rule_use_real_metric_names() -> None:
    assert not of_kind(render(), "Service")
    assert of_kind(render("metrics.service.enabled=true"), "Service")
    docs = render("metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.x=y",
                  "metrics.prometheusRule.enabled=true", "metrics.prometheusRule.labels.p=q",
                  "metrics.prometheusRule.stalledFor=30m")
    (svc,) = of_kind(docs, "Service")
    (sm,) = of_kind(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["x"] == "y"
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]
    assert sm["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
    (rule,) = of_kind(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["p"] == "q"
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"DdmspObjectStalled", "DdmspReconcileErrors", "DdmspRateLimited"} <= set(alerts)
    assert alerts["DdmspObjectStalled"]["for"] == "30m"
    known = exported_metric_names() | {"up"}
    for alert in alerts.values():
        used = set(re.findall(r"\b([a-z_]+)\{", alert["expr"]))
        assert used and used <= known, (alert["alert"], used - known)
        assert 'ddmsp_release="r"' in alert["expr"]  # one release's shard only


def test_metrics_are_https_behind_the_metrics_reader_role_by_default() -> None:
    docs = render("metrics.serviceMonitor.enabled=true",
                  "metrics.readerSubjects[0].kind=ServiceAccount",
                  "metrics.readerSubjects[0].name=prometheus-k8s",
                  "metrics.readerSubjects[0].namespace=monitoring",
                  "metrics.readerSubjects[1].kind=Group",
                  "metrics.readerSubjects[1].name=sre")
    assert env(docs)["DDMSP_METRICS_SECURE"] == "true"
    assert "DDMSP_METRICS_CERT_DIR" not in env(docs)  # self-signed at start
    roles = {r["metadata"]["name"]: r for r in of_kind(docs, "ClusterRole")}
    assert roles["r-ddmsp-metrics-reader"]["rules"] == [
        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    auth = roles["r-ddmsp-metrics-auth"]["rules"]
    assert {(r["apiGroups"][0], r["resources"][0], tuple(r["verbs"])) for r in auth} == {
        ("authentication.k8s.io", "tokenreviews", ("create",)),
        ("authorization.k8s.io", "subjectaccessreviews", ("create",))}
    bindings = {b["metadata"]["name"]: b for b in of_kind(docs, "ClusterRoleBinding")}
    assert bindings["r-ddmsp-metrics-auth"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "r-ddmsp", "namespace": "ops"}]
    reader = bindings["r-ddmsp-metrics-reader"]
    assert reader["roleRef"]["name"] == "r-ddmsp-metrics-reader"
    assert reader["subjects"] == [
        {"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"},
        {"kind": "Group", "name": "sre", "apiGroup": "rbac.authorization.k8s.io"}]
    (sm,) = of_kind(docs, "ServiceMonitor")
    endpoint = sm["spec"]["endpoints"][0]
    assert endpoint["scheme"] == "https"
    assert endpoint["bearerTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert endpoint["tlsConfig"] == {"insecureSkipVerify": True}
    (svc,) = of_kind(docs, "Service")
    assert svc["spec"]["ports"][0]["appProtocol"] == "https"
    probes = container(docs)
    assert probes["readinessProbe"]["httpGet"]["port"] == "ready"  # plain, own ports
    assert probes["livenessProbe"]["httpGet"]["port"] == "health"
    assert "scheme" not in probes["livenessProbe"]["httpGet"]
    # without readers bound, nobody reads: no binding at all
    assert "r-ddmsp-metrics-reader" not in {
        b["metadata"]["name"] for b in of_kind(render(), "ClusterRoleBinding")}


def test_metrics_certificate_from_a_secret_and_token_from_a_secret() -> None:
    docs = render("metrics.serviceMonitor.enabled=true", "metrics.tls.secretName=metrics-cert",
                  "metrics.serviceMonitor.authorization.type=Bearer",
                  "metrics.serviceMonitor.authorization.credentials.name=tok",
                  "metrics.serviceMonitor.authorization.credentials.key=token")
    assert env(docs)["DDMSP_METRICS_CERT_DIR"] == "/etc/ddmsp/metrics-tls"
    mounts = {m["name"]: m for m in container(docs)["volumeMounts"]}
    assert mounts["metrics-tls"] == {"name": "metrics-tls", "mountPath": "/etc/ddmsp/metrics-tls",
                                     "readOnly": True}
    vols = {v["name"]: v for v in pod(docs)["volumes"]}
    assert vols["metrics-tls"]["secret"] == {"secretName": "metrics-cert"}
    (sm,) = of_kind(docs, "ServiceMonitor")
    endpoint = sm["spec"]["endpoints"][0]
    assert endpoint["authorization"] == {"type": "Bearer",
                                         "credentials": {"name": "tok", "key": "token"}}
    assert "bearerTokenFile" not in endpoint
    assert endpoint["tlsConfig"] == {"ca": {"secret": {"name": "metrics-cert", "key": "ca.crt"}},
                                     "serverName": "r-ddmsp-metrics.ops.svc"}


def test_plain_metrics_switch_drops_the_auth_roles() -> None:
    docs = render("metrics.secure=false", "metrics.serviceMonitor.enabled=true")
    assert env(docs)["DDMSP_METRICS_SECURE"] == "false"
    names = {r["metadata"]["name"] for r in of_kind(docs, "ClusterRole")}
    assert not {"r-ddmsp-metrics-reader", "r-ddmsp-metrics-auth"} & names
    (sm,) = of_kind(docs, "ServiceMonitor")
    assert "scheme" not in sm["spec"]["endpoints"][0]


def test_values_added_since_0_1_0_default_when_absent_as_after_reuse_values() -> None:
    """`helm upgrade --reuse-values` from 0.1.0 gives the templates 0.1.0's values only
    (null removes a key here the same way): metrics stay secure, the roles stay aggregated."""
    gone = ["metrics.secure=null", "metrics.tls=null", "metrics.readerSubjects=null",
            "rbac.aggregateToDefaultRoles=null", "metrics.serviceMonitor.enabled=true",
            "metrics.serviceMonitor.bearerTokenFile=null",
            "metrics.serviceMonitor.authorization=null", "metrics.serviceMonitor.tlsConfig=null"]
    docs = render(*gone)
    assert env(docs)["DDMSP_METRICS_SECURE"] == "true"
    names = {r["metadata"]["name"] for r in of_kind(docs, "ClusterRole")}
    assert {"r-ddmsp-metrics-reader", "r-ddmsp-view", "r-ddmsp-edit"} <= names
    (sm,) = of_kind(docs, "ServiceMonitor")
    endpoint = sm["spec"]["endpoints"][0]
    assert endpoint["scheme"] == "https"
    assert endpoint["bearerTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert endpoint["tlsConfig"] == {"insecureSkipVerify": True}


def test_aggregated_roles_for_every_kind() -> None:
    docs = render()
    roles = {r["metadata"]["name"]: r for r in of_kind(docs, "ClusterRole")}
    agg = "rbac.authorization.k8s.io/aggregate-to-"
    namespaced = {f"{k.plural}" for k in ALL_KINDS if getattr(k, "scope", "Namespaced")
                  != "Cluster"}
    view, edit = roles["r-ddmsp-view"], roles["r-ddmsp-edit"]
    assert {view["metadata"]["labels"].get(agg + r) for r in ("view", "edit", "admin")} == {
        "true"}
    assert {edit["metadata"]["labels"].get(agg + r) for r in ("edit", "admin")} == {"true"}
    assert agg + "view" not in edit["metadata"]["labels"]
    (vrule,) = view["rules"]
    assert set(vrule["resources"]) == namespaced | {f"{p}/status" for p in namespaced}
    assert vrule["verbs"] == ["get", "list", "watch"]
    (erule,) = edit["rules"]
    assert set(erule["resources"]) == namespaced  # no status writes
    assert set(erule["verbs"]) == {"create", "delete", "deletecollection", "patch", "update"}
    cluster = roles["r-ddmsp-cluster-view"]
    assert cluster["metadata"]["labels"][agg + "cluster-reader"] == "true"
    assert cluster["rules"][0]["resources"] == ["datadogpartners", "datadogpartners/status"]
    assert not any("datadogpartners" in r.get("resources", []) for role in (view, edit)
                   for r in role["rules"])
    names = {r["metadata"]["name"] for r in of_kind(render("rbac.aggregateToDefaultRoles=false"),
                                                    "ClusterRole")}
    assert not {"r-ddmsp-view", "r-ddmsp-edit", "r-ddmsp-cluster-view"} & names


def render_notes(tmp_path: Path, *sets: str) -> str:
    """NOTES.txt as `helm install` prints it (helm template skips NOTES.txt and a dry-run
    install wants a cluster: a copy of the chart renders its text through `tpl`)."""
    import shutil

    copy = tmp_path / "ddmsp"
    shutil.copytree(CHART, copy)
    (copy / "templates" / "NOTES.txt").rename(copy / "notes.src")
    (copy / "templates" / "notes.yaml").write_text(
        'kind: Notes\ntext: {{ tpl (.Files.Get "notes.src") . | quote }}\n')
    args = ["template", "r", str(copy), "--namespace", "ops",
            "--show-only", "templates/notes.yaml"]
    for s in sets:
        args += ["--set", s]
    out = run_helm(*args)
    assert out.returncode == 0, out.stderr
    return str(yaml.safe_load(out.stdout)["text"])


@pytest.mark.parametrize("sets, expected, absent", [
    ((), ["kubectl -n client-acme create secret generic datadog-partner",
          "kubectl -n ops rollout status "
          "deployment/r-ddmsp", "every namespace (cluster mode)", "https on port 9090"],
     ["apply -f examples/"]),
    (("partnerCredentials.existingSecret=keys", "partnerCredentials.allowedNamespaces={*}"),
     ["kubectl -n ops create secret generic keys", "kubectl -n client-acme apply -f examples/",
      "in namespaces *"], []),
    (("partnerCredentials.existingSecret=keys", "watchNamespaces={a,b}",
      "partnerCredentials.allowedNamespaces={b}"),
     ["Watches:   a, b", "kubectl -n b apply -f examples/"], ["client-acme"]),
])
def test_notes_say_what_was_installed_and_the_next_command(
        tmp_path: Path, sets: tuple[str, ...], expected: list[str], absent: list[str]) -> None:
    notes = render_notes(tmp_path, *sets)
    for text in expected:
        assert text in notes, (text, notes)
    for text in absent:
        assert text not in notes, (text, notes)
