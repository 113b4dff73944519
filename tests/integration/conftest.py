"""Fixtures for operator tests: CRDs installed, the simulator, partner keys, the operator."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator, running_simulator
from tests.support.kube import REPO_ROOT, Cluster
from tests.support.operator import OperatorProcess, wait_for

GROUP, VERSION = "ddmsp.io", "v1alpha1"


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> None:
    """Install the generated CRDs once per session and wait until they are served."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    for path in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        name = path.name.removesuffix(".yaml")
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator() as simulator:
        yield simulator


def put_secret(api: client.ApiClient, namespace: str, name: str, data: dict[str, str]) -> None:
    core = client.CoreV1Api(api)
    body = client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=data)
    try:
        core.create_namespaced_secret(namespace, body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_secret(name, namespace, body)


def secret_data(api: client.ApiClient, namespace: str, name: str) -> dict[str, str] | None:
    try:
        secret = client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


@pytest.fixture
def partner_secret(api: client.ApiClient, namespace: str, sim: RunningSimulator) -> str:
    put_secret(api, namespace, "partner", {"api-key": sim.partner_api_key,
                                           "app-key": sim.partner_app_key})
    return "partner"


class Operator:
    """The operator under test for one namespace, with helpers to look at its objects."""

    def __init__(self, cluster: Cluster, api: client.ApiClient, namespace: str,
                 sim: RunningSimulator, log_dir: Path) -> None:
        self.cluster = cluster
        self.api = api
        self.namespace = namespace
        self.sim = sim
        self.objects = client.CustomObjectsApi(api)
        self.process = OperatorProcess(cluster.kubeconfig, sim.base_url, [namespace],
                                       log_dir / "operator.log",
                                       extra_env={"DDMSP_PARTNER_SECRET": f"{namespace}/partner",
                                                  "DDMSP_CREATE_SETTLE_SECONDS": "2"})

    def start(self, crash_at: str | None = None) -> Operator:
        self.process.start(crash_at)
        self.process.wait_started()
        return self

    def apply(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        body.setdefault("apiVersion", f"{GROUP}/{VERSION}")
        return self.objects.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, body)

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return self.objects.get_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                         plural, name)

    def patch(self, plural: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.objects.patch_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                           plural, name, patch)

    def gone(self, plural: str, name: str) -> bool:
        """The object no longer exists (its finalizers are done)."""
        try:
            self.get(plural, name)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    def condition(self, plural: str, name: str, type_: str) -> dict[str, Any] | None:
        status = self.get(plural, name).get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == type_), None)

    def wait_condition(self, plural: str, name: str, type_: str = "Ready",
                       status: str = "True", reason: str | None = None,
                       timeout: float = 60) -> dict[str, Any]:
        def met() -> dict[str, Any] | None:
            cond = self.condition(plural, name, type_)
            if cond and cond["status"] == status and (reason is None or cond["reason"] == reason):
                return cond
            return None

        def what() -> str:  # read when the wait fails: the condition and log as they are then
            try:
                now = self.condition(plural, name, type_)
            except client.ApiException as exc:
                now = {"error": exc.status}
            return (f"{plural}/{name} {type_}={status}{f' ({reason})' if reason else ''}; "
                    f"it is {now!r}; log tail:\n{self.process.log()[-2000:]}")

        return wait_for(met, timeout=timeout, what=what)

    def events(self, name: str) -> list[client.CoreV1Event]:
        return [e for e in client.CoreV1Api(self.api).list_namespaced_event(self.namespace).items
                if e.involved_object.name == name]


@pytest.fixture
def operator(cluster: Cluster, api: client.ApiClient, namespace: str, crds: None,
             sim: RunningSimulator, partner_secret: str, tmp_path: Path) -> Iterator[Operator]:
    op = Operator(cluster, api, namespace, sim, tmp_path)
    yield op
    op.process.stop()
