"""Run the operator image the way the chart's Deployment runs it, with Docker instead of a
kubelet (issue 20): what the pod spec says becomes ``docker run`` flags.

Shared by tests/image/test_image_run.py and bench/image.py. From the rendered Deployment:
args, env (fieldRef values resolved as the kubelet would), runAsUser/runAsGroup and fsGroup,
readOnlyRootFilesystem, dropped capabilities, allowPrivilegeEscalation, emptyDir volumes (a
tmpfs of the emptyDir's sizeLimit), the memory limit, the probes' ports and paths and the
termination grace period. What a kubelet adds: the ServiceAccount token (a TokenRequest for
the Deployment's ServiceAccount), ca.crt and namespace under
/var/run/secrets/kubernetes.io/serviceaccount, and KUBERNETES_SERVICE_HOST/PORT, here the
local apiserver reached over the host network (its serving cert is for 127.0.0.1).
What differs from a pod: no kubelet runs the probes (the caller polls them), and the
network is the host's, not a pod network.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from kubernetes import client

from tests.support.kube import REPO_ROOT, Cluster

CHART = REPO_ROOT / "helm" / "ddmsp"
HACK_IMAGE = REPO_ROOT / "hack" / "image"
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_GRACE = 30  # Kubernetes' default terminationGracePeriodSeconds
EXAMPLES = ("clientorg-childorg.yaml", "role-acme.yaml", "saml-acme.yaml", "user-acme.yaml")
# (plural, name) of what the examples above create, all expected Ready.
SCENARIO = (("datadogclientorgs", "acme"), ("datadogroles", "acme-sre"),
            ("datadogsamlconfigs", "acme-sso"), ("datadogusers", "acme-oncall"))
EXAMPLES_PARTNER_SECRET = "datadog-partner"  # what examples/clientorg-childorg.yaml names


class NoEngine(Exception):
    """No Docker engine answers and none could be started here, or no base can be made
    (hack/image exits 3 for both)."""


USERS_DIR = Path(os.environ.get("DDMSP_DOCKER_USERS", "/tmp/ddmsp-docker-users"))


@contextmanager
def _users_lock() -> Iterator[Path]:
    """Every process using the engine (xdist workers, concurrent pytest sessions) registers
    under this lock, so that the dockerd one of them started is stopped only by the last."""
    import fcntl

    USERS_DIR.mkdir(parents=True, exist_ok=True)
    with open(USERS_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield USERS_DIR


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Engine:
    """A Docker engine that answers, registered as used by ``token``; the dockerd that
    ``engine_up`` started (if any) stops when its last user stops."""

    token: str

    def stop(self) -> None:
        with _users_lock() as users:
            (users / self.token).unlink(missing_ok=True)
            for entry in users.glob("user-*"):  # users that died without stopping
                if not _alive(int(entry.name.split("-")[1])):
                    entry.unlink(missing_ok=True)
            started = users / ".started"
            if any(users.glob("user-*")) or not started.exists():
                return
            pid = started.read_text().strip()
            started.unlink()
            subprocess.run([str(HACK_IMAGE), "engine-down", pid], check=True, timeout=60)


def engine_up() -> Engine:
    """An engine that answers: the running one, or one started by hack/image (stopped by
    the last user's ``Engine.stop``). NoEngine says why where none can run."""
    if shutil.which("docker") is None:
        raise NoEngine("no docker client on PATH (hack/ci-setup.d/20-docker.sh installs one)")
    if shutil.which("dockerd") is None and subprocess.run(
            ["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        raise NoEngine("no Docker engine answers and no dockerd is installed here "
                       "(hack/ci-setup.d/20-docker.sh installs Debian's docker.io)")
    with _users_lock() as users:
        out = subprocess.run([str(HACK_IMAGE), "engine-up"], capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise NoEngine(f"dockerd cannot run here: {out.stderr.strip()[-600:]}")
        word, _, pid = out.stdout.strip().partition(" ")
        if word == "started":
            (users / ".started").write_text(pid)
        token = f"user-{os.getpid()}-{time.monotonic_ns()}"
        (users / token).touch()
    return Engine(token)


def build_image(tag: str) -> str:
    """The project's Dockerfile on the local Debian base (hack/image build)."""
    out = subprocess.run([str(HACK_IMAGE), "build", tag], capture_output=True, text=True,
                         timeout=1200)
    if out.returncode == 3:
        raise NoEngine(f"no local base image can be made here: {out.stderr.strip()[-600:]}")
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout.strip().splitlines()[-1]


def image_size(tag: str) -> int:
    out = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", tag], check=True,
                         capture_output=True, text=True, timeout=60)
    return int(out.stdout.strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Probe:
    port: int
    path: str


@dataclass
class ChartPod:
    """The container of the chart's Deployment, as Docker needs it."""

    service_account: str
    args: list[str]
    env: dict[str, str]
    user: str  # uid:gid
    groups: list[int]
    read_only: bool
    cap_drop: list[str]
    no_new_privileges: bool
    tmpfs: dict[str, str]  # mountPath -> tmpfs options
    memory: str | None
    health: Probe
    ready: Probe
    grace: int
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


def _quantity_to_docker(q: str) -> str:
    """Kubernetes binary quantities (Mi, Gi) to Docker's (m, g); plain bytes unchanged."""
    for suffix, unit in (("Ki", "k"), ("Mi", "m"), ("Gi", "g")):
        if q.endswith(suffix):
            return q.removesuffix(suffix) + unit
    return q


def chart_pod(deployment: dict[str, Any], namespace: str, pod_name: str) -> ChartPod:
    """Read the rendered Deployment; anything this runner cannot honour fails loudly."""
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    pod_sc, sc = spec.get("securityContext") or {}, container.get("securityContext") or {}
    fields = {"metadata.namespace": namespace, "metadata.name": pod_name}
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            path = item["valueFrom"]["fieldRef"]["fieldPath"]
            assert path in fields, f"env {item['name']}: fieldRef {path} not emulated"
            env[item["name"]] = fields[path]
    ports = {p["name"]: int(p["containerPort"]) for p in container.get("ports") or []}

    def probe(name: str) -> Probe:
        get = container[name]["httpGet"]
        port = get["port"]
        return Probe(ports[port] if isinstance(port, str) else int(port), get["path"])

    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    gid = sc.get("runAsGroup", pod_sc.get("runAsGroup", uid))
    assert uid is not None and uid != 0, "the chart must name a non-root uid"
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    tmpfs = {}
    for mount in container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        assert "emptyDir" in volume, f"volume {mount['name']}: only emptyDir is emulated"
        size = (volume["emptyDir"] or {}).get("sizeLimit")
        opts = "rw,nosuid,nodev,mode=1777" + (f",size={_quantity_to_docker(size)}"
                                              if size else "")
        tmpfs[mount["mountPath"]] = opts
    limits = (container.get("resources") or {}).get("limits") or {}
    memory = limits.get("memory")
    return ChartPod(
        service_account=spec.get("serviceAccountName") or "default",
        args=[str(a) for a in container.get("args") or []],
        env=env,
        user=f"{uid}:{gid}",
        groups=[int(pod_sc["fsGroup"])] if "fsGroup" in pod_sc else [],
        read_only=bool(sc.get("readOnlyRootFilesystem")),
        cap_drop=list((sc.get("capabilities") or {}).get("drop") or []),
        no_new_privileges=sc.get("allowPrivilegeEscalation") is False,
        tmpfs=tmpfs,
        memory=_quantity_to_docker(memory) if memory else None,
        health=probe("livenessProbe"),
        ready=probe("readinessProbe"),
        grace=int(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)),
        raw=container,
    )


def helm(cluster: Cluster) -> Path:
    assert cluster.bin_dir is not None, "helm comes from hack/build-binaries"
    return cluster.bin_dir / "helm"


def install_chart(cluster: Cluster, release: str, namespace: str, sets: list[str]) -> None:
    subprocess.run([str(helm(cluster)), "install", release, str(CHART), "--namespace",
                    namespace, "--kubeconfig", str(cluster.kubeconfig), "--skip-crds",
                    *[arg for s in sets for arg in ("--set", s)]],
                   check=True, capture_output=True, text=True, timeout=120)


def uninstall_chart(cluster: Cluster, release: str, namespace: str) -> None:
    subprocess.run([str(helm(cluster)), "uninstall", release, "--namespace", namespace,
                    "--kubeconfig", str(cluster.kubeconfig)], capture_output=True, timeout=120)


def installed_deployment(cluster: Cluster, release: str, namespace: str) -> dict[str, Any]:
    """The Deployment exactly as helm rendered and installed it (helm get manifest)."""
    out = subprocess.run([str(helm(cluster)), "get", "manifest", release, "--namespace",
                          namespace, "--kubeconfig", str(cluster.kubeconfig)],
                         check=True, capture_output=True, text=True, timeout=60)
    (deploy,) = [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "Deployment"]
    return dict(deploy)


def _cluster_entry(cluster: Cluster) -> dict[str, Any]:
    cfg = yaml.safe_load(cluster.kubeconfig.read_text())
    current = next(c for c in cfg["contexts"] if c["name"] == cfg["current-context"])
    return dict(next(c for c in cfg["clusters"]
                     if c["name"] == current["context"]["cluster"])["cluster"])


def apiserver_host_port(cluster: Cluster) -> tuple[str, int]:
    url = urlsplit(_cluster_entry(cluster)["server"])
    assert url.hostname and url.port, url
    return url.hostname, url.port


def serviceaccount_volume(cluster: Cluster, namespace: str, name: str, gid: int | None,
                          where: Path) -> Path:
    """What the kubelet projects for a pod: a TokenRequest token, ca.crt and namespace;
    group-readable by the pod's fsGroup (as a projected volume with fsGroup is)."""
    core = client.CoreV1Api(cluster.api_client())
    token = core.create_namespaced_service_account_token(
        name, namespace, client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))).status.token
    entry = _cluster_entry(cluster)
    if "certificate-authority-data" in entry:
        ca = base64.b64decode(entry["certificate-authority-data"])
    else:
        ca = Path(entry["certificate-authority"]).read_bytes()
    where.mkdir(parents=True, exist_ok=True)
    for fname, data in (("token", token.encode()), ("ca.crt", ca),
                        ("namespace", namespace.encode())):
        (where / fname).write_bytes(data)
    for path in (where, *where.iterdir()):
        os.chown(path, 0, gid if gid is not None else 0)
        path.chmod(0o750 if path.is_dir() else 0o640)
    return where


