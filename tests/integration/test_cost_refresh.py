"""Cost and usage per client through the partner admin org's view, end to end (issue 10).

Real kube-apiserver, the simulator over HTTP, the operator as a process. Clients get
``status.cost`` and ``status.usage`` equal to the simulator's numbers (the spun-off client
too), budgets announce each threshold once (also across a restart), gauges carry the
client's labels and go with the object, and ``ddmsp report`` reads it all from the cluster.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator import cost as simcost
from ddmsp.simulator.server import RunningSimulator
from ddmsp.simulator.usage import usage_numbers
from tests.integration.conftest import GROUP, VERSION
from tests.support.kube import REPO_ROOT, Cluster
from tests.support.operator import OperatorProcess, wait_for

pytestmark = pytest.mark.kube
ORGS = "datadogclientorgs"
COST_ROUTES = ("GET /api/v2/usage/estimated_cost", "GET /api/v2/usage/projected_cost",
               "GET /api/v2/usage/historical_cost", "GET /api/v1/usage/summary")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Env:
    def __init__(self, cluster: Cluster, api: client.ApiClient, namespace: str,
                 sim: RunningSimulator, tmp_path: Path) -> None:
        self.cluster, self.namespace, self.sim, self.tmp = cluster, namespace, sim, tmp_path
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.port = free_port()
        self.op: OperatorProcess | None = None

    def start(self, calendar: datetime | None = None,
              refresh_interval: float = 10) -> OperatorProcess:
        """Start the operator; ``calendar`` pins its calendar (``DDMSP_CLOCK_START``)."""
        pinned = {"DDMSP_CLOCK_START": calendar.strftime("%Y-%m-%dT%H:%M:%SZ")} \
            if calendar else {}
        self.op = OperatorProcess(
            self.cluster.kubeconfig, self.sim.base_url, [self.namespace],
            self.tmp / "operator.log",
            extra_env={"DDMSP_PARTNER_SECRET": f"{self.namespace}/partner", **pinned},
            extra_args=["--cost-refresh-interval", str(refresh_interval),
                        "--metrics-port", str(self.port)],
        ).start()
        return self.op

    def apply(self, name: str, **spec: Any) -> None:
        self.objects.create_namespaced_custom_object(GROUP, VERSION, self.namespace, ORGS, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogClientOrg",
            "metadata": {"name": name}, "spec": spec})

    def get(self, name: str) -> dict[str, Any]:
        return self.objects.get_namespaced_custom_object(GROUP, VERSION, self.namespace, ORGS,
                                                         name)

    def status(self, name: str) -> dict[str, Any]:
        return self.get(name).get("status") or {}

    def patch(self, name: str, spec: dict[str, Any]) -> None:
        self.objects.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, ORGS, name,
                                                    {"spec": spec})

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        return next((c for c in self.status(name).get("conditions") or []
                     if c["type"] == type_), None)

    def wait(self, what: str, fn: Any, timeout: float = 90) -> Any:
        tail = self.op.log()[-2500:] if self.op else ""
        return wait_for(fn, timeout=timeout, interval=0.5, what=f"{what}; log:\n{tail}")

    def events(self, name: str, reasons: set[str]) -> list[str]:
        return [e.message for e in self.core.list_namespaced_event(self.namespace).items
                if e.involved_object.name == name and e.reason in reasons]

    def report(self) -> list[dict[str, Any]]:
        """`ddmsp report -o json` rows, run as a user would: with no Datadog keys at hand."""
        clean_env = {k: v for k, v in os.environ.items() if not k.startswith("DDMSP_")}
        out = subprocess.run(
            [sys.executable, "-m", "ddmsp", "report", "-n", self.namespace, "-o", "json",
             "--kubeconfig", str(self.cluster.kubeconfig)],
            check=True, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
            env={**clean_env, "PYTHONPATH": str(REPO_ROOT / "operator")})
        return list(json.loads(out.stdout)["clients"])

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())


@pytest.fixture
def env(cluster: Cluster, api: client.ApiClient, namespace: str, crds: None,
        sim: RunningSimulator, partner_secret: str, tmp_path: Path) -> Any:
    e = Env(cluster, api, namespace, sim, tmp_path)
    yield e
    if e.op:
        e.op.stop()


def sim_expected(sim: RunningSimulator, public_id: str) -> dict[str, float]:
    org = sim.state.orgs[public_id]
    now = sim.now()
    month = now.strftime("%Y-%m")
    amounts = simcost.month_amounts(org, month)
    fraction = simcost.month_fraction(month, now)
    return {"estimated": sum(round(c * fraction, 2) + round(o * fraction, 2)
                             for c, o in amounts.values()),
            "projected": sum(c + o for c, o in amounts.values()),
            "hosts": usage_numbers(org, month)["infra_host_top99p"]}


def test_every_client_gets_cost_and_usage_from_one_partner_view(env: Env) -> None:
    # Mid-month, on both clocks: Datadog projects from the 12th, so the projection is there
    # whatever the machine's date (the days before the 12th: tests/contract/test_calendar.py).
    mid_month = datetime(2030, 3, 16, 9, tzinfo=UTC)
    env.sim.set_clock(mid_month)
    env.start(calendar=mid_month)
    env.apply("acme", displayName="Acme Corp")
    env.apply("globex", displayName="Globex", provisioning="SpinOff")
    env.wait("globex awaiting registration", lambda: (env.condition("globex", "Ready") or {})
             .get("reason") == "AwaitingRegistration")
    env.patch("globex", {"registration": {
        "confirmed": True, "orgPublicId": env.status("globex")["parentOrg"]["publicId"]}})
    for name in ("acme", "globex"):
        env.wait(f"{name} cost", lambda n=name: env.status(n).get("cost")
                 and env.status(n).get("usage"))
    for name in ("acme", "globex"):
        status = env.status(name)
        public_id = status["clientOrg"]["publicId"]
        want = sim_expected(env.sim, public_id)
        cost = status["cost"]
        assert float(cost["estimatedTotal"]) == pytest.approx(want["estimated"], abs=0.5)
        assert float(cost["projectedTotal"]) == pytest.approx(want["projected"], abs=0.05)
        assert cost["topProducts"] and cost["estimatedAt"]
        assert status["usage"]["values"]["infra_host_top99p"] == want["hosts"]
        assert status["partner"] == "operator-default"
    # the spun-off client's cost came through the partner's keys: its parent's keys were
    # never asked (a customer's own parent org may see no cost at all)
    assert env.sim.call_count("GET /api/v2/usage/estimated_cost") >= 1
    # each refresh costs the same few calls, whatever the number of clients
    text = env.metrics()
    calls = [line for line in text.splitlines()
             if line.startswith('ddmsp_cost_refresh_api_calls{partner="operator-default"}')]
    assert calls and 3 <= float(calls[0].split()[-1]) <= 4
    acme_id = env.status("acme")["clientOrg"]["publicId"]
    assert (f'ddmsp_client_estimated_cost_usd{{client="Acme Corp",name="acme",namespace='
            f'"{env.namespace}",org_public_id="{acme_id}"}}') in text

    # ddmsp report: from the cluster only (no Datadog keys in its environment)
    rows = {r["client"]: r for r in env.report()}
    assert set(rows) == {"acme", "globex"}
    for name, row in rows.items():
        assert row["estimated"] == float(env.status(name)["cost"]["estimatedTotal"])
        assert row["org_id"] == env.status(name)["clientOrg"]["publicId"]

    # deleting a client removes its series
    env.objects.delete_namespaced_custom_object(GROUP, VERSION, env.namespace, ORGS, "acme")
    env.wait("acme series removed", lambda: f'org_public_id="{acme_id}"' not in env.metrics(),
             timeout=30)


def at(sim: RunningSimulator, when: datetime) -> None:
    """Move Datadog's clock (``/_sim/clock``)."""
    sim.set_clock(when)


