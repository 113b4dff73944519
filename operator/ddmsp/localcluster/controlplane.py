"""Start, inspect and stop a local etcd + kube-apiserver + kube-controller-manager.

The processes outlive the command that started them (each runs in its own session);
``state.json`` records their PIDs so ``down`` stops exactly what ``up`` started.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ddmsp.localcluster.certs import generate_pki

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
ADMIN_USER = "ddmsp-admin"


def default_home() -> Path:
    """Where state, logs and the kubeconfig live: ``$DDMSP_HOME`` or ``~/.cache/ddmsp``."""
    return Path(os.environ.get("DDMSP_HOME") or Path.home() / ".cache" / "ddmsp")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ControlPlaneState:
    """What ``up`` started, persisted so that another process can stop it."""

    directory: str
    bin_dir: str
    kubeconfig: str
    apiserver_url: str
    etcd_url: str
    admin_token: str
    pids: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0

    @classmethod
    def load(cls, path: Path) -> ControlPlaneState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)


class ControlPlaneError(RuntimeError):
    """The control plane could not start; the message says which component and why."""


def _pid_runs(pid: int, binary: str) -> bool:
    """True when ``pid`` is alive and still the binary we started (PIDs get reused).

    The kernel's comm name (first 15 bytes of the binary name) is read from
    /proc/<pid>/stat; cmdline is not used because it reads empty at some moments.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    comm = stat[stat.find("(") + 1 : stat.rfind(")")]
    state = stat[stat.rfind(")") + 1 :].split()[:1]
    return comm == binary[:15] and state != ["Z"] and state != ["X"]


