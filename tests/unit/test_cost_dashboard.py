"""The Grafana dashboard and the budget PrometheusRule shipped with the chart: valid, and
every query names only metrics the operator exports (a renamed gauge fails here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

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