def docker_run_args(pod: ChartPod, image: str, name: str, sa_dir: Path,
                    apiserver: tuple[str, int]) -> list[str]:
    args = ["docker", "run", "-d", "--name", name, "--network", "host",
            "--user", pod.user, "--security-opt", "no-new-privileges" if pod.no_new_privileges
            else "no-new-privileges=false"]
    args += [f"--group-add={g}" for g in pod.groups]
    if pod.read_only:
        args.append("--read-only")
    args += [f"--cap-drop={c}" for c in pod.cap_drop]
    for path, opts in pod.tmpfs.items():
        args += ["--tmpfs", f"{path}:{opts}"]
    if pod.memory:
        args += ["--memory", pod.memory]
    args += ["-v", f"{sa_dir}:{SA_MOUNT}:ro"]
    env = {**pod.env, "KUBERNETES_SERVICE_HOST": apiserver[0],
           "KUBERNETES_SERVICE_PORT": str(apiserver[1])}
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    return [*args, image, *pod.args]


def get_status(port: int, path: str) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code
    except httpx.HTTPError:
        return None


def container_state(name: str) -> dict[str, Any]:
    out = subprocess.run(["docker", "inspect", "-f", "{{json .State}}", name], check=True,
                         capture_output=True, text=True, timeout=30)
    state: dict[str, Any] = yaml.safe_load(out.stdout)
    return state