class ControlPlane:
    """One local control plane rooted at ``home/controlplane``."""

    def __init__(self, home: Path | None = None, bin_dir: Path | None = None) -> None:
        self.home = home or default_home()
        self.directory = self.home / "controlplane"
        self.state_file = self.directory / "state.json"
        self.kubeconfig = self.home / "kubeconfig"
        self.bin_dir = bin_dir
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------------ queries
    def state(self) -> ControlPlaneState | None:
        return ControlPlaneState.load(self.state_file)

    def running(self) -> dict[str, bool]:
        st = self.state()
        if st is None:
            return dict.fromkeys(COMPONENTS, False)
        return {c: _pid_runs(st.pids.get(c, -1), c) for c in COMPONENTS}

    def ready(self) -> bool:
        st = self.state()
        return st is not None and all(self.running().values()) and self._readyz(st)

    # ------------------------------------------------------------------ up/down
    def up(self, timeout: float = 120.0, attempts: int = 4) -> ControlPlaneState:
        """Start everything, or return the live control plane when it is already up.

        Ports are picked free and bound a moment later by the components; another
        process (a parallel test session) can take one in between. That start is retried
        on fresh ports rather than failed.
        """
        for attempt in range(1, attempts + 1):
            try:
                return self._up_once(timeout)
            except ControlPlaneError as exc:
                if "address already in use" not in str(exc) or attempt == attempts:
                    raise
                self.down()
        raise AssertionError("unreachable")

    def _up_once(self, timeout: float) -> ControlPlaneState:
        st = self.state()
        if st is not None and self.ready():
            return st
        if st is not None:
            self.down()  # half-dead leftovers: start clean rather than guess
        if self.bin_dir is None:
            raise ControlPlaneError("no bin_dir: run hack/build-binaries and pass its output")
        for binary in (*COMPONENTS, "kubectl"):
            if not (self.bin_dir / binary).exists():
                raise ControlPlaneError(
                    f"{binary} missing in {self.bin_dir}: run hack/build-binaries"
                )

        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "logs").mkdir(exist_ok=True)
        pki = generate_pki(self.directory / "pki")
        token = secrets.token_hex(24)
        tokens = self.directory / "tokens.csv"
        tokens.write_text(f"{token},{ADMIN_USER},{ADMIN_USER},system:masters\n")
        tokens.chmod(0o600)

        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        st = ControlPlaneState(
            directory=str(self.directory),
            bin_dir=str(self.bin_dir),
            kubeconfig=str(self.kubeconfig),
            apiserver_url=f"https://127.0.0.1:{api_port}",
            etcd_url=f"http://127.0.0.1:{etcd_port}",
            admin_token=token,
            started_at=time.time(),
        )
        st.save(self.state_file)
        deadline = time.monotonic() + timeout
        try:
            st.pids["etcd"] = self._spawn("etcd", [
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls={st.etcd_url}",
                f"--advertise-client-urls={st.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ])
            st.save(self.state_file)
            self._wait("etcd", lambda: self._http_ok(f"{st.etcd_url}/health"), deadline)

            st.pids["kube-apiserver"] = self._spawn("kube-apiserver", [
                f"--etcd-servers={st.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--service-account-issuer={st.apiserver_url}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",  # no kubelet/endpoints on loopback
                f"--cert-dir={self.directory / 'apiserver-certs'}",
            ])
            st.save(self.state_file)
            self._write_kubeconfig(st, pki.ca_cert)
            self._wait("kube-apiserver", lambda: self._readyz(st), deadline)

            st.pids["kube-controller-manager"] = self._spawn("kube-controller-manager", [
                f"--kubeconfig={self.kubeconfig}",
                "--controllers=garbage-collector-controller,namespace-controller,"
                "serviceaccount-controller,serviceaccount-token-controller,"
                "clusterrole-aggregation-controller",  # the chart's view/edit/admin roles
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--leader-elect=false",
                "--secure-port=0",
                "--concurrent-gc-syncs=10",
            ])
            st.save(self.state_file)
            self._wait(
                "kube-controller-manager",
                lambda: self._default_sa_exists(st),
                deadline,
            )
        except BaseException:
            self.down()
            raise
        return st

    def down(self) -> list[str]:
        """Stop exactly the processes recorded in state.json, then remove the state."""
        st = self.state()
        stopped: list[str] = []
        if st is not None:
            # One at a time, clients before servers: an apiserver whose etcd is already
            # gone hangs in its graceful shutdown.
            for name in reversed(COMPONENTS):
                pid = st.pids.get(name)
                if pid is None or not _pid_runs(pid, name):
                    continue
                os.kill(pid, signal.SIGTERM)
                stopped.append(name)
                for _ in range(100):
                    if not _pid_runs(pid, name):
                        break
                    time.sleep(0.1)
                else:
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)
        if self.kubeconfig.exists():
            self.kubeconfig.unlink()
        return stopped

    # ------------------------------------------------------------------ helpers
    def _spawn(self, binary: str, args: list[str]) -> int:
        assert self.bin_dir is not None
        log = open(self.directory / "logs" / f"{binary}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [str(self.bin_dir / binary), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the caller; stopped by PID in down()
            cwd=self.directory,
        )
        log.close()
        self._procs[binary] = proc
        return proc.pid

    def _wait(self, name: str, check: object, deadline: float) -> None:
        assert callable(check)
        while time.monotonic() < deadline:
            if check():
                return
            proc = self._procs.get(name)
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.2)
        log = self.directory / "logs" / f"{name}.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        proc = self._procs.get(name)
        code = proc.poll() if proc else None
        exited = f" (exit status {code})" if code is not None else ""
        raise ControlPlaneError(f"{name} did not become ready{exited}; last log lines:\n{tail}")

    @staticmethod
    def _http_ok(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _api_get(self, st: ControlPlaneState, path: str) -> int:
        ctx = ssl.create_default_context(cafile=str(self.directory / "pki" / "ca.crt"))
        req = urllib.request.Request(
            st.apiserver_url + path, headers={"Authorization": f"Bearer {st.admin_token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=3, context=ctx) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (OSError, urllib.error.URLError):
            return 0

    def _readyz(self, st: ControlPlaneState) -> bool:
        return self._api_get(st, "/readyz") == 200

    def _default_sa_exists(self, st: ControlPlaneState) -> bool:
        return self._api_get(st, "/api/v1/namespaces/default/serviceaccounts/default") == 200

    def _write_kubeconfig(self, st: ControlPlaneState, ca_cert: Path) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "ddmsp-local",
                    "cluster": {"server": st.apiserver_url, "certificate-authority": str(ca_cert)},
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": st.admin_token}}],
            "contexts": [
                {"name": "ddmsp-local", "context": {"cluster": "ddmsp-local", "user": ADMIN_USER}}
            ],
            "current-context": "ddmsp-local",
        }
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)
