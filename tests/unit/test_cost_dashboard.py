"""The Grafana dashboard and the budget PrometheusRule shipped with the chart: valid, and
every query names only metrics the operator exports (a renamed gauge fails here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ddmsp import metrics
from ddmsp.controllers import cost_metrics

CHART = Path(__file__).resolve().parents[2] / "helm" / "ddmsp"
DASHBOARD = CHART / "dashboards" / "ddmsp-cost.json"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
            "or", "unless", "offset", "inf", "nan"}
EXPORTED = {g._name for g in cost_metrics.EXPORTED} | {
    g._name for g in (metrics.READY,)
}


def metric_names(expr: str) -> set[str]:
    """Identifiers of a PromQL expression that are metric names (not functions, keywords,
    labels, label matchers, durations or Grafana variables)."""
    text = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors
    text = re.sub(r"\$\w+|\"[^\"]*\"", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word, rest = match.group(0), text[match.end():].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def test_the_checker_sees_metric_names() -> None:
    assert metric_names('topk(10, sum by (product) (x_y{a="b"}[5m])) / on (p) z') == {"x_y", "z"}


def test_dashboard_is_valid_and_queries_only_exported_metrics() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    queries = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    queries += [v["definition"].split("(", 1)[1].split(",")[0]
                for v in dash["templating"]["list"] if v["type"] == "query"]
    assert len(queries) >= 7
    for panel in dash["panels"]:
        assert panel["type"] in {"stat", "timeseries", "bargauge", "table", "barchart"}
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["targets"], f"panel {panel['title']} has no query"
    used = set()
    for query in queries:
        names = metric_names(query)
        assert names, f"query names no metric: {query}"
        assert names <= EXPORTED, f"{query}: not exported: {names - EXPORTED}"
        used |= names
    # the four views: cost per client, projected vs budget, top products, partner total
    assert {"ddmsp_client_estimated_cost_usd", "ddmsp_client_budget_ratio",
            "ddmsp_client_product_cost_usd", "ddmsp_partner_estimated_cost_usd"} <= used


def _helm() -> str | None:
    found = sorted(Path.home().glob(".cache/ddmsp/bin/*/helm"))
    return str(found[-1]) if found else shutil.which("helm")


def test_chart_renders_the_rule_and_dashboard_configmap() -> None:
    helm = _helm()
    if helm is None:
        pytest.skip("helm comes from hack/build-binaries")
    out = subprocess.run(
        [helm, "template", "r", str(CHART), "--set", "metrics.prometheusRule.enabled=true",
         "--set", "metrics.grafanaDashboard.enabled=true"],
        check=True, capture_output=True, text=True, timeout=60).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]  # one per release
    rules = [r for g in rule["spec"]["groups"] if g["name"].startswith("ddmsp-budget")
             for r in g["rules"]]
    assert {r["alert"] for r in rules} >= {"DdmspClientBudgetExceeded", "DdmspCostDataStale"}
    for r in rules:
        assert metric_names(str(r["expr"])) <= EXPORTED, r["expr"]
        assert "{{ $labels" in r["annotations"]["summary"]  # Prometheus templating kept
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and "cost-dashboard" in
              d["metadata"]["name"])
    assert json.loads(cm["data"]["ddmsp-cost.json"]) == json.loads(DASHBOARD.read_text())
    plain = subprocess.run([helm, "template", "r", str(CHART)], check=True,
                           capture_output=True, text=True, timeout=60).stdout
    assert "PrometheusRule" not in plain  # off by default: needs the Prometheus Operator CRDs
    assert "cost-dashboard" not in plain


CHECKER = Path.home() / ".cache" / "ddmsp" / "bin" / "ddmsp-dashboard-check"
CHECKER_SETUP = CHART.parents[1] / "hack" / "ci-setup.d" / "31-dashboard-check.sh"


def dashboard_checker() -> str:
    """hack/dashboard-check, built by CI's setup step (here too when missing or stale)."""
    subprocess.run(["bash", str(CHECKER_SETUP)], capture_output=True, timeout=900)
    if not CHECKER.exists():
        why = ("ddmsp-dashboard-check could not be built (hack/ci-setup.d/"
               "31-dashboard-check.sh: Go or the grafana-foundation-sdk module missing)")
        if os.environ.get("CI"):
            pytest.fail(f"CI runs hack/ci-setup.d/31-dashboard-check.sh, yet: {why}")
        pytest.skip(why)
    return str(CHECKER)


def test_dashboard_passes_grafanas_schema_and_the_linter_rules() -> None:
    out = subprocess.run([dashboard_checker(), str(DASHBOARD)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("mutation, problem", [
    (lambda d: d["panels"][0].update(titel="typo"), "schema"),
    (lambda d: d["panels"][3]["options"].update(legend={"displayMode": "list"}), "showLegend"),
    (lambda d: d["panels"][0].pop("description"), "panel-title-description-rule"),
    (lambda d: d["panels"][3]["fieldConfig"]["defaults"].pop("unit"), "panel-units-rule"),
    (lambda d: d["panels"][1].update(datasource={"type": "prometheus", "uid": "prom1"}),
     "panel-datasource-rule"),
    (lambda d: d["panels"][3]["targets"][0].update(expr="rate(ddmsp_x[5m])"),
     "target-rate-interval-rule"),
    (lambda d: d["templating"]["list"].pop(0), "template-datasource-rule"),
])
def test_dashboard_checker_catches(tmp_path: Path, mutation: Any, problem: str) -> None:
    dash = json.loads(DASHBOARD.read_text())
    mutation(dash)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dash))
    out = subprocess.run([dashboard_checker(), str(bad)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and problem in out.stdout, out.stdout


def label_names(metric: str) -> set[str]:
    gauge = next(g for g in [*cost_metrics.EXPORTED, metrics.READY] if g._name == metric)
    return set(gauge._labelnames)


def test_every_query_uses_labels_its_metric_has() -> None:
    """Selectors, `by (...)` groupings and legends name only labels the metric carries."""
    dash = json.loads(DASHBOARD.read_text())
    targets = [(p["title"], t) for p in dash["panels"] for t in p["targets"]]
    checked = 0
    for title, target in targets:
        expr = target["expr"]
        (metric,) = metric_names(expr)
        have = label_names(metric) | {"ddmsp_release"}  # added by the ServiceMonitor
        used = set(re.findall(r"\b([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"", expr))
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            used |= {g.strip() for g in group.split(",") if g.strip()}
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        assert used | legend <= have, (title, expr, (used | legend) - have)
        checked += 1
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            metric, label = re.findall(r"label_values\((\w+),\s*(\w+)\)", var["definition"])[0]
            assert label in label_names(metric)
    assert checked == len(targets) >= 7


def test_every_query_parses_as_promql(tmp_path: Path) -> None:
    """Prometheus' own parser (promtool check rules) reads each query, Grafana's variables
    replaced by what Grafana sends."""
    from tests.unit.test_alert_rules import promtool

    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    rules = [{"record": f"ddmsp:dashboard_query_{i}",
              "expr": e.replace("$__rate_interval", "5m").replace("$namespace", ".*")}
             for i, e in enumerate(exprs)]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(exprs)} rules found" in out.stdout