def test_budget_thresholds_once_per_month_across_a_restart_and_a_month_boundary(
    env: Env
) -> None:
    at(env.sim, datetime(2026, 10, 20, 12, tzinfo=UTC))
    op = env.start()
    env.apply("acme", displayName="Acme Corp")
    env.wait("acme cost", lambda: env.status("acme").get("cost"))
    estimated = float(env.status("acme")["cost"]["estimatedTotal"])
    # a budget the estimate has used 90% of: the 80% threshold is crossed, 100% is not
    env.patch("acme", {"budget": {"monthlyLimit": round(estimated / 0.9, 2),
                                  "warnAtPercent": [50, 80, 100]}})
    env.wait("BudgetWarning", lambda: (env.condition("acme", "BudgetWarning") or {})
             .get("status") == "True")
    reasons = {"BudgetWarning", "BudgetExceeded"}
    budget = env.status("acme")["budget"]  # written with the condition, before the events
    # one event per threshold in budget.notified, posted one after another after the write
    first = env.wait("budget events", lambda: (lambda found: found if len(found) >= len(
        budget["notified"]) else None)(env.events("acme", reasons)))
    assert budget["month"] == "2026-10"
    assert "estimated:80" in budget["notified"] and "estimated:100" not in budget["notified"]
    assert sum("estimate" in m and "threshold 80%" in m for m in first) == 1
    assert all(m.startswith("2026-10") for m in first)
    # more refreshes, then a restart: nothing is announced twice
    read_at = env.status("acme")["cost"]["estimatedAt"]
    env.wait("another refresh", lambda: env.status("acme")["cost"]["estimatedAt"] != read_at,
             timeout=60)
    op.stop()
    op = env.start()
    read_at = env.status("acme")["cost"]["estimatedAt"]
    env.wait("a refresh after the restart",
             lambda: env.status("acme")["cost"]["estimatedAt"] != read_at, timeout=60)
    assert sorted(env.events("acme", reasons)) == sorted(first)
    # a new month: the memory resets and this month's crossings are announced once each
    at(env.sim, datetime(2026, 11, 28, 12, tzinfo=UTC))
    env.wait("November judged", lambda: (env.status("acme").get("budget") or {})
             .get("month") == "2026-11", timeout=60)
    november = env.status("acme")["budget"]
    assert november["notified"] and all(
        m in {f"{b}:{t}" for b in ("estimated", "projected") for t in (50, 80, 100)}
        for m in november["notified"])
    # posted one after another after the write: wait for as many as were recorded
    events = env.wait("November events", lambda: (lambda found: found if len(found) >= len(
        november["notified"]) else None)([m for m in env.events("acme", reasons)
                                          if m.startswith("2026-11")]))
    assert len(events) == len(november["notified"])  # one per threshold crossed
    assert env.status("acme")["cost"]["lastMonth"] == "2026-10"  # published by the 16th
    # the budget goes: so do its conditions and status
    env.patch("acme", {"budget": None})  # merge patch: removes the field
    env.wait("budget status removed", lambda: "budget" not in env.status("acme")
             and env.condition("acme", "BudgetWarning") is None, timeout=60)


