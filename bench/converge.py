"""Benchmark: N client orgs, each with R roles and one SAML config, from apply to all Ready.

Runs the real operator (a subprocess) against a real kube-apiserver and the simulator at a
Datadog-like latency and per-endpoint rate limits; prints ONE JSON object (see
``bench/README.md`` for every field, the bound's model and the default rate limits).

    python bench/converge.py --orgs 200 --roles 3            # starts its own control plane
    python bench/converge.py --orgs 200 --settings --ops-connection   # the per-client options
    KUBECONFIG=~/.cache/ddmsp/kubeconfig python bench/converge.py   # a `hack/controlplane up`

Phases: converge (apply everything at once, wait for all Ready), steady state (no change
for M minutes with a short drift interval: writes must be 0), restart (stop and start the
operator with everything Ready: time until every object was re-checked, creates must be 0),
baseline (a plain sequential script with the official ``datadog-api-client`` doing the
same API work against the same simulator, on a sample of orgs, extrapolated).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "operator"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from kubernetes import client  # noqa: E402
from tests.support.kube import build_binaries, existing_cluster, unique_name  # noqa: E402
from tests.support.operator import OperatorProcess, reconciles_total  # noqa: E402
from tests.support.samlmeta import metadata  # noqa: E402
from tests.support.simulator import SimulatorProcess  # noqa: E402

GROUP, VERSION = "ddmsp.io", "v1alpha1"
ORGS, ROLES, SAML = "datadogclientorgs", "datadogroles", "datadogsamlconfigs"
CONNS = "datadogorgconnections"  # owned by each client with --ops-connection
# --settings: a typical spec.settings of an MSP's client (four org configs; the v1
# privateWidgetShare is left out: Datadog's default already, it would write nothing).
TYPICAL_SETTINGS: dict[str, Any] = {
    "monitorTimezone": "Europe/Paris",
    "securityContacts": ["soc@msp.example"],
    "teamsProvisioningSources": "saml_and_manually",
    "restrictExportToCsv": True,
}

# The benchmark's rate limits (limit, period s), per calling org and bucket. Datadog
# publishes none of these numbers (its docs only name the X-RateLimit-* headers); see
# bench/README.md for why each was chosen.
BENCH_RATE_LIMITS: dict[str, tuple[int, int]] = {
    "validate": (1000, 60),
    "orgs_read": (1000, 60),
    "orgs_write": (300, 60),
    "orgs_create": (1200, 3600),
    "roles": (1000, 60),
    "permissions": (1000, 60),
    "authn_mappings": (1000, 60),
    "saml": (100, 60),
    "org_configs": (1000, 60),
    "org_connections": (1000, 60),
}
PERMISSIONS = ["monitors_write", "dashboards_write", "monitors_downtime", "synthetics_read"]
PARTNER_CONCURRENCY = 8  # DatadogClient's max_concurrency per key pair (operator default)
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
KUBE_RESOURCES = ("datadog", "secrets", "events", "leases", "configmaps")
KUBE_WRITES = ("POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE")


@dataclass
class BenchConfig:
    """One run's shape; the defaults are the issue's 'meaningful size' at Datadog latency."""

    orgs: int = 200
    roles: int = 3
    latency_ms: int = 150
    workers: int = 64
    steady_seconds: float = 60.0
    steady_drift_interval: float = 20.0
    restart_spread: float = 60.0
    baseline_sample: int = 10
    timeout: float = 1800.0
    poll: float = 2.0
    provisioning: str = "ChildOrg"
    settings: bool = False  # each client sets TYPICAL_SETTINGS (spec.settings)
    ops_connection: bool = False  # each client connects to the partner org (opsOrgConnection)
    keep_bootstrap_key: bool = False  # spec.credentials.keepBootstrapKey: no key revocation
    profile: str | None = None  # py-spy collapsed stacks of the operator while converging
    profile_restart: str | None = None  # the same for the restart phase
    memray_restart: str | None = None  # a memray capture of the restarted operator
    rate_limits: dict[str, tuple[int, int]] = field(
        default_factory=lambda: dict(BENCH_RATE_LIMITS))


# ---------------------------------------------------------------------- the bound
def api_work(cfg: BenchConfig) -> dict[str, int]:
    """The API writes the job needs, per bucket (what the baseline script also does)."""
    n, r = cfg.orgs, cfg.roles
    return {"orgs_create": n, "roles": n * r, "saml": n, "orgs_write": n,
            "authn_mappings": n * r}


def bound_seconds(cfg: BenchConfig) -> float:
    """The least time the limits, latency and ordering allow at the operator's concurrency.

    Model (every term a lower bound): org creates all go through the partner's keys, at
    most ``PARTNER_CONCURRENCY`` in flight and at most ``limit`` per ``period`` window of
    the partner's ``orgs_create`` bucket; the last org is then followed by its dependent
    chain role create -> authn mapping create (2 round trips; the metadata upload and the
    settings write overlap). Separately, every object pass holds one of ``workers``
    slots while its writes run one after another, so the total write time divided by the
    worker count is a bound too. Reads are not counted: the operator chooses them.
    Per child org buckets are counted too (a child's R role creates within its window).
    """
    lat = cfg.latency_ms / 1000
    n, r = cfg.orgs, cfg.roles
    limit, period = cfg.rate_limits.get("orgs_create", (10**9, 1))
    creates = max(math.ceil(n / PARTNER_CONCURRENCY) * lat,
                  (max(0, n - 1) // limit) * period + lat)
    chain = 2 * lat if r else lat
    per_child = 0.0
    for bucket, count in (("roles", r), ("authn_mappings", r), ("saml", 1), ("orgs_write", 1)):
        blimit, bperiod = cfg.rate_limits.get(bucket, (10**9, 1))
        per_child = max(per_child, (max(0, count - 1) // blimit) * bperiod)
    object_time = n * lat + n * r * lat + n * (2 + r) * lat  # org, roles, SAML passes
    return max(creates + chain + per_child, object_time / cfg.workers)


# ---------------------------------------------------------------------- objects
def objects_for(cfg: BenchConfig, index: int, idp_xml: str) -> list[tuple[str, dict[str, Any]]]:
    """One client: its org, R roles and a SAML config mapping one group to each role."""
    name = f"c{index:04d}"
    spec: dict[str, Any] = {"displayName": f"Bench Client {index:04d}",
                            "provisioning": cfg.provisioning}
    if cfg.settings:
        spec["settings"] = dict(TYPICAL_SETTINGS)
    if cfg.ops_connection:
        spec["opsOrgConnection"] = {"connectionTypes": ["metrics", "logs"]}
    if cfg.keep_bootstrap_key:
        spec["credentials"] = {"keepBootstrapKey": True}
    out: list[tuple[str, dict[str, Any]]] = [(ORGS, {"metadata": {"name": name}, "spec": spec})]
    roles = [f"{name}-r{j}" for j in range(cfg.roles)]
    for j, role in enumerate(roles):
        perms = [PERMISSIONS[(j + k) % len(PERMISSIONS)] for k in range(2)]
        out.append((ROLES, {"metadata": {"name": role},
                            "spec": {"orgRef": {"name": name}, "permissions": perms}}))
    out.append((SAML, {"metadata": {"name": f"{name}-sso"}, "spec": {
        "orgRef": {"name": name}, "idpMetadata": {"inline": idp_xml}, "enabled": True,
        "roleMappings": [{"attributeKey": "groups", "attributeValue": f"g{j}",
                          "roleRef": {"name": role}} for j, role in enumerate(roles)],
    }}))
    return out


def manifests(cfg: BenchConfig, idp_xml: str) -> list[list[dict[str, Any]]]:
    """Every client's objects as applyable manifests, one list per client."""
    kinds = {ORGS: "DatadogClientOrg", ROLES: "DatadogRole", SAML: "DatadogSAMLConfig"}
    return [[{"apiVersion": f"{GROUP}/{VERSION}", "kind": kinds[plural], **body}
             for plural, body in objects_for(cfg, i, idp_xml)] for i in range(cfg.orgs)]


def is_ready(body: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (body.get("status") or {}).get("conditions") or [])


class ReadyWatch:
    """The names of Ready objects per plural, kept current by one watch per plural.

    Why a watch: LISTing thousands of objects every few seconds costs the API server more
    CPU than a good part of the operator's own work on the same two cores; a watch event is
    encoded once for every watcher (the operator's too).
    """

    def __init__(self, api: Any, ns: str, plurals: list[str]) -> None:
        self.ready: dict[str, set[str]] = {p: set() for p in plurals}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._objs = client.CustomObjectsApi(api)
        self._ns = ns
        self._threads = [threading.Thread(target=self._follow, args=(p,), daemon=True,
                                          name=f"watch-{p}") for p in plurals]
        for thread in self._threads:
            thread.start()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {p: len(names) for p, names in self.ready.items()}

    def _follow(self, plural: str) -> None:
        from kubernetes import watch

        version = ""
        while not self._stop.is_set():
            try:
                if not version:  # (re)list: the whole truth, then changes from there
                    listing = self._objs.list_namespaced_custom_object(
                        GROUP, VERSION, self._ns, plural)
                    with self._lock:
                        self.ready[plural] = {o["metadata"]["name"] for o in listing["items"]
                                              if is_ready(o)}
                    version = listing["metadata"]["resourceVersion"]
                stream = watch.Watch().stream(
                    self._objs.list_namespaced_custom_object, GROUP, VERSION, self._ns,
                    plural, resource_version=version, timeout_seconds=5,
                    allow_watch_bookmarks=True)
                for event in stream:
                    body = event["object"]
                    if event["type"] == "ERROR":
                        version = ""  # expired: list again
                        break
                    version = body["metadata"]["resourceVersion"]
                    if event["type"] == "BOOKMARK":
                        continue
                    name = body["metadata"]["name"]
                    with self._lock:
                        if event["type"] != "DELETED" and is_ready(body):
                            self.ready[plural].add(name)
                        else:
                            self.ready[plural].discard(name)
            except Exception:  # a broken watch is re-listed, never fatal
                version = ""
                time.sleep(1)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def apply_all(kubeconfig: Path, ns: str, clients: list[list[dict[str, Any]]], workdir: Path,
              processes: int = 8) -> None:
    """Create every object with ``processes`` kubectl processes in parallel (what a GitOps
    sync or a platform team's script does), each client's objects in order within one."""
    import subprocess

    kubectl = str(build_binaries() / "kubectl")
    procs = []
    for k in range(processes):
        items = [body for i in range(k, len(clients), processes) for body in clients[i]]
        if not items:
            continue
        path = workdir / f"apply-{k}.json"
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        procs.append(subprocess.Popen(
            [kubectl, f"--kubeconfig={kubeconfig}", "-n", ns, "create", "-f", str(path),
             "-o", "name"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    errors = [err for proc in procs if (err := proc.communicate()[1]) and proc.returncode]
    if errors:
        raise RuntimeError(f"kubectl create failed: {errors[0][-2000:]}")


def apiserver_requests(api: Any) -> dict[str, float]:
    """kube-apiserver's request counters (its /metrics) by "VERB resource[/subresource]"."""
    from prometheus_client.parser import text_string_to_metric_families

    conf = api.configuration
    headers = {"Authorization": conf.api_key["BearerToken"]} if conf.api_key else {}
    got = api.rest_client.pool_manager.request("GET", f"{conf.host}/metrics", headers=headers)
    if got.status != 200:
        return {}  # not allowed to read metrics: the field stays empty
    text = got.data.decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            if sample.name != "apiserver_request_total":
                continue
            labels = sample.labels
            sub = labels.get("subresource")
            route = f"{labels.get('verb')} {labels.get('resource')}{'/' + sub if sub else ''}"
            out[route] = out.get(route, 0) + sample.value
    return out


# ---------------------------------------------------------------------- process facts
def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (its own, not its children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """This process's CPU and that of its waited-for children (the kubectl processes)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def split_calls(calls: dict[str, dict[int, int]]) -> tuple[int, int, int]:
    """(reads, writes, 429 answers) from the simulator's call counts."""
    reads = writes = limited = 0
    for route, by_status in calls.items():
        n = sum(by_status.values())
        if route.split(" ", 1)[0] in WRITE_METHODS:
            writes += n
        else:
            reads += n
        limited += by_status.get(429, 0)
    return reads, writes, limited


def per_client(calls: dict[str, dict[int, int]], orgs: int) -> dict[str, Any]:
    """Datadog calls per client while converging: the cost of each option is the difference
    between runs with and without it (same orgs, roles and limits)."""
    reads, writes, _ = split_calls(calls)
    return {
        "api_calls_per_client": round((reads + writes) / orgs, 2),
        "api_reads_per_client": round(reads / orgs, 2),
        "api_writes_per_client": round(writes / orgs, 2),
        "calls_per_client_by_route": {k: round(sum(v.values()) / orgs, 2)
                                      for k, v in sorted(calls.items())},
    }


def creates(calls: dict[str, dict[int, int]]) -> int:
    return sum(sum(v.values()) for k, v in calls.items()
               if k in ("POST /api/v1/org", "POST /api/v2/roles", "POST /api/v2/authn_mappings"))


# ---------------------------------------------------------------------- baseline
def baseline_seconds(sim: SimulatorProcess, cfg: BenchConfig, idp_xml: str) -> tuple[float, int]:
    """A plain sequential script with the official client: the same writes for ``sample``
    orgs (plus one permission listing); returns (seconds, orgs done)."""
    from datadog_api_client import ApiClient, Configuration
    from datadog_api_client.v1.api.organizations_api import OrganizationsApi
    from datadog_api_client.v1.model.organization import Organization
    from datadog_api_client.v1.model.organization_create_body import OrganizationCreateBody
    from datadog_api_client.v1.model.organization_settings import OrganizationSettings
    from datadog_api_client.v1.model.organization_settings_saml import (
        OrganizationSettingsSaml,
    )
    from datadog_api_client.v2.api.authn_mappings_api import AuthNMappingsApi
    from datadog_api_client.v2.api.roles_api import RolesApi
    from datadog_api_client.v2.model.authn_mapping_create_attributes import (
        AuthNMappingCreateAttributes,
    )
    from datadog_api_client.v2.model.authn_mapping_create_data import AuthNMappingCreateData
    from datadog_api_client.v2.model.authn_mapping_create_request import (
        AuthNMappingCreateRequest,
    )
    from datadog_api_client.v2.model.authn_mapping_relationship_to_role import (
        AuthNMappingRelationshipToRole,
    )
    from datadog_api_client.v2.model.authn_mappings_type import AuthNMappingsType
    from datadog_api_client.v2.model.permissions_type import PermissionsType
    from datadog_api_client.v2.model.relationship_to_permission_data import (
        RelationshipToPermissionData,
    )
    from datadog_api_client.v2.model.relationship_to_permissions import (
        RelationshipToPermissions,
    )
    from datadog_api_client.v2.model.relationship_to_role import RelationshipToRole
    from datadog_api_client.v2.model.relationship_to_role_data import RelationshipToRoleData
    from datadog_api_client.v2.model.role_create_attributes import RoleCreateAttributes
    from datadog_api_client.v2.model.role_create_data import RoleCreateData
    from datadog_api_client.v2.model.role_create_request import RoleCreateRequest
    from datadog_api_client.v2.model.role_relationships import RoleRelationships
    from datadog_api_client.v2.model.roles_type import RolesType

    def api(api_key: str, app_key: str) -> ApiClient:
        conf = Configuration(host=sim.base_url)
        conf.api_key["apiKeyAuth"] = api_key
        conf.api_key["appKeyAuth"] = app_key
        conf.enable_retry = True  # what a user would switch on: 429s are waited out
        return ApiClient(conf)

    sample = min(cfg.baseline_sample, cfg.orgs)
    start = time.monotonic()
    with api(sim.partner_api_key, sim.partner_app_key) as partner:
        catalogue = {p.attributes.name: p.id for p in RolesApi(partner).list_permissions().data}
        for i in range(sample):
            made = OrganizationsApi(partner).create_child_org(
                OrganizationCreateBody(name=f"Baseline Client {i:04d}"))
            public_id = made.org.public_id
            with api(made.api_key.key, made.application_key.hash) as child:
                role_ids = []
                for j in range(cfg.roles):
                    perms = [PERMISSIONS[(j + k) % len(PERMISSIONS)] for k in range(2)]
                    role = RolesApi(child).create_role(RoleCreateRequest(data=RoleCreateData(
                        type=RolesType.ROLES,
                        attributes=RoleCreateAttributes(name=f"baseline-{i:04d}-r{j}"),
                        relationships=RoleRelationships(permissions=RelationshipToPermissions(
                            data=[RelationshipToPermissionData(
                                id=catalogue[p], type=PermissionsType.PERMISSIONS)
                                for p in perms])))))
                    role_ids.append(role.data.id)
                raw = io.BytesIO(idp_xml.encode())
                raw.name = "idp.xml"  # type: ignore[attr-defined]
                orgs = OrganizationsApi(child)
                orgs.upload_idp_for_org(public_id, idp_file=io.BufferedReader(raw))  # type: ignore[arg-type]
                orgs.update_org(public_id, Organization(settings=OrganizationSettings(
                    saml=OrganizationSettingsSaml(enabled=True))))
                for j, role_id in enumerate(role_ids):
                    AuthNMappingsApi(child).create_authn_mapping(AuthNMappingCreateRequest(
                        data=AuthNMappingCreateData(
                            type=AuthNMappingsType.AUTHN_MAPPINGS,
                            attributes=AuthNMappingCreateAttributes(
                                attribute_key="groups", attribute_value=f"g{j}"),
                            relationships=AuthNMappingRelationshipToRole(role=RelationshipToRole(
                                data=RelationshipToRoleData(id=role_id,
                                                            type=RolesType.ROLES))))))
    return time.monotonic() - start, sample


# ---------------------------------------------------------------------- the run
@contextlib.contextmanager
def control_plane(kubeconfig: str | None) -> Iterator[Path]:
    """The kubeconfig of a usable API server: the given one, $KUBECONFIG's local control
    plane, or a fresh one started (and stopped) here."""
    if kubeconfig:
        yield Path(kubeconfig)
        return
    found = existing_cluster()
    if found is not None:
        yield found.kubeconfig
        return
    from ddmsp.localcluster import ControlPlane

    home = Path(tempfile.mkdtemp(prefix="ddmsp-bench-"))
    plane = ControlPlane(home=home, bin_dir=build_binaries())
    state = plane.up()
    try:
        yield Path(state.kubeconfig)
    finally:
        plane.down()
        shutil.rmtree(home, ignore_errors=True)


def install_crds(kubeconfig: Path) -> None:
    import subprocess

    kubectl = str(build_binaries() / "kubectl")
    subprocess.run([kubectl, f"--kubeconfig={kubeconfig}", "apply", "--server-side",
                    "--force-conflicts", "-f", str(ROOT / "crds")], check=True,
                   capture_output=True)
    subprocess.run([kubectl, f"--kubeconfig={kubeconfig}", "wait",
                    "--for=condition=Established", "crd", "--all", "--timeout=60s"],
                   check=True, capture_output=True)
    # Established is not served: a fresh CRD's storage answers 429 "(re)initializing" for a
    # moment, and an operator started then may wait long for its watches.
    deadline = time.monotonic() + 60
    for plural in (ORGS, ROLES, SAML, CONNS, "datadogusers", "datadogpartners"):
        while subprocess.run([kubectl, f"--kubeconfig={kubeconfig}", "get", plural, "-A"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{plural} is not served")
            time.sleep(0.5)


def wait_all_ready(watcher: ReadyWatch, want: dict[str, int], cfg: BenchConfig, start: float,
                   op: OperatorProcess,
                   timeline: dict[str, dict[str, float]] | None = None,
                   applying: Future[None] | None = None) -> dict[str, int]:
    """Poll until every object is Ready; ``timeline`` gets, per kind, the seconds from
    ``start`` at which half and all of its objects were first seen Ready."""
    counts: dict[str, int] = {}
    while time.monotonic() - start < cfg.timeout:
        counts = watcher.counts()
        if timeline is not None:
            now = round(time.monotonic() - start, 1)
            for plural, n in want.items():
                marks = timeline.setdefault(plural, {})
                if counts[plural] * 2 >= n:
                    marks.setdefault("half_s", now)
                if counts[plural] >= n:
                    marks.setdefault("all_s", now)
        if applying is not None and applying.done():
            applying.result()  # raises what the apply raised
        if all(counts[p] >= n for p, n in want.items()):
            return counts
        if time.monotonic() - start > 120 and not any(counts.values()):
            raise RuntimeError("the operator made nothing Ready in 120 s: "
                               f"{op.log()[-1500:]}")
        if op.proc is not None and op.proc.poll() is not None:
            raise RuntimeError(f"operator exited ({op.proc.returncode}): {op.log()[-2000:]}")
        time.sleep(0.5)
    return counts


def start_profile(pid: int, path: str | None) -> Any:
    """py-spy recording ``pid`` into ``path`` (collapsed stacks), or None."""
    if not path:
        return None
    import subprocess

    # --gil: only samples of the thread holding the GIL, i.e. Python CPU, not waits
    return subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p",
                             str(pid), "-o", path, "-f", "raw", "-r", "50", "--nonblocking",
                             "--gil"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profile(spy: Any) -> None:
    if spy is not None:
        import signal

        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def control_plane_pids(kubeconfig: Path) -> dict[str, int]:
    """The kube-apiserver and etcd serving ``kubeconfig`` (found by their flags in /proc),
    so their CPU can be reported next to the operator's; empty when not found."""
    import yaml

    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    port = server.rsplit(":", 1)[-1].strip("/")
    found: dict[str, int] = {}
    etcd_url = None
    cmdlines: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdlines[int(entry.name)] = \
                    (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
    for pid, args in cmdlines.items():
        if f"--secure-port={port}" in args:
            found["kube-apiserver"] = pid
            etcd_url = next((a.split("=", 1)[1] for a in args
                             if a.startswith("--etcd-servers=")), None)
    for pid, args in cmdlines.items():
        if etcd_url and f"--listen-client-urls={etcd_url}" in args:
            found["etcd"] = pid
    return found


def run(cfg: BenchConfig, kubeconfig: Path, workdir: Path) -> dict[str, Any]:
    """One benchmark run against the API server of ``kubeconfig``; returns the result."""
    from kubernetes import config as kconfig

    install_crds(kubeconfig)
    api = kconfig.new_client_from_config(config_file=str(kubeconfig))
    core, objs = client.CoreV1Api(api), client.CustomObjectsApi(api)
    ns = unique_name("bench")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    idp_xml = metadata()
    crs = cfg.orgs * (2 + cfg.roles)
    want = {ORGS: cfg.orgs, ROLES: cfg.orgs * cfg.roles, SAML: cfg.orgs}
    if cfg.ops_connection:
        want[CONNS] = cfg.orgs  # made by the operator, not applied: not counted in crs
    result: dict[str, Any] = {"benchmark": "converge", "orgs": cfg.orgs, "roles_per_org": cfg.roles,
                              "crs": crs, "latency_ms": cfg.latency_ms, "workers": cfg.workers,
                              "provisioning": cfg.provisioning,
                              "options": {"settings": cfg.settings,
                                          "ops_connection": cfg.ops_connection,
                                          "keep_bootstrap_key": cfg.keep_bootstrap_key}}
    try:
        with SimulatorProcess(latency_ms=cfg.latency_ms, log=workdir / "simulator.log") as sim:
            for name, (limit, period) in cfg.rate_limits.items():
                sim.set_rate_limit(name, limit, period)
            core.create_namespaced_secret(ns, client.V1Secret(
                metadata=client.V1ObjectMeta(name="partner"),
                string_data={"api-key": sim.partner_api_key, "app-key": sim.partner_app_key}))
            port = free_port()
            op = OperatorProcess(
                kubeconfig, sim.base_url, [ns], workdir / "operator.log",
                extra_env={"DDMSP_PARTNER_SECRET": f"{ns}/partner"},
                extra_args=["--worker-limit", str(cfg.workers), "--wait-poll", "15",
                            "--backoff-cap", "300", "--drift-interval", "3600",
                            "--restart-spread", str(cfg.restart_spread),
                            "--metrics-port", str(port)])
            try:
                result["_plane_pids"] = control_plane_pids(kubeconfig)
                _converge(cfg, sim, op, objs, ns, idp_xml, want, crs, port, result,
                          kubeconfig, workdir)
            finally:
                op.stop()
            if cfg.baseline_sample > 0:
                sim.clear_faults()
                seconds, sample = baseline_seconds(sim, cfg, idp_xml)
                baseline = seconds * cfg.orgs / sample
                result.update({
                    "baseline_s": round(baseline, 2), "baseline_sample_orgs": sample,
                    "baseline_sample_s": round(seconds, 2),
                    "speedup_vs_baseline": round(baseline / result["wall_s"], 2)
                    if result.get("wall_s") else None,
                })
    finally:
        with contextlib.suppress(client.ApiException):
            release(objs, ns)
            core.delete_namespace(ns)
    return result


def apply_only(cfg: BenchConfig, kubeconfig: Path, workdir: Path) -> dict[str, Any]:
    """The apply alone, no operator running: its wall time and the control plane's CPU are
    a floor under ``wall_s`` that no operator change can lower."""
    from kubernetes import config as kconfig

    install_crds(kubeconfig)
    core = client.CoreV1Api(kconfig.new_client_from_config(config_file=str(kubeconfig)))
    ns = unique_name("bench")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    idp_xml = metadata()
    clients = manifests(cfg, idp_xml)
    pids = control_plane_pids(kubeconfig)
    cpu0 = {name: proc_cpu_seconds(p) for name, p in pids.items()}
    own0 = own_cpu_seconds()
    start = time.monotonic()
    try:
        apply_all(kubeconfig, ns, clients, workdir)
        wall = time.monotonic() - start
    finally:
        with contextlib.suppress(client.ApiException):
            core.delete_namespace(ns)
    out: dict[str, Any] = {"benchmark": "converge-apply-only", "orgs": cfg.orgs,
                           "crs": cfg.orgs * (2 + cfg.roles), "apply_only_s": round(wall, 2),
                           "bench_cpu_s": round(own_cpu_seconds() - own0, 2)}
    for name, p in pids.items():
        out[f"{name.replace('-', '_')}_cpu_s"] = round(proc_cpu_seconds(p) - cpu0[name], 2)
    return out


def release(objs: client.CustomObjectsApi, ns: str) -> None:
    """Drop the operator's finalizers (it is stopped by now), so the namespace goes at once
    instead of staying Terminating, its objects listed again and again, on a reused cluster."""
    def unfinalize(item: tuple[str, str]) -> None:
        with contextlib.suppress(client.ApiException):
            objs.patch_namespaced_custom_object(GROUP, VERSION, ns, item[0], item[1],
                                                {"metadata": {"finalizers": None}})

    held = [(plural, o["metadata"]["name"]) for plural in (ORGS, ROLES, SAML, CONNS)
            for o in objs.list_namespaced_custom_object(GROUP, VERSION, ns, plural)["items"]
            if o["metadata"].get("finalizers")]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(unfinalize, held))


def _converge(cfg: BenchConfig, sim: SimulatorProcess, op: OperatorProcess,
              objs: client.CustomObjectsApi, ns: str, idp_xml: str, want: dict[str, int],
              crs: int, port: int, result: dict[str, Any], kubeconfig: Path,
              workdir: Path) -> None:
    op.start()
    time.sleep(2)
    clients = manifests(cfg, idp_xml)
    watcher = ReadyWatch(objs.api_client, ns, list(want))
    assert op.proc is not None
    pid = op.proc.pid
    cpu0 = proc_cpu_seconds(pid)
    plane_pids: dict[str, int] = result.pop("_plane_pids", {})
    plane_cpu0 = {name: proc_cpu_seconds(p) for name, p in plane_pids.items()}
    sim_cpu0, own_cpu0 = proc_cpu_seconds(sim.proc.pid), own_cpu_seconds()
    spy = start_profile(pid, cfg.profile)
    requests0 = apiserver_requests(objs.api_client)
    start = time.monotonic()

    def apply() -> None:
        apply_all(kubeconfig, ns, clients, workdir)
        result["apply_s"] = round(time.monotonic() - start, 2)

    timeline: dict[str, dict[str, float]] = {}
    with ThreadPoolExecutor(1) as pool:
        applying = pool.submit(apply)
        try:
            if cfg.provisioning == "SpinOff":
                _confirm_registrations(objs, ns, cfg, start)
            counts = wait_all_ready(watcher, want, cfg, start, op, timeline, applying)
        finally:
            watcher.stop()
    wall = time.monotonic() - start
    kube = {route: n - requests0.get(route, 0)
            for route, n in apiserver_requests(objs.api_client).items()}
    kube = {route: int(n) for route, n in sorted(kube.items())  # the operator's resources
            if n > 0 and route.split(" ")[1].split("/")[0].startswith(KUBE_RESOURCES)}
    kube_writes = sum(n for route, n in kube.items() if route.split(" ")[0] in KUBE_WRITES)
    result["kube_requests"] = kube
    # The apply's own creates (one per object) are the benchmark's, not the operator's.
    result["kube_writes_per_cr"] = round((kube_writes - crs) / crs, 2)
    result["ready_timeline"] = timeline
    cpu = proc_cpu_seconds(pid) - cpu0
    others = {f"{name.replace('-', '_')}_cpu_s": proc_cpu_seconds(p) - plane_cpu0[name]
              for name, p in plane_pids.items()}  # what the API server and etcd spent
    others["simulator_cpu_s"] = proc_cpu_seconds(sim.proc.pid) - sim_cpu0
    others["bench_cpu_s"] = own_cpu_seconds() - own_cpu0  # applying (kubectl) and watching
    result.update({k: round(v, 2) for k, v in others.items()})
    # Everything that ran was on this machine's cores: its CPU time over the core count is
    # a floor the wall time cannot go below here, whatever the operator does.
    cores = os.cpu_count() or 1
    machine_floor = (cpu + sum(others.values())) / cores
    result.update({"cores": cores, "machine_floor_s": round(machine_floor, 2),
                   "ratio_to_machine_floor": round(wall / machine_floor, 2)})
    stop_profile(spy)
    calls = sim.calls()
    reads, writes, limited = split_calls(calls)
    orgs = [o for o in sim.snapshot()["orgs"] if o["name"].startswith("Bench Client ")]
    bound = bound_seconds(cfg)
    result.update({
        "ready": counts, "all_ready": all(counts.get(p, 0) >= n for p, n in want.items()),
        "wall_s": round(wall, 2), "bound_s": round(bound, 2),
        "ratio_to_bound": round(wall / bound, 2),
        "api_calls": reads + writes, "api_calls_per_cr": round((reads + writes) / crs, 2),
        "api_writes_per_cr": round(writes / crs, 2), "rate_limited_429": limited,
        "calls_by_route": {k: sum(v.values()) for k, v in sorted(calls.items())},
        **per_client(calls, cfg.orgs),
        "orgs_created": len(orgs),
        "duplicate_orgs": len(orgs) - len({o["name"] for o in orgs}),
        "cpu_s": round(cpu, 2), "cpu_ms_per_cr": round(cpu * 1000 / crs, 1),
    })
    # This machine's speed varies by a third between runs minutes apart (shared cores).
    # The simulator does the same work per call in every run, so its CPU per call is a
    # yardstick measured in the same minutes: the operator's CPU per resource in that unit
    # compares runs (and commits) that the raw figures cannot.
    sim_ms_per_call = others["simulator_cpu_s"] * 1000 / max(1, reads + writes)
    result["simulator_cpu_ms_per_call"] = round(sim_ms_per_call, 3)
    result["cpu_per_cr_in_simulator_calls"] = round(cpu * 1000 / crs / sim_ms_per_call, 1) \
        if sim_ms_per_call > 0 else None

    result["converge_peak_rss_mb"] = round(proc_peak_rss_mb(pid), 1)
    # Steady state: nothing changes; drift checks every steady_drift_interval.
    op.stop()
    op.extra_args += ["--drift-interval", str(cfg.steady_drift_interval),
                      "--restart-spread", str(min(cfg.restart_spread,
                                                  cfg.steady_drift_interval / 2))]
    if cfg.steady_seconds > 0:
        op.start()
        assert op.proc is not None
        time.sleep(3)
        sim.reset_calls()
        time.sleep(cfg.steady_seconds)
        steady = sim.calls()
        reads, writes, limited = split_calls(steady)
        passes = cfg.steady_seconds / cfg.steady_drift_interval
        result.update({
            "steady_reads_per_client_per_drift_pass": round(reads / cfg.orgs / passes, 2),
            "steady_calls_by_route": {k: sum(v.values()) for k, v in sorted(steady.items())},
            "steady_seconds": cfg.steady_seconds,
            "steady_drift_interval_s": cfg.steady_drift_interval,
            "steady_writes": writes, "steady_429": limited,
            "steady_reads_per_cr_hour": round(reads / crs * 3600 / cfg.steady_seconds, 1),
            "steady_reads_per_cr_per_drift_pass": round(
                reads / crs / (cfg.steady_seconds / cfg.steady_drift_interval), 2),
        })
        result["steady_peak_rss_mb"] = round(proc_peak_rss_mb(op.proc.pid), 1)
        op.stop()

    # Restart with everything Ready: back at the default drift interval.
    op.extra_args += ["--drift-interval", "3600", "--restart-spread", str(cfg.restart_spread)]
    sim.reset_calls()
    if cfg.memray_restart:  # heap at its high-water mark: `memray stats --json FILE`
        op.command = [sys.executable, "-m", "memray", "run", "--aggregate", "--force", "-o",
                      cfg.memray_restart, "-m", "ddmsp"]
        op.extra_env["PYTHONPATH"] = str(ROOT / "operator")
    watched = sum(want.values())  # every object, the owned connections too
    restart = time.monotonic()
    op.start()
    assert op.proc is not None
    spy = start_profile(op.proc.pid, cfg.profile_restart)
    rechecked = 0.0
    marks: dict[str, float] = {}
    while time.monotonic() - restart < cfg.timeout:
        rechecked = reconciles_total(port)
        now = round(time.monotonic() - restart, 1)
        if rechecked > 0:
            marks.setdefault("first_s", now)
        if rechecked * 2 >= watched:
            marks.setdefault("half_s", now)
        if rechecked >= watched:
            break
        time.sleep(0.5)
    restart_s = time.monotonic() - restart
    stop_profile(spy)
    result["restart_timeline"] = marks
    time.sleep(2)
    calls = sim.calls()
    reads, writes, limited = split_calls(calls)
    assert op.proc is not None
    result.update({
        "restart_s": round(restart_s, 2), "restart_rechecked": int(rechecked),
        "restart_spread_s": cfg.restart_spread, "restart_calls": reads + writes,
        "restart_writes": writes, "restart_creates": creates(calls), "restart_429": limited,
        "restart_peak_rss_mb": round(proc_peak_rss_mb(op.proc.pid), 1),
    })
    result["peak_rss_mb"] = max(v for k, v in result.items() if k.endswith("peak_rss_mb"))


def _confirm_registrations(objs: client.CustomObjectsApi, ns: str, cfg: BenchConfig,
                           start: float) -> None:
    """SpinOff: confirm each client's DPN registration naming its parent org."""
    pending = {f"c{i:04d}" for i in range(cfg.orgs)}
    while pending and time.monotonic() - start < cfg.timeout:
        items = objs.list_namespaced_custom_object(GROUP, VERSION, ns, ORGS)["items"]
        for body in items:
            name, status = body["metadata"]["name"], body.get("status") or {}
            parent = (status.get("parentOrg") or {}).get("publicId")
            if name in pending and status.get("phase") == "AwaitingRegistration" and parent:
                objs.patch_namespaced_custom_object(GROUP, VERSION, ns, ORGS, name, {
                    "spec": {"registration": {"confirmed": True, "orgPublicId": parent}}})
                pending.discard(name)
        time.sleep(cfg.poll)


def main(argv: list[str] | None = None) -> int:
    import signal

    def stop(signum: int, _: Any) -> None:
        raise SystemExit(128 + signum)  # clean up (operator, control plane) on SIGTERM

    signal.signal(signal.SIGTERM, stop)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = BenchConfig()
    p.add_argument("--orgs", type=int, default=defaults.orgs)
    p.add_argument("--roles", type=int, default=defaults.roles)
    p.add_argument("--latency-ms", type=int, default=defaults.latency_ms)
    p.add_argument("--workers", type=int, default=defaults.workers)
    p.add_argument("--steady-seconds", type=float, default=defaults.steady_seconds)
    p.add_argument("--steady-drift-interval", type=float,
                   default=defaults.steady_drift_interval)
    p.add_argument("--restart-spread", type=float, default=defaults.restart_spread)
    p.add_argument("--baseline-sample", type=int, default=defaults.baseline_sample)
    p.add_argument("--provisioning", choices=["ChildOrg", "SpinOff"], default="ChildOrg")
    p.add_argument("--settings", action="store_true", help="each client sets a typical "
                   "spec.settings (four org configs)")
    p.add_argument("--ops-connection", action="store_true", help="each client connects to "
                   "the partner's org (spec.opsOrgConnection: metrics and logs)")
    p.add_argument("--keep-bootstrap-key", action="store_true", help="each client sets "
                   "spec.credentials.keepBootstrapKey: the bootstrap key is not revoked")
    p.add_argument("--timeout", type=float, default=defaults.timeout)
    p.add_argument("--kubeconfig", help="an existing API server (default: $KUBECONFIG's "
                   "local control plane, else one started here)")
    p.add_argument("--keep-log", help="copy the operator's log here")
    p.add_argument("--profile", help="write py-spy's collapsed stacks of the operator "
                   "while it converges to this file (pip install py-spy)")
    p.add_argument("--profile-restart", help="the same for the restart phase")
    p.add_argument("--apply-only", action="store_true", help="only time the apply, with no "
                   "operator running (a floor under wall_s)")
    p.add_argument("--memray-restart", help="run the restarted operator under memray, "
                   "writing its capture here (pip install memray)")
    args = p.parse_args(argv)
    cfg = BenchConfig(orgs=args.orgs, roles=args.roles, latency_ms=args.latency_ms,
                      workers=args.workers, steady_seconds=args.steady_seconds,
                      steady_drift_interval=args.steady_drift_interval,
                      restart_spread=args.restart_spread,
                      baseline_sample=args.baseline_sample, provisioning=args.provisioning,
                      settings=args.settings, ops_connection=args.ops_connection,
                      keep_bootstrap_key=args.keep_bootstrap_key,
                      timeout=args.timeout, profile=args.profile,
                      profile_restart=args.profile_restart,
                      memray_restart=args.memray_restart,
                      poll=2.0 if args.orgs < 500 else 4.0)
    workdir = Path(tempfile.mkdtemp(prefix="ddmsp-converge-"))
    try:
        with control_plane(args.kubeconfig) as kubeconfig:
            result = (apply_only if args.apply_only else run)(cfg, kubeconfig, workdir)
        result["config"] = {k: v for k, v in asdict(cfg).items() if k != "rate_limits"}
        result["rate_limits"] = {k: {"limit": v[0], "period": v[1]}
                                 for k, v in cfg.rate_limits.items()}
        if args.keep_log and (workdir / "operator.log").exists():
            shutil.copy(workdir / "operator.log", args.keep_log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.apply_only:
        return 0
    return 0 if result.get("all_ready") and not result.get("duplicate_orgs") else 1


if __name__ == "__main__":
    sys.exit(main())
