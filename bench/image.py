"""Benchmark: the operator image's size and its time from `docker run` to Ready (issue 20).

Builds the image from the project's Dockerfile on the local Debian base (hack/image), runs
it the chart's way (tests/image/chartrun.py: the installed Deployment's args, env and
security context, the chart's ServiceAccount token, host networking) against a local
control plane and the simulator, with the examples' org + role + SAML config + user applied
just before; prints ONE JSON object and writes it to bench/results/image.json.

    python bench/image.py [--runs 3] [--out bench/results/image.json]

Fields: image_bytes (`docker image inspect .Size`), per run the seconds from `docker run`
to /healthz 200, to /readyz 200 and to all four objects Ready, and SIGTERM-to-exit; the
median of each; the machine's core count (the machine is shared: figures are indicative).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "operator"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from kubernetes import client  # noqa: E402
from tests.image.chartrun import build_image, engine_up, image_size, run_scenario  # noqa: E402
from tests.support.kube import Cluster, build_binaries, unique_name  # noqa: E402

from ddmsp.simulator.server import running_simulator  # noqa: E402


def install_crds(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    time.sleep(2)  # a fresh CRD's storage may still answer 429 for a moment


def one_run(cluster: Cluster, image: str, work: Path) -> dict[str, Any]:
    namespace = unique_name("img")
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        with running_simulator() as sim:
            out = run_scenario(cluster, namespace, sim.base_url,
                               {"api-key": sim.partner_api_key,
                                "app-key": sim.partner_app_key}, image, work / namespace)
        if out.exit_code != 0:
            raise SystemExit(f"the container exited {out.exit_code} at SIGTERM")
        return {"to_healthz_s": round(out.to_healthz, 2), "to_readyz_s": round(out.to_readyz, 2),
                "to_ready_s": round(out.to_ready, 2), "sigterm_to_exit_s":
                round(out.stop_seconds, 2), "exit_code": out.exit_code}
    finally:
        core.delete_namespace(namespace)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "image.json")
    args = parser.parse_args()
    engine = engine_up()
    work = Path(tempfile.mkdtemp(prefix="ddmsp-bench-image-"))
    try:
        t0 = time.monotonic()
        image = build_image("ddmsp:bench")
        build_s = time.monotonic() - t0
        from ddmsp.localcluster import ControlPlane

        bin_dir = build_binaries()
        plane = ControlPlane(home=work / "cp", bin_dir=bin_dir)
        state = plane.up()
        try:
            cluster = Cluster(Path(state.kubeconfig), bin_dir, owned=True)
            install_crds(cluster)
            runs = [one_run(cluster, image, work) for _ in range(args.runs)]
        finally:
            plane.down()
        result = {
            "benchmark": "image",
            "image_bytes": image_size(image),
            "image_mb": round(image_size(image) / 1e6, 1),
            "base": "Debian bookworm by debootstrap + python3 3.11 (hack/image base)",
            "build_s": round(build_s, 1),  # with whatever layers and base were cached
            "scenario": "examples/: clientorg-childorg, role-acme, saml-acme, user-acme",
            "runs": runs,
            "median_to_readyz_s": statistics.median(r["to_readyz_s"] for r in runs),
            "median_to_ready_s": statistics.median(r["to_ready_s"] for r in runs),
            "median_sigterm_to_exit_s": statistics.median(r["sigterm_to_exit_s"] for r in runs),
            "cpus": os.cpu_count(),
        }
    finally:
        engine.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2)
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