@pytest.fixture
def partner_name(api: client.ApiClient, namespace: str) -> Any:
    """A DatadogPartner allowing the test namespace (cluster-scoped: deleted afterwards)."""
    name = f"p-{namespace}"
    objects = client.CustomObjectsApi(api)
    objects.create_cluster_custom_object(GROUP, VERSION, "datadogpartners", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogPartner", "metadata": {"name": name},
        "spec": {"credentialsSecretRef": {"namespace": namespace, "name": "partner"},
                 "allowedNamespaces": [namespace]}})
    yield name
    objects.delete_cluster_custom_object(GROUP, VERSION, "datadogpartners", name)


def test_partner_status_carries_totals_contracts_and_permissions(
    env: Env, partner_name: str
) -> None:
    env.start()
    ref = {"partnerRef": {"name": partner_name}}
    env.apply("acme", displayName="Acme Corp", **ref)
    env.apply("globex", displayName="Globex", provisioning="SpinOff", **ref)
    env.wait("globex awaiting registration", lambda: (env.condition("globex", "Ready") or {})
             .get("reason") == "AwaitingRegistration")
    env.patch("globex", {"registration": {
        "confirmed": True, "orgPublicId": env.status("globex")["parentOrg"]["publicId"]}})

    def partner() -> dict[str, Any]:
        return env.objects.get_cluster_custom_object(GROUP, VERSION, "datadogpartners",
                                                     partner_name).get("status") or {}

    env.wait("partner totals for both clients", lambda: (partner().get("cost") or {}).get(
        "orgs", 0) >= 4 and partner().get("clients") == 2)
    status = partner()
    assert status["keysValid"] is True and status["missingPermissions"] == []
    readable = next(c for c in status["conditions"] if c["type"] == "CostReadable")
    assert readable["status"] == "True"
    cost = status["cost"]
    # partner org + acme (one account), globex's spun-off parent + its client (another)
    contracts = {c["account"]: c for c in cost["contracts"]}
    assert len(contracts) == 2 and sorted(c["orgs"] for c in contracts.values()) == [2, 2]
    sum_contracts = sum(float(c["estimatedTotal"]) for c in contracts.values())
    assert float(cost["estimatedTotal"]) == pytest.approx(sum_contracts, abs=0.02)
    assert cost["calls"] in (3, 4) and cost["refreshedAt"]
    clients = [env.status(n)["cost"] for n in ("acme", "globex")]
    assert sum(float(c["estimatedTotal"]) for c in clients) <= float(cost["estimatedTotal"])


