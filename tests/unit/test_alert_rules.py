"""Every alert the chart ships, run by Prometheus' own rule engine: `promtool test rules` on
the groups of the rendered PrometheusRule, with input series that make each alert fire (its
labels and rendered annotations checked) and series that must leave it quiet (another
release's shard, a value under the threshold, a condition shorter than its `for`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_chart_template import of_kind, render

PROMTOOL_CACHE = Path.home() / ".cache" / "ddmsp" / "bin" / "promtool"
SETUP = Path(__file__).resolve().parents[2] / "hack" / "ci-setup.d" / "30-promtool.sh"


def promtool() -> str:
    found = shutil.which("promtool") or (str(PROMTOOL_CACHE) if PROMTOOL_CACHE.exists() else None)
    if found is None:  # CI installs it (hack/ci-setup.d/30-promtool.sh); try the same here
        subprocess.run(["bash", str(SETUP)], capture_output=True, timeout=600)
        found = str(PROMTOOL_CACHE) if PROMTOOL_CACHE.exists() else None
    if found is None:
        why = ("promtool could not be installed (hack/ci-setup.d/30-promtool.sh: Debian's "
               "prometheus package unreachable)")
        if os.environ.get("CI"):
            pytest.fail(f"CI runs hack/ci-setup.d/30-promtool.sh, yet: {why}")
        pytest.skip(why)
    return found


def rule_groups() -> list[dict[str, Any]]:
    docs = render("metrics.prometheusRule.enabled=true")
    (rule,) = of_kind(docs, "PrometheusRule")
    return list(rule["spec"]["groups"])


R = 'ddmsp_release="r"'
OBJ = 'kind="DatadogRole",namespace="acme",name="sre"'
CLIENT = 'namespace="acme",name="acme",org_public_id="abc123",client="Acme Corp"'
CLIENT_LABELS = {"namespace": "acme", "name": "acme", "org_public_id": "abc123",
                 "client": "Acme Corp", "ddmsp_release": "r"}


def alert(name: str, at: str, fired: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": name, "exp_alerts": fired}


# (name, input series, alert checks): each test starts at t=0 with a 1 m interval.
CASES: list[tuple[str, list[dict[str, str]], list[dict[str, Any]]]] = [
    ("stalled objects fire, another shard's and non-stalled passes do not", [
        {"series": f'ddmsp_reconciles_total{{outcome="stalled",{R},{OBJ}}}',
         "values": "0+1x90"},
        {"series": f'ddmsp_reconciles_total{{outcome="stalled",ddmsp_release="s",{OBJ}}}',
         "values": "0+1x90"},
        {"series": f'ddmsp_reconciles_total{{outcome="ready",{R},kind="DatadogUser",'
                   'namespace="acme",name="u"}', "values": "0+1x90"},
    ], [
        alert("DdmspObjectStalled", "10m", []),  # not yet for 15 m
        alert("DdmspObjectStalled", "45m", [{
            "exp_labels": {"severity": "warning", "namespace": "acme", "kind": "DatadogRole"},
            "exp_annotations": {
                "summary": "ddmsp DatadogRole objects are Stalled",
                "description": "kubectl get ddmsp -A shows which; docs/operations.md "
                               "explains each Stalled reason and its fix."}}]),
    ]),
    ("a stalled count that stopped growing is quiet", [
        {"series": f'ddmsp_reconciles_total{{outcome="stalled",{R},{OBJ}}}',
         "values": "0+1x10 10x80"},
    ], [alert("DdmspObjectStalled", "60m", [])]),
    ("not Ready for longer than stalledFor fires; a short dip does not", [
        {"series": f'ddmsp_object_ready{{{R},{OBJ}}}', "values": "0x60"},
        {"series": f'ddmsp_object_ready{{{R},kind="DatadogUser",namespace="acme",name="u"}}',
         "values": "1x20 0x10 1x30"},
    ], [
        alert("DdmspObjectNotReady", "10m", []),
        alert("DdmspObjectNotReady", "40m", [{
            "exp_labels": {"severity": "warning", "kind": "DatadogRole", "namespace": "acme",
                           "name": "sre"},
            "exp_annotations": {"summary": "DatadogRole acme/sre not Ready for 15m"}}]),
    ]),
    ("a refused key fires after 5m, naming the object and key; a fixed one is quiet", [
        {"series": f'ddmsp_keys_invalid{{{R},kind="DatadogClientOrg",namespace="acme",'
                   'name="acme",key="application"}', "values": "0x5 1x30"},
        {"series": f'ddmsp_keys_invalid{{{R},kind="DatadogClientOrg",namespace="acme",'
                   'name="acme",key="api"}', "values": "0x40"},
        {"series": f'ddmsp_keys_invalid{{{R},kind="DatadogClientOrg",namespace="globex",'
                   'name="globex",key="api"}', "values": "1x3 0x40"},
        {"series": 'ddmsp_keys_invalid{ddmsp_release="s",kind="DatadogClientOrg",'
                   'namespace="x",name="x",key="api"}', "values": "1x40"},
    ], [
        alert("DdmspKeysInvalid", "8m", []),
        alert("DdmspKeysInvalid", "20m", [{
            "exp_labels": {"severity": "critical", "kind": "DatadogClientOrg",
                           "namespace": "acme", "name": "acme", "key": "application"},
            "exp_annotations": {
                "summary": "DatadogClientOrg acme/acme: Datadog refuses its application key",
                "description": "kubectl describe shows the KeysInvalid condition naming the "
                               "key and how to recover (docs/credentials.md)."}}]),
    ]),
    ("an overdue rotation fires after an hour late plus 15m, naming the key; a key due "
     "later, or another shard's, is quiet", [
        {"series": f'ddmsp_key_next_rotation_timestamp_seconds{{{R},kind="DatadogAPIKey",'
                   'namespace="acme",name="agent",key="api"}', "values": "600x120"},
        {"series": f'ddmsp_key_next_rotation_timestamp_seconds{{{R},kind="DatadogClientOrg",'
                   'namespace="acme",name="acme",key="application"}', "values": "90000x120"},
        {"series": 'ddmsp_key_next_rotation_timestamp_seconds{ddmsp_release="s",'
                   'kind="DatadogAPIKey",namespace="x",name="x",key="api"}',
         "values": "0x120"},
    ], [
        alert("DdmspKeyRotationOverdue", "70m", []),  # 60 min late: not yet 15 m over
        alert("DdmspKeyRotationOverdue", "90m", [{
            "exp_labels": {"severity": "warning", "kind": "DatadogAPIKey",
                           "namespace": "acme", "name": "agent", "key": "api"},
            "exp_annotations": {
                "summary": "DatadogAPIKey acme/agent: the rotation of its api key is overdue",
                "description": "kubectl describe shows why the key was not replaced; "
                               "docs/keys.md and docs/credentials.md (Rotation) explain the "
                               "recovery."}}]),
    ]),
    ("unexpected errors fire; none do not", [
        {"series": f'ddmsp_reconciles_total{{outcome="error",{R},{OBJ}}}', "values": "0+1x40"},
    ], [
        alert("DdmspReconcileErrors", "5m", []),
        alert("DdmspReconcileErrors", "30m", [{
            "exp_labels": {"severity": "warning"},
            "exp_annotations": {"summary": "ddmsp reconciles fail with unexpected errors "
                                           "(see the operator log)"}}]),
    ]),
    ("errors that stopped are quiet again", [
        {"series": f'ddmsp_reconciles_total{{outcome="error",{R},{OBJ}}}',
         "values": "0+1x5 5x60"},
    ], [alert("DdmspReconcileErrors", "40m", [])]),
    ("120 rate-limit waits an hour fire, 30 do not", [
        {"series": f'ddmsp_datadog_rate_limit_waits_total{{{R},limit="orgs_create"}}',
         "values": "0+2x120"},
        {"series": 'ddmsp_datadog_rate_limit_waits_total{ddmsp_release="s",limit="x"}',
         "values": "0+0.5x120"},
    ], [
        alert("DdmspRateLimited", "90m", [{
            "exp_labels": {"severity": "info"},
            "exp_annotations": {
                "summary": "ddmsp waits for Datadog rate limits more than 50 times an hour",
                "description": "Raise driftIntervalSeconds, lower workerLimit, or shard "
                               "partner keys."}}]),
    ]),
    ("30 waits an hour are quiet", [
        {"series": f'ddmsp_datadog_rate_limit_waits_total{{{R},limit="orgs_create"}}',
         "values": "0+0.5x120"},
    ], [alert("DdmspRateLimited", "90m", [])]),
    ("an unscraped operator fires; a scraped one does not", [
        {"series": f'up{{{R},job="ddmsp"}}', "values": "1x10 0x30"},
        {"series": 'up{ddmsp_release="s",job="ddmsp"}', "values": "1x40"},
    ], [
        alert("DdmspOperatorDown", "8m", []),
        alert("DdmspOperatorDown", "35m", [{
            "exp_labels": {"severity": "critical"},
            "exp_annotations": {
                "summary": "the ddmsp operator of release r is not scraped"}}]),
    ]),
    ("budget: over, projected over and warning each fire with the client named", [
        {"series": f'ddmsp_client_budget_ratio{{{R},{CLIENT},basis="estimated"}}',
         "values": "1.25x120"},
        {"series": f'ddmsp_client_budget_ratio{{{R},{CLIENT},basis="projected"}}',
         "values": "1.5x120"},
        {"series": f'ddmsp_client_budget_ratio{{{R},namespace="globex",name="globex",'
                   'org_public_id="def456",client="Globex",basis="estimated"}',
         "values": "0.85x120"},
    ], [
        alert("DdmspClientBudgetExceeded", "10m", []),
        alert("DdmspClientBudgetExceeded", "20m", [{
            "exp_labels": {**CLIENT_LABELS, "basis": "estimated", "severity": "critical"},
            "exp_annotations": {
                "summary": "Acme Corp (acme/acme) is over its Datadog budget",
                "description": "Month-to-date estimate is 125% of spec.budget.monthlyLimit "
                               "(org abc123)."}}]),
        alert("DdmspClientBudgetProjectedOver", "30m", []),
        alert("DdmspClientBudgetProjectedOver", "70m", [{
            "exp_labels": {**CLIENT_LABELS, "basis": "projected", "severity": "warning"},
            "exp_annotations": {
                "summary": "Acme Corp is projected to exceed its Datadog budget",
                "description": "Projected month end is 150% of the budget (org abc123)."}}]),
        alert("DdmspClientBudgetWarning", "70m", [{
            "exp_labels": {"ddmsp_release": "r", "namespace": "globex", "name": "globex",
                           "org_public_id": "def456", "client": "Globex",
                           "basis": "estimated", "severity": "info"},
            "exp_annotations": {"summary": "Globex has used 85% of its Datadog budget"}}]),
    ]),
    ("budget: under 80%, and another shard's client, are quiet", [
        {"series": f'ddmsp_client_budget_ratio{{{R},{CLIENT},basis="estimated"}}',
         "values": "0.5x120"},
        {"series": f'ddmsp_client_budget_ratio{{{R},{CLIENT},basis="projected"}}',
         "values": "0.9x120"},
        {"series": f'ddmsp_client_budget_ratio{{ddmsp_release="s",{CLIENT},basis="estimated"}}',
         "values": "2x120"},
    ], [
        alert("DdmspClientBudgetExceeded", "100m", []),
        alert("DdmspClientBudgetProjectedOver", "100m", []),
        alert("DdmspClientBudgetWarning", "100m", []),
    ]),
    ("cost data: stale and never read fire; fresh data is quiet", [
        # partner p1: last read at t=0, never again; p2: read every minute (value = time)
        {"series": f'ddmsp_cost_refresh_timestamp_seconds{{{R},partner="p1"}}',
         "values": "0x300"},
        {"series": f'ddmsp_cost_refresh_timestamp_seconds{{{R},partner="p2"}}',
         "values": "0+60x300"},
        {"series": f'ddmsp_cost_refresh_api_calls{{{R},partner="p2"}}', "values": "3x300"},
        # p3: calls made, no successful read ever
        {"series": f'ddmsp_cost_refresh_api_calls{{{R},partner="p3"}}', "values": "3x300"},
    ], [
        alert("DdmspCostDataStale", "3h", []),
        alert("DdmspCostDataStale", "4h", [{
            "exp_labels": {"ddmsp_release": "r", "partner": "p1", "severity": "warning"},
            "exp_annotations": {
                "summary": "Datadog cost data of partner p1 is stale",
                "description": "The last successful cost read was 4h 0m 0s ago: check the "
                               "DatadogPartner's CostReadable condition and the operator "
                               "log."}}]),
        alert("DdmspCostDataMissing", "1h", []),
        alert("DdmspCostDataMissing", "3h", [{
            "exp_labels": {"ddmsp_release": "r", "partner": "p3", "severity": "warning"},
            "exp_annotations": {
                "summary": "The operator has never read Datadog cost for partner p3",
                "description": "Check the DatadogPartner's CostReadable condition "
                               "(usage_read and billing_read, parent-level keys)."}}]),
    ]),
]


def test_every_alert_is_exercised_both_ways() -> None:
    alerts = {r["alert"] for g in rule_groups() for r in g["rules"]}
    fired = {c["alertname"] for _, _, checks in CASES for c in checks if c["exp_alerts"]}
    quiet = {c["alertname"] for _, _, checks in CASES for c in checks if not c["exp_alerts"]}
    assert fired == alerts, alerts ^ fired
    assert quiet == alerts, alerts ^ quiet


def test_promtool_checks_and_runs_every_rule(tmp_path: Path) -> None:
    tool = promtool()
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    check = subprocess.run([tool, "check", "rules", str(rules)], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = tmp_path / "tests.yaml"
    tests.write_text(yaml.safe_dump({
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [{"name": name, "interval": "1m", "input_series": series,
                   "alert_rule_test": checks} for name, series, checks in CASES],
    }, sort_keys=False))
    run = subprocess.run([tool, "test", "rules", str(tests)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout + run.stderr


def test_promtool_notices_a_wrong_expectation(tmp_path: Path) -> None:
    """The harness can fail: a budget alert expected at 90% must not pass."""
    tool = promtool()
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    name, series, checks = CASES[-3]  # the budget-fires case
    wrong = [dict(c) for c in checks if c["alertname"] == "DdmspClientBudgetWarning"]
    wrong[0]["exp_alerts"] = []
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump({
        "rule_files": [rules.name], "evaluation_interval": "1m",
        "tests": [{"name": name, "interval": "1m", "input_series": series,
                   "alert_rule_test": wrong}]}))
    run = subprocess.run([tool, "test", "rules", "tests.yaml"], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert run.returncode != 0