def container_log(name: str) -> str:
    out = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


@contextmanager
def running_container(args: list[str], name: str) -> Iterator[float]:
    """``docker run -d``; yields the monotonic time just before it; always removed after."""
    try:
        started = time.monotonic()
        subprocess.run(args, check=True, capture_output=True, text=True, timeout=120)
        yield started
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


@dataclass
class Outcome:
    """One run of the examples' scenario in the image, the chart's way."""

    pod: ChartPod
    image_bytes: int
    to_healthz: float  # seconds from `docker run` to /healthz answering 200
    to_readyz: float
    to_ready: float  # to every object of SCENARIO Ready
    probe_status: dict[str, int | None]
    stop_seconds: float
    exit_code: int
    oom_killed: bool
    log: str


def _ready(objects: client.CustomObjectsApi, namespace: str) -> list[str]:
    """The SCENARIO objects not Ready yet."""
    waiting = []
    for plural, name in SCENARIO:
        try:
            body = objects.get_namespaced_custom_object("ddmsp.io", "v1alpha1", namespace,
                                                        plural, name)
        except client.ApiException:
            waiting.append(f"{plural}/{name} (absent)")
            continue
        conds = (body.get("status") or {}).get("conditions") or []
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
            waiting.append(f"{plural}/{name}")
    return waiting