def test_missing_cost_permissions_are_named_and_provisioning_goes_on(
    env: Env, partner_name: str
) -> None:
    all_but_billing = ["org_management", "usage_read", "user_access_manage"]
    env.sim.set_key_permissions(env.sim.partner_app_key, all_but_billing)
    env.start()
    env.apply("acme", displayName="Acme Corp", partnerRef={"name": partner_name})

    def partner() -> dict[str, Any]:
        return env.objects.get_cluster_custom_object(GROUP, VERSION, "datadogpartners",
                                                     partner_name).get("status") or {}

    env.wait("acme Ready", lambda: (env.condition("acme", "Ready") or {}).get("status")
             == "True")
    env.wait("billing_read named", lambda: partner().get("missingPermissions")
             == ["billing_read"])
    readable = next(c for c in partner()["conditions"] if c["type"] == "CostReadable")
    assert readable["status"] == "False" and readable["reason"] == "MissingPermission"
    assert "billing_read" in readable["message"] and "provisioning is unaffected" in \
        readable["message"]
    ready = next(c for c in partner()["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"  # the keys may still manage orgs
    assert "cost" not in env.status("acme")
    assert env.status("acme").get("usage")  # usage_read alone still gives usage

    # without org_management the partner itself is not Ready, and says why
    env.sim.set_key_permissions(env.sim.partner_app_key, ["usage_read", "billing_read"])
    env.objects.patch_cluster_custom_object(  # any change to the object re-checks the keys
        GROUP, VERSION, "datadogpartners", partner_name,
        {"metadata": {"annotations": {"example.com/touched": "1"}}})
    env.wait("org_management named", lambda: "org_management" in
             (partner().get("missingPermissions") or []))
    ready = next(c for c in partner()["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "MissingPermission"


def test_a_budget_is_judged_when_it_is_set_not_at_the_next_refresh(env: Env) -> None:
    """A budget added to a client whose cost is known raises its conditions at once (the
    refresh interval here is an hour), and `-o wide`, `ddmsp report` and the metric show
    one figure. Before the 12th Datadog projects nothing: the message says so."""
    early = datetime(2030, 3, 5, 9, tzinfo=UTC)  # no projection yet
    env.sim.set_clock(early)
    env.start(calendar=early, refresh_interval=3600)
    env.apply("acme", displayName="Acme Corp")
    env.wait("acme cost", lambda: env.status("acme").get("cost"))
    estimated = float(env.status("acme")["cost"]["estimatedTotal"])
    assert estimated > 0
    limit = max(1, int(estimated / 2.29))  # the estimate is ~229% of it
    env.patch("acme", {"budget": {"monthlyLimit": limit}})
    exceeded = env.wait("BudgetExceeded at once", lambda: (lambda c: c if c and c["status"]
                        == "True" else None)(env.condition("acme", "BudgetExceeded")),
                        timeout=60)
    assert exceeded["reason"] == "EstimateOverBudget"
    budget = env.status("acme")["budget"]
    assert budget["basis"] == "estimated" and "projectedPercent" not in budget
    want = f"{estimated / limit * 100:.1f}"
    assert budget["percent"] == budget["estimatedPercent"] == want
    # a threshold below the ratio: the warning names the missing projection, not "0.0%"
    env.patch("acme", {"budget": {"monthlyLimit": int(estimated * 10) + 1,
                                  "warnAtPercent": [5, 100]}})
    warning = env.wait("BudgetWarning", lambda: (lambda c: c if c and c["status"] == "True"
                       and c["reason"] == "ThresholdReached" else None)(
                           env.condition("acme", "BudgetWarning")), timeout=60)
    assert "no projection yet" in warning["message"] and "projection 0.0%" not in warning[
        "message"]
    shown = env.status("acme")["budget"]["percent"]
    wide = env.cluster.kubectl("-n", env.namespace, "get", "ddorg", "acme", "-o", "wide",
                               "--no-headers").stdout
    assert shown in wide.split()
    row = env.report()[0]
    assert f"{row['budget_percent']:.1f}" == shown
