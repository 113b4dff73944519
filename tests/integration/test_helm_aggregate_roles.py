"""Namespace users get for ddmsp's kinds what they get for Deployments: the chart's
ClusterRoles are aggregated (by kube-controller-manager's clusterrole-aggregation controller)
into `view`, `edit` and `admin`; a user bound to `view` in one namespace lists the kinds
there, and nowhere else, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.support.chart import helm
from tests.support.kube import REPO_ROOT, Cluster, unique_name
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube

KINDS = ["datadogclientorgs", "datadogroles", "datadogsamlconfigs", "datadogusers"]


def can(cluster: Cluster, user: str, verb: str, resource: str, ns: str | None,
        subresource: str | None = None) -> bool:
    where = ["-n", ns] if ns else []
    sub = [f"--subresource={subresource}"] if subresource else []
    out = cluster.kubectl("auth", "can-i", verb, resource, f"--as={user}", *where, *sub,
                          check=False)
    return out.stdout.strip() == "yes"


def aggregated(api: client.ApiClient, role: str) -> set[str]:
    rules: list[Any] = client.RbacAuthorizationV1Api(api).read_cluster_role(role).rules or []
    return {r for rule in rules if "ddmsp.io" in (rule.api_groups or [])
            for r in rule.resources or []}


def test_view_edit_admin_get_the_kinds(cluster: Cluster, api: client.ApiClient,
                                       namespace: str, crds: None) -> None:
    if cluster.bin_dir is None:
        pytest.skip("helm comes from hack/build-binaries")
    release = unique_name("agg")
    helm(cluster, "install", release, str(REPO_ROOT / "helm" / "ddmsp"), "-n", namespace,
         "--skip-crds", "--set", f"watchNamespaces={{{namespace}}}")
    other = unique_name("other")
    try:
        for role in ("view", "edit", "admin"):
            wait_for(lambda r=role: set(KINDS) <= aggregated(api, r), timeout=60,
                     what=f"ddmsp kinds aggregated into {role}")
        rbac = client.RbacAuthorizationV1Api(api)
        for user, role in (("alice", "view"), ("bob", "edit"), ("carol", "admin")):
            rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name=f"{user}-{role}"),
                role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io",
                                          kind="ClusterRole", name=role),
                subjects=[client.RbacV1Subject(kind="User", name=user,
                                               api_group="rbac.authorization.k8s.io")]))
        cluster.kubectl("create", "namespace", other)
        cluster.kubectl("-n", namespace, "apply", "-f",
                        str(REPO_ROOT / "examples" / "clientorg-childorg.yaml"))
        # alice (view) lists every kind in her namespace and sees the object...
        listed = cluster.kubectl("-n", namespace, "get", ",".join(KINDS), "--as=alice",
                                 "-o", "name")
        assert "datadogclientorg.ddmsp.io/acme" in listed.stdout
        for kind in KINDS:
            assert can(cluster, "alice", "list", f"{kind}.ddmsp.io", namespace), kind
            assert can(cluster, "alice", "watch", f"{kind}.ddmsp.io", namespace), kind
            assert not can(cluster, "alice", "create", f"{kind}.ddmsp.io", namespace), kind
            assert not can(cluster, "alice", "list", f"{kind}.ddmsp.io", other), kind
            for writer in ("bob", "carol"):  # edit and admin write, status stays the operator's
                for verb in ("create", "patch", "delete"):
                    assert can(cluster, writer, verb, f"{kind}.ddmsp.io", namespace), (
                        writer, verb, kind)
                assert not can(cluster, writer, "patch", f"{kind}.ddmsp.io", namespace,
                               "status"), (writer, kind)
            assert can(cluster, "alice", "get", f"{kind}.ddmsp.io", namespace, "status")
        denied = cluster.kubectl("-n", namespace, "delete", "ddorg", "acme", "--as=alice",
                                 check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
        # the cluster-scoped partner kind: not through a namespaced binding
        for user in ("alice", "bob", "carol"):
            assert not can(cluster, user, "list", "datadogpartners.ddmsp.io", None)
    finally:
        helm(cluster, "uninstall", release, "-n", namespace, check=False)
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)
