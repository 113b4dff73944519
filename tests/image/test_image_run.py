"""The operator image, built from the project's Dockerfile and run as the chart's Deployment
runs it (issue 20): its rendered args and env, read-only root, uid 10001, no capabilities,
no privilege escalation, /tmp a tmpfs, the memory limit, the chart's ServiceAccount token
where a pod has it. The examples' org + role + SAML + user converge to Ready against the
simulator, the probes answer, SIGTERM stops it cleanly within the grace period.

Docker stands in for the kubelet (tests/image/chartrun.py says what differs); skipped, with
the reason, where no Docker engine can run (failed instead under CI, which sets one up).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ddmsp.simulator.server import RunningSimulator
from tests.image.chartrun import SCENARIO, run_scenario
from tests.support.kube import Cluster

# One xdist worker owns the Docker engine (it starts and stops the dockerd it needs).
pytestmark = [pytest.mark.kube, pytest.mark.docker, pytest.mark.xdist_group("docker")]


def in_image(image: str, user: str, code: str) -> str:
    out = subprocess.run(["docker", "run", "--rm", "--read-only", "--cap-drop=ALL",
                          "--user", user, "--entrypoint", "python", image, "-c", code],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_uid_10001_has_a_passwd_entry(image: str) -> None:
    assert in_image(image, "10001:10001", "import getpass; print(getpass.getuser())") == "ddmsp"


def test_an_unknown_uid_still_gets_an_identity(image: str) -> None:
    """The operator side alone: a uid the image does not know (OpenShift's arbitrary
    uids), no USER/LOGNAME: getpass fails, ddmsp's identity does not."""
    code = ("import getpass\n"
            "try:\n    getpass.getuser(); print('getpass-ok')\n"
            "except KeyError:\n    print('getpass-fails')\n"
            "from ddmsp.peering_identity import peering_identity; print(peering_identity())")
    lines = in_image(image, "12345:12345", code).splitlines()
    assert lines[0] == "getpass-fails"
    assert lines[1].startswith("uid12345@")


@pytest.mark.timeout(900)
def test_image_runs_the_examples_to_ready_the_charts_way(
        image: str, cluster: Cluster, namespace: str, crds: None, sim: RunningSimulator,
        tmp_path: Path, record_property: pytest.RecordProperty) -> None:
    out = run_scenario(cluster, namespace, sim.base_url,
                       {"api-key": sim.partner_api_key, "app-key": sim.partner_app_key},
                       image, tmp_path)
    pod = out.pod
    # The chart's promises this run honoured (a changed chart fails here, not silently).
    assert pod.user == "10001:10001" and pod.read_only and pod.cap_drop == ["ALL"]
    assert pod.no_new_privileges and "/tmp" in pod.tmpfs and pod.memory
    assert pod.args[0] == "run" and f"--namespace={namespace}" in pod.args
    record_property("image_bytes", out.image_bytes)
    record_property("seconds_to_ready", round(out.to_ready, 1))
    print(f"image {out.image_bytes / 1e6:.0f} MB; /healthz after {out.to_healthz:.1f}s, "
          f"/readyz after {out.to_readyz:.1f}s, {len(SCENARIO)} objects Ready after "
          f"{out.to_ready:.1f}s; stopped in {out.stop_seconds:.1f}s")
    assert out.probe_status == {pod.health.path: 200, pod.ready.path: 200}
    log = out.log
    for bad in ("Traceback", "getpwuid", "Read-only file system", "Permission denied",
                "Forbidden"):
        assert bad not in log, f"{bad!r} in the operator's log:\n{log[-3000:]}"
    # SIGTERM: a clean exit well within the grace period, not docker's SIGKILL after it.
    assert out.exit_code == 0 and not out.oom_killed, log[-3000:]
    assert out.stop_seconds < pod.grace, (out.stop_seconds, pod.grace)
    assert "Signal SIGTERM is received" in log, log[-3000:]
    # ddmsp's cleanup ran to the end (queues drained, Datadog clients closed), after SIGTERM.
    assert re.search(r"Activity '[\w.<>]*close' succeeded", log.split("SIGTERM")[-1]), \
        log[-3000:]


def test_bytecode_is_precompiled_in_the_image(image: str) -> None:
    """Nothing compiles at runtime on the read-only root: every module has its bytecode."""
    code = ("import importlib.util, pathlib\n"
            "py = list(pathlib.Path('/opt/ddmsp').rglob('*.py'))\n"
            "missing = [str(p) for p in py\n"
            "           if not pathlib.Path(importlib.util.cache_from_source(str(p))).exists()]\n"
            "print(len(py), len(missing), missing[:5])")
    total, missing, sample = in_image(image, "10001:10001", code).split(" ", 2)
    assert int(total) > 1000 and int(missing) == 0, sample
