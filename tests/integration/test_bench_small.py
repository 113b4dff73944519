"""The convergence benchmark, small, inside `make test`: it keeps bench/converge.py working
and asserts its behaviour (never its timing): everything Ready, no duplicate org, no write
in steady state, no create (or any write) when the operator restarts with everything Ready."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.kube import REPO_ROOT, Cluster

pytestmark = pytest.mark.kube


def load_bench() -> ModuleType:
    path = REPO_ROOT / "bench" / "converge.py"
    spec = importlib.util.spec_from_file_location("ddmsp_bench_converge", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(420)
def test_small_convergence_benchmark(cluster: Cluster, crds: None, tmp_path: Path) -> None:
    bench = load_bench()
    # workers=8, fewer than the objects of each kind: a restart must not depend on there
    # being more worker slots than objects (kopf's indexes once deadlocked it).
    cfg = bench.BenchConfig(orgs=20, roles=1, latency_ms=20, workers=8, steady_seconds=12,
                            steady_drift_interval=4, restart_spread=4, baseline_sample=2,
                            timeout=240, poll=1.0)
    result = bench.run(cfg, cluster.kubeconfig, tmp_path)
    summary = {k: v for k, v in result.items() if k != "calls_by_route"}
    assert result["all_ready"], summary
    assert result["crs"] == 60 and result["orgs_created"] == 20, summary
    assert result["duplicate_orgs"] == 0, summary
    # Exactly the API work the job needs was written: one org, role, upload, settings
    # write and mapping per client (no retry of a write, no second create).
    calls = result["calls_by_route"]
    for route in ("POST /api/v1/org", "POST /api/v2/roles", "POST /api/v2/authn_mappings",
                  "POST /api/v1/org/{public_id}/idp_metadata", "PUT /api/v1/org/{public_id}"):
        assert calls.get(route) == 20, (route, calls)
    # A write's answer is the observation right after it: a created role is not read back
    # by ID (a few later passes may read one), and the org is read three times per client
    # (after its create, by the hand-over's proof of the new key, by the SAML config), not
    # again after the hand-over and after the SAML update (five before).
    assert calls.get("GET /api/v2/roles/{role_id}", 0) <= 5, calls
    assert calls.get("GET /api/v1/org/{public_id}", 0) <= 4 * 20, calls
    assert result["steady_writes"] == 0, summary
    assert result["steady_reads_per_cr_hour"] > 0, summary  # drift checks did run
    assert result["restart_rechecked"] >= result["crs"], summary
    assert result["restart_creates"] == 0 and result["restart_writes"] == 0, summary
    assert result["bound_s"] > 0 and result["baseline_s"] > 0, summary
    assert result["peak_rss_mb"] > 0 and result["cpu_s"] > 0, summary
    assert result["simulator_cpu_ms_per_call"] > 0, summary
    assert result["cpu_per_cr_in_simulator_calls"] > 0, summary


@pytest.mark.timeout(420)
def test_small_benchmark_with_the_per_client_options(cluster: Cluster, crds: None,
                                                     tmp_path: Path) -> None:
    bench = load_bench()
    cfg = bench.BenchConfig(orgs=8, roles=1, latency_ms=20, workers=8, steady_seconds=10,
                            steady_drift_interval=4, restart_spread=4, baseline_sample=0,
                            timeout=240, poll=1.0, settings=True, ops_connection=True,
                            keep_bootstrap_key=True)
    result = bench.run(cfg, cluster.kubeconfig, tmp_path)
    summary = {k: v for k, v in result.items() if "by_route" not in k}
    assert result["all_ready"] and result["ready"]["datadogorgconnections"] == 8, summary
    per_client = result["calls_per_client_by_route"]
    # each option's writes, once per client: four org configs, one connection, no revocation
    assert per_client["PATCH /api/v2/org_configs/{org_config_name}"] == 4, per_client
    assert per_client["POST /api/v2/org_connections"] == 1, per_client
    assert "DELETE /api/v2/application_keys/{app_key_id}" not in per_client, per_client
    assert result["steady_writes"] == 0, summary
    steady = result["steady_calls_by_route"]
    assert steady.get("GET /api/v2/org_connections") and steady.get("GET /api/v2/org_configs")
    assert result["restart_creates"] == 0 and result["restart_writes"] == 0, summary
    assert result["restart_rechecked"] >= result["crs"] + 8, summary