def run_scenario(cluster: Cluster, namespace: str, sim_url: str, partner_keys: dict[str, str],
                 image: str, workdir: Path, timeout: float = 240) -> Outcome:
    """helm install (the chart's RBAC and ServiceAccount), the examples applied, the image
    run from the installed Deployment, everything Ready, probes read, SIGTERM."""
    repository, _, tag = image.rpartition(":")
    release = "img"
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name=EXAMPLES_PARTNER_SECRET), string_data=partner_keys))
    install_chart(cluster, release, namespace, [
        f"image.repository={repository}", f"image.tag={tag}", f"watchNamespaces={{{namespace}}}",
        f"partnerCredentials.existingSecret={EXAMPLES_PARTNER_SECRET}", f"datadogUrl={sim_url}",
        # host networking: ports no other process of this machine holds
        f"probes.healthPort={free_port()}", f"probes.readinessPort={free_port()}",
        f"metrics.port={free_port()}"])
    name = f"ddmsp-{namespace}"
    try:
        pod = chart_pod(installed_deployment(cluster, release, namespace), namespace, name)
        gid = pod.groups[0] if pod.groups else int(pod.user.split(":")[1])
        sa_dir = serviceaccount_volume(cluster, namespace, pod.service_account, gid,
                                       workdir / "serviceaccount")
        for example in EXAMPLES:
            cluster.kubectl("apply", "-n", namespace, "-f", str(REPO_ROOT / "examples" / example))
        objects = client.CustomObjectsApi(cluster.api_client())
        args = docker_run_args(pod, image, name, sa_dir, apiserver_host_port(cluster))
        with running_container(args, name) as started:
            marks: dict[str, float] = {}
            deadline = started + timeout
            waiting: list[str] = []
            while time.monotonic() < deadline:
                now = time.monotonic()
                if "healthz" not in marks and get_status(pod.health.port, pod.health.path) == 200:
                    marks["healthz"] = now - started
                if "readyz" not in marks and get_status(pod.ready.port, pod.ready.path) == 200:
                    marks["readyz"] = now - started
                waiting = _ready(objects, namespace)
                if not waiting and "ready" not in marks:
                    marks["ready"] = time.monotonic() - started
                if len(marks) == 3:
                    break
                if not container_state(name).get("Running"):
                    raise AssertionError("the operator container exited:\n"
                                         + container_log(name)[-4000:])
                time.sleep(0.2)
            else:
                raise AssertionError(f"not within {timeout}s: {sorted(marks)} reached, "
                                     f"waiting for {waiting}; log tail:\n"
                                     + container_log(name)[-4000:])
            probes = {p.path: get_status(p.port, p.path) for p in (pod.health, pod.ready)}
            t0 = time.monotonic()
            subprocess.run(["docker", "stop", "-t", str(pod.grace), name], check=True,
                           capture_output=True, timeout=pod.grace + 60)
            stop_seconds = time.monotonic() - t0
            state = container_state(name)
            log = container_log(name)
        return Outcome(pod=pod, image_bytes=image_size(image), to_healthz=marks["healthz"],
                       to_readyz=marks["readyz"], to_ready=marks["ready"], probe_status=probes,
                       stop_seconds=stop_seconds, exit_code=int(state["ExitCode"]),
                       oom_killed=bool(state.get("OOMKilled")), log=log)
    finally:
        uninstall_chart(cluster, release, namespace)
