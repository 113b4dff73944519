"""Test helpers for a real kube-apiserver: clients, namespaces, ServiceAccount kubeconfigs."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client, config

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Cluster:
    """A live API server the tests may use, and the binaries that go with it."""

    kubeconfig: Path
    bin_dir: Path | None
    owned: bool  # True when the test session started it (and will stop it)

    def api_client(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(self, *args: str, check: bool = True, input: str | None = None
                ) -> subprocess.CompletedProcess[str]:
        binary = str(self.bin_dir / "kubectl") if self.bin_dir else "kubectl"
        return subprocess.run(
            [binary, f"--kubeconfig={self.kubeconfig}", *args],
            check=check, capture_output=True, text=True, input=input, timeout=120,
        )


def build_binaries() -> Path:
    """Run hack/build-binaries (a no-op on a warm cache) and return the bin directory."""
    out = subprocess.run(
        [str(REPO_ROOT / "hack" / "build-binaries")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def reachable(kubeconfig: str) -> bool:
    try:
        api = config.new_client_from_config(config_file=kubeconfig)
        client.VersionApi(api).get_code(_request_timeout=5)
        return True
    except Exception:
        return False


def _is_local_control_plane(kubeconfig: str) -> bool:
    try:
        cfg = yaml.safe_load(Path(kubeconfig).read_text())
        current = next(c for c in cfg["contexts"] if c["name"] == cfg["current-context"])
        return bool(current["context"]["cluster"] == "ddmsp-local")
    except (OSError, KeyError, StopIteration, TypeError, yaml.YAMLError):
        return False


def existing_cluster() -> Cluster | None:
    """Reuse the cluster $KUBECONFIG points at when it answers and is either a ddmsp
    local control plane (`hack/controlplane up`) or explicitly allowed with
    DDMSP_TEST_USE_KUBECONFIG=1: tests create CRDs and namespaces, so a kubeconfig that
    happens to point at a real cluster is never used by accident."""
    path = os.environ.get("KUBECONFIG")
    if not path or ":" in path:
        return None
    allowed = os.environ.get("DDMSP_TEST_USE_KUBECONFIG") == "1"
    local = _is_local_control_plane(path)
    if not (allowed or local) or not reachable(path):
        return None
    bin_dir = os.environ.get("DDMSP_BIN_DIR")
    found = Path(bin_dir) if bin_dir else (build_binaries() if local else None)
    return Cluster(Path(path), found, owned=False)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def serviceaccount_kubeconfig(
    cluster: Cluster, namespace: str, name: str, path: Path, expiration_seconds: int = 3600
) -> Path:
    """Write a kubeconfig that authenticates as a ServiceAccount via the TokenRequest API."""
    api = cluster.api_client()
    core = client.CoreV1Api(api)
    try:
        core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
        )
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    token = core.create_namespaced_service_account_token(
        name, namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration_seconds)
        ),
    ).status.token
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    current = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster_entry = next(c for c in admin["clusters"] if c["name"] == current["context"]["cluster"])
    user = f"system:serviceaccount:{namespace}:{name}"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster_entry],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {
            "cluster": cluster_entry["name"], "user": user, "namespace": namespace}}],
        "current-context": user,
    }))
    path.chmod(0o600)
    return path
