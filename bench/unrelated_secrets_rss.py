"""Benchmark: does the operator's memory grow with Secrets it has no business with?

Starts its own control plane and the simulator, provisions one client org with a
DatadogSAMLConfig reading a ConfigMap, and runs the operator cluster-wide twice: once
with no other Secrets, once with ``--count`` unrelated Secrets of ``--size-kib`` KiB each
in another namespace. Prints one JSON object with the operator's peak RSS (VmHWM) in both
runs. ``--operator-src DIR`` runs another checkout's operator (e.g. the code before the
least-privilege change) against the same scenario.

Run: `python bench/unrelated_secrets_rss.py --count 5000 --size-kib 100`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
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
sys.path.insert(0, str(ROOT))

from tests.support.samlmeta import metadata  # noqa: E402

from ddmsp.localcluster import ControlPlane  # noqa: E402
from ddmsp.simulator.server import running_simulator  # noqa: E402

GROUP, VERSION = "ddmsp.io", "v1alpha1"


def proc_status(pid: int, field: str) -> float:
    """A /proc/PID/status memory field in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ready(objs: client.CustomObjectsApi, ns: str, plural: str, name: str) -> bool:
    try:
        obj = objs.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
    except client.ApiException:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (obj.get("status") or {}).get("conditions", []))


def create_noise(core: client.CoreV1Api, ns: str, count: int, size_kib: int) -> float:
    """``count`` Opaque Secrets of ``size_kib`` KiB each; returns the seconds it took."""
    payload = os.urandom(size_kib * 1024 * 3 // 4).hex()[: size_kib * 1024 * 3 // 4]
    start = time.monotonic()

    def one(i: int) -> None:
        core.create_namespaced_secret(ns, client.V1Secret(
            metadata=client.V1ObjectMeta(name=f"noise-{i:05d}"), string_data={"blob": payload}))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))
    return time.monotonic() - start


def measure(env: dict[str, str], sim_url: str, objs: client.CustomObjectsApi, ns: str,
            log: Path, settle: float, timeout: float) -> dict[str, Any]:
    """Start the operator cluster-wide, wait for the SAML config, settle, read its RSS."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ddmsp", "run", "--datadog-url", sim_url, "--liveness", "",
         "--metrics-port", "0"], stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env)  # noqa: SIM115
    start = time.monotonic()
    try:
        while not ready(objs, ns, "datadogsamlconfigs", "sso"):
            if time.monotonic() - start > timeout or proc.poll() is not None:
                raise RuntimeError(f"SAML config not Ready; see {log}")
            time.sleep(0.5)
        ready_after = time.monotonic() - start
        time.sleep(settle)
        return {"ready_seconds": round(ready_after, 1),
                "peak_rss_mib": round(proc_status(proc.pid, "VmHWM"), 1),
                "rss_mib": round(proc_status(proc.pid, "VmRSS"), 1)}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--size-kib", type=int, default=100)
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--operator-src", type=Path, default=ROOT / "operator")
    args = parser.parse_args()

    bin_dir = Path(subprocess.run([str(ROOT / "hack" / "build-binaries")], check=True,
                                  capture_output=True, text=True).stdout.split()[-1])
    home = Path(tempfile.mkdtemp(prefix="ddmsp-bench-rss-"))
    plane = ControlPlane(home=home, bin_dir=bin_dir)
    state = plane.up()
    result: dict[str, Any] = {"benchmark": "unrelated_secrets_rss", "count": args.count,
                              "size_kib": args.size_kib,
                              "operator_src": str(args.operator_src.resolve())}
    try:
        kubectl = [str(bin_dir / "kubectl"), f"--kubeconfig={state.kubeconfig}"]
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")],
                       check=True, capture_output=True)
        subprocess.run([*kubectl, "wait", "--for=condition=Established", "crd", "--all"],
                       check=True, capture_output=True)
        api = config.new_client_from_config(config_file=state.kubeconfig)
        core, objs = client.CoreV1Api(api), client.CustomObjectsApi(api)
        ns, noise = "bench", "unrelated"
        for name in (ns, noise):
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        with running_simulator() as sim:
            core.create_namespaced_secret(ns, client.V1Secret(
                metadata=client.V1ObjectMeta(name="partner"),
                string_data={"api-key": sim.partner_api_key, "app-key": sim.partner_app_key}))
            core.create_namespaced_config_map(ns, client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="idp"), data={"xml": metadata()}))
            objs.create_namespaced_custom_object(GROUP, VERSION, ns, "datadogclientorgs", {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogClientOrg",
                "metadata": {"name": "acme"}, "spec": {"displayName": "Acme"}})
            objs.create_namespaced_custom_object(GROUP, VERSION, ns, "datadogsamlconfigs", {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogSAMLConfig",
                "metadata": {"name": "sso"},
                "spec": {"orgRef": {"name": "acme"}, "enabled": True,
                         "idpMetadata": {"configMapKeyRef": {"name": "idp", "key": "xml"}}}})
            env = {**os.environ, "KUBECONFIG": state.kubeconfig,
                   "PYTHONPATH": str(args.operator_src.resolve()),
                   "DDMSP_PARTNER_SECRET": f"{ns}/partner"}
            log = home / "operator.log"
            result["without_unrelated_secrets"] = measure(env, sim.base_url, objs, ns, log,
                                                          args.settle, args.timeout)
            result["create_unrelated_seconds"] = round(
                create_noise(core, noise, args.count, args.size_kib), 1)
            result["with_unrelated_secrets"] = measure(env, sim.base_url, objs, ns, log,
                                                       args.settle, args.timeout)
            result["growth_mib"] = round(result["with_unrelated_secrets"]["peak_rss_mib"]
                                         - result["without_unrelated_secrets"]["peak_rss_mib"],
                                         1)
    finally:
        plane.down()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
