"""Benchmark: N DatadogClientOrgs applied at once, time until all are Ready.

Starts its own control plane, the simulator and the operator; prints one JSON object:
wall time to all-Ready, throughput, operator peak RSS, Datadog calls per org, and the
cost of one idle drift pass. Run: `python bench/clientorgs_scale.py --count 1000`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from ddmsp.localcluster import ControlPlane  # noqa: E402
from ddmsp.simulator.server import running_simulator  # noqa: E402


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ready_count(objs: client.CustomObjectsApi, namespace: str) -> int:
    items = objs.list_namespaced_custom_object("ddmsp.io", "v1alpha1", namespace,
                                               "datadogclientorgs")["items"]
    return sum(1 for o in items for c in (o.get("status") or {}).get("conditions", [])
               if c["type"] == "Ready" and c["status"] == "True")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    bin_dir = Path(subprocess.run([str(ROOT / "hack" / "build-binaries")], check=True,
                                  capture_output=True, text=True).stdout.split()[-1])
    home = Path(tempfile.mkdtemp(prefix="ddmsp-bench-"))
    plane = ControlPlane(home=home, bin_dir=bin_dir)
    state = plane.up()
    operator = None
    result: dict[str, Any] = {"benchmark": "clientorgs_scale", "count": args.count,
                              "worker_limit": args.workers}
    try:
        subprocess.run([str(bin_dir / "kubectl"), f"--kubeconfig={state.kubeconfig}", "apply",
                        "--server-side", "-f", str(ROOT / "crds")], check=True,
                       capture_output=True)
        subprocess.run([str(bin_dir / "kubectl"), f"--kubeconfig={state.kubeconfig}", "wait",
                        "--for=condition=Established", "crd", "--all"], check=True,
                       capture_output=True)
        api = config.new_client_from_config(config_file=state.kubeconfig)
        core, objs = client.CoreV1Api(api), client.CustomObjectsApi(api)
        ns = "bench"
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        with running_simulator() as sim:
            # Datadog limits org creation (the simulator: 100/hour); the benchmark measures
            # the operator, not that limit.
            sim.set_rate_limit("orgs_create", 1_000_000, 3600)
            core.create_namespaced_secret(ns, client.V1Secret(
                metadata=client.V1ObjectMeta(name="partner"),
                string_data={"api-key": sim.partner_api_key, "app-key": sim.partner_app_key}))
            env = {**os.environ, "KUBECONFIG": state.kubeconfig,
                   "PYTHONPATH": str(ROOT / "operator"), "DDMSP_PARTNER_SECRET": f"{ns}/partner"}

            def start_operator() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    [sys.executable, "-m", "ddmsp", "run", "--namespace", ns, "--datadog-url",
                     sim.base_url, "--liveness", "", "--metrics-port", "0",
                     "--worker-limit", str(args.workers)],
                    stdout=open(home / "operator.log", "ab"),
                    stderr=subprocess.STDOUT, env=env)

            operator = start_operator()
            time.sleep(3)
            start = time.monotonic()
            for i in range(args.count):
                objs.create_namespaced_custom_object("ddmsp.io", "v1alpha1", ns,
                                                     "datadogclientorgs", {
                    "apiVersion": "ddmsp.io/v1alpha1", "kind": "DatadogClientOrg",
                    "metadata": {"name": f"client-{i:04d}"},
                    "spec": {"displayName": f"Client {i:04d}"}})
            applied = time.monotonic() - start
            done = 0
            while time.monotonic() - start < args.timeout:
                done = ready_count(objs, ns)
                if done == args.count:
                    break
                time.sleep(1)
            elapsed = time.monotonic() - start
            calls = sim.calls()
            total_calls = sum(sum(v.values()) for v in calls.values())
            orgs = [o for o in sim.snapshot()["orgs"] if o["name"].startswith("Client ")]
            result.update({
                "ready": done,
                "apply_seconds": round(applied, 2),
                "all_ready_seconds": round(elapsed, 2),
                "orgs_per_second": round(done / elapsed, 2),
                "orgs_created": len(orgs),
                "duplicate_orgs": len(orgs) - len({o["name"] for o in orgs}),
                "datadog_calls_per_org": round(total_calls / max(done, 1), 2),
                "datadog_calls": {k: v for k, v in sorted(calls.items())},
                "operator_peak_rss_mib": round(peak_rss_mib(operator.pid), 1),
            })
            # A restart with every client already Ready: how long until each one has been
            # re-checked, and what that costs in Datadog calls (nothing is created).
            operator.terminate()
            operator.wait(30)
            sim.state.reset_calls()
            restart = time.monotonic()
            operator = start_operator()
            route = "GET /api/v1/org/{public_id}"
            while time.monotonic() - restart < args.timeout:
                if sum(sim.calls().get(route, {}).values()) >= args.count:
                    break
                time.sleep(0.5)
            resumed = time.monotonic() - restart
            time.sleep(3)  # let stragglers land before counting
            calls = sim.calls()
            result.update({
                "restart_all_rechecked_seconds": round(resumed, 2),
                "restart_datadog_calls": {k: v for k, v in sorted(calls.items())},
                "restart_creates": sum(calls.get("POST /api/v1/org", {}).values()),
            })
    finally:
        if operator and operator.poll() is None:
            operator.terminate()
            operator.wait(20)
        plane.down()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0 if result.get("ready") == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
