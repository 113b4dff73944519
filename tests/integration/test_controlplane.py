"""The floor is real: schemas, CEL, status subresource, RBAC, GC, namespaces, kubectl, helm."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.support.kube import REPO_ROOT, Cluster, serviceaccount_kubeconfig, unique_name

pytestmark = pytest.mark.kube

GROUP = "floor.ddmsp.io"


def _widget_crd(plural: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": "Widget" + plural[-4:]},
            "versions": [{
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["size"],
                            "properties": {
                                "size": {"type": "integer", "minimum": 1},
                                "max": {"type": "integer"},
                            },
                            "x-kubernetes-validations": [{
                                "rule": "!has(self.max) || self.size <= self.max",
                                "message": "spec.size must not exceed spec.max",
                            }],
                        },
                        "status": {"type": "object",
                                   "properties": {"seen": {"type": "integer"}}},
                    },
                }},
            }],
        },
    }


def _wait(predicate: Any, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def widget_crd(api: client.ApiClient) -> Any:
    plural = f"widgets{unique_name('x')[2:]}"
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(_widget_crd(plural))

    def established() -> bool:
        crd = ext.read_custom_resource_definition(f"{plural}.{GROUP}")
        return any(c.type == "Established" and c.status == "True"
                   for c in (crd.status.conditions or []))

    _wait(established, what="CRD established")
    yield plural
    ext.delete_custom_resource_definition(f"{plural}.{GROUP}")


def test_crd_schema_cel_and_status_subresource(api: client.ApiClient, namespace: str,
                                                widget_crd: str) -> None:
    objs = client.CustomObjectsApi(api)
    kind = "Widget" + widget_crd[-4:]
    good = {"apiVersion": f"{GROUP}/v1", "kind": kind,
            "metadata": {"name": "ok"}, "spec": {"size": 2, "max": 3}}
    created = objs.create_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, good)
    assert created["metadata"]["generation"] == 1

    bad_cel = {**good, "metadata": {"name": "too-big"}, "spec": {"size": 5, "max": 3}}
    with pytest.raises(client.ApiException) as cel:
        objs.create_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, bad_cel)
    assert cel.value.status == 422
    assert "spec.size must not exceed spec.max" in cel.value.body

    bad_schema = {**good, "metadata": {"name": "zero"}, "spec": {"size": 0}}
    with pytest.raises(client.ApiException) as schema:
        objs.create_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, bad_schema)
    assert schema.value.status == 422
    assert "spec.size" in schema.value.body

    objs.patch_namespaced_custom_object_status(
        GROUP, "v1", namespace, widget_crd, "ok", {"status": {"seen": 7}})
    after = objs.get_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, "ok")
    assert after["status"] == {"seen": 7}
    assert after["metadata"]["generation"] == 1  # status writes do not bump generation
    # and the main resource ignores status: a spec write bumps generation, keeps status
    objs.patch_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, "ok",
                                        {"spec": {"size": 3}, "status": {"seen": 1}})
    after = objs.get_namespaced_custom_object(GROUP, "v1", namespace, widget_crd, "ok")
    assert after["metadata"]["generation"] == 2
    assert after["status"] == {"seen": 7}


def test_serviceaccount_token_gets_exactly_its_role(api: client.ApiClient, cluster: Cluster,
                                                   namespace: str, tmp_path: Path) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="cm-reader"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"],
                                   verbs=["get", "list"])]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="cm-reader"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role",
                                  name="cm-reader"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader",
                                       namespace=namespace)]))
    kubeconfig = serviceaccount_kubeconfig(cluster, namespace, "reader", tmp_path / "kc")
    as_sa = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))

    def can_list() -> bool:
        try:
            as_sa.list_namespaced_config_map(namespace)
            return True
        except client.ApiException as exc:
            assert exc.status == 403
            return False

    _wait(can_list, timeout=30, what="RBAC binding to take effect")
    with pytest.raises(client.ApiException) as denied:
        as_sa.list_namespaced_secret(namespace)
    assert denied.value.status == 403
    with pytest.raises(client.ApiException) as denied_write:
        as_sa.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="nope")))
    assert denied_write.value.status == 403
    # kubectl agrees, with the same kubeconfig
    assert cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "can-i", "list",
                           "configmaps", "-n", namespace, check=False).stdout.strip() == "yes"
    assert cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "can-i", "list",
                           "secrets", "-n", namespace, check=False).stdout.strip() == "no"


def test_owner_references_are_garbage_collected(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner")))
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(
        name="owned", owner_references=[client.V1OwnerReference(
            api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)])))
    core.delete_namespaced_config_map("owner", namespace)

    def owned_gone() -> bool:
        try:
            core.read_namespaced_config_map("owned", namespace)
            return False
        except client.ApiException as exc:
            return exc.status == 404

    _wait(owned_gone, timeout=60, what="garbage collection of the owned ConfigMap")


def test_namespace_deletion_completes(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    name = unique_name("gone")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core.create_namespaced_config_map(name, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="content")))
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
            return False
        except client.ApiException as exc:
            return exc.status == 404

    _wait(gone, timeout=90, what="namespace deletion to complete")


def test_kubectl_and_helm_from_the_cache(cluster: Cluster, namespace: str) -> None:
    version = cluster.kubectl("version", "-o", "json").stdout
    assert '"gitVersion": "v1.37' in version  # the real version, from the build ldflags
    if cluster.bin_dir is None:
        pytest.skip("no local bin dir: helm comes from hack/build-binaries")
    helm = str(cluster.bin_dir / "helm")
    chart = REPO_ROOT / "tests" / "fixtures" / "tiny-chart"
    import subprocess

    rendered = subprocess.run([helm, "template", "demo", str(chart)], check=True,
                              capture_output=True, text=True).stdout
    assert "name: demo-greeting" in rendered
    subprocess.run([helm, "install", "demo", str(chart), "--namespace", namespace,
                    "--kubeconfig", str(cluster.kubeconfig), "--set", "greeting=hi", "--wait"],
                   check=True, capture_output=True, text=True, timeout=120)
    got = cluster.kubectl("get", "configmap", "demo-greeting", "-n", namespace,
                          "-o", "jsonpath={.data.greeting}").stdout
    assert got == "hi"
