"""The upgrade path: the previous release of the chart and of the operator (git commit
PREVIOUS, extracted with `git archive`) runs live objects to Ready; then the documented
upgrade (new CRDs applied server-side, `helm upgrade --reuse-values`, the Deployment's
Pod replaced: old process stopped, new one started with the new chart's environment and
RBAC). Every object stays Ready throughout and the new operator, having re-read every
object and Datadog, writes nothing to Datadog (the simulator counts requests)."""

from __future__ import annotations

import subprocess
import tarfile
import time
from io import BytesIO
from pathlib import Path

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from tests.integration.conftest import GROUP, VERSION
from tests.support.chart import chart_operator, helm
from tests.support.kube import REPO_ROOT, Cluster, unique_name
from tests.support.operator import refusals_in, wait_for

pytestmark = pytest.mark.kube

PREVIOUS = "5cf0e2b"  # main when metrics went behind authorisation (chart 0.1.0)
OBJECTS = {"datadogclientorgs": "acme", "datadogroles": "acme-sre",
           "datadogsamlconfigs": "acme-sso", "datadogusers": "acme-oncall"}
EXAMPLES = ["clientorg-childorg.yaml", "role-acme.yaml", "saml-acme.yaml", "user-acme.yaml"]


HANDOVER_WRITES = {"POST /api/v2/service_accounts": 1,
                   "POST /api/v2/service_accounts/{service_account_id}/application_keys": 1,
                   "DELETE /api/v2/application_keys/{app_key_id}": 1}

def extract_previous(into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", PREVIOUS, "helm/ddmsp",
                              "operator"], capture_output=True, timeout=120)
    if archive.returncode != 0:
        pytest.skip(f"commit {PREVIOUS} not in this clone's history: "
                    f"{archive.stderr.decode()[:200]}")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def writes(sim: RunningSimulator) -> dict[str, int]:
    return {route: sum(by_status.values()) for route, by_status in sim.calls().items()
            if not route.startswith(("GET ", "HEAD "))}


def reads(sim: RunningSimulator) -> int:
    return sum(sum(s.values()) for r, s in sim.calls().items() if r.startswith("GET "))


def ready(api: client.ApiClient, ns: str) -> dict[str, tuple[str, str]]:
    """Ready status and lastTransitionTime per object."""
    objects = client.CustomObjectsApi(api)
    out = {}
    for plural, name in OBJECTS.items():
        obj = objects.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
        cond = next((c for c in (obj.get("status") or {}).get("conditions") or []
                     if c["type"] == "Ready"), {})
        out[name] = (cond.get("status", "?"), cond.get("lastTransitionTime", ""))
    return out


def test_upgrade_from_the_previous_chart_keeps_objects_ready_without_datadog_writes(
        cluster: Cluster, api: client.ApiClient, namespace: str, crds: None,
        sim: RunningSimulator, partner_secret: str, tmp_path: Path) -> None:
    if cluster.bin_dir is None:
        pytest.skip("helm comes from hack/build-binaries")
    old = extract_previous(tmp_path / "previous")
    values = ["--set", f"watchNamespaces={{{namespace}}}",
              "--set", f"partnerCredentials.existingSecret={partner_secret}",
              "--set", f"datadogUrl={sim.base_url}"]
    release = unique_name("up")
    # The previous CRDs, as the previous release installed them (restored in finally).
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f",
                    str(old / "helm" / "ddmsp" / "crds"))
    try:
        helm(cluster, "install", release, str(old / "helm" / "ddmsp"), "-n", namespace,
             "--skip-crds", *values)
        before = chart_operator(cluster, release, namespace, [namespace], sim.base_url,
                                tmp_path, "previous.log", code=old / "operator")
        before.start()
        try:
            for example in EXAMPLES:
                cluster.kubectl("-n", namespace, "apply", "-f",
                                str(REPO_ROOT / "examples" / example))
            try:
                wait_for(lambda: all(s == "True" for s, _ in ready(api, namespace).values()),
                         timeout=180, what=f"all Ready under {PREVIOUS}")
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {ready(api, namespace)}; log:\n"
                                     f"{before.log()[-3000:]}") from None
            settled = ready(api, namespace)
        finally:
            before.stop()  # the Recreate strategy: the old Pod goes first
        written = writes(sim)
        read_before = reads(sim)

        # The documented upgrade (docs/operations.md#upgrading-crds).
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f",
                        str(REPO_ROOT / "helm" / "ddmsp" / "crds"))
        helm(cluster, "upgrade", release, str(REPO_ROOT / "helm" / "ddmsp"), "-n", namespace,
             "--reuse-values")
        assert ready(api, namespace) == settled  # CRD and chart change alone touch nothing
        after = chart_operator(cluster, release, namespace, [namespace], sim.base_url,
                               tmp_path, "upgraded.log",
                               # re-check the Ready objects at once, not spread over 60 s
                               extra_env={"DDMSP_RESTART_SPREAD": "1"})
        after.start()
        try:
            # The new operator re-reads every object from Datadog (GETs) and finds nothing
            # to do; Ready never flips meanwhile.
            deadline = time.monotonic() + 90
            quiet_until: float | None = None  # 15 s more once the re-reads began
            seen = []
            while time.monotonic() < (quiet_until or deadline):
                seen.append(ready(api, namespace))
                if quiet_until is None and reads(sim) - read_before >= len(OBJECTS):
                    quiet_until = time.monotonic() + 15
                time.sleep(0.5)
            assert reads(sim) - read_before >= len(OBJECTS), (
                "the upgraded operator never read Datadog; log:\n" + after.log()[-3000:])
            assert all(state == settled for state in seen), [
                s for s in seen if s != settled][:3]
            # The only writes: the one client org's service-account hand-over, which every
            # org made before it does once on its first pass after the upgrade (issue 21,
            # docs/credentials.md); nothing else is written, and Ready never flipped.
            added = {route: n - written.get(route, 0) for route, n in writes(sim).items()
                     if n != written.get(route, 0)}
            assert added == HANDOVER_WRITES, added
            log = after.log()
            assert not refusals_in(log) and "Traceback" not in log, log[-3000:]
            print(f"upgrade: {reads(sim) - read_before} Datadog reads, only the hand-over's "
                  "writes, "
                  f"{len(seen)} Ready samples all unchanged")
        finally:
            after.stop()
    finally:
        helm(cluster, "uninstall", release, "-n", namespace, check=False)
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f",
                        str(REPO_ROOT / "crds"))
