"""Bad DatadogUser specs are refused at admission, naming the fix; defaults and explain."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from tests.support.kube import Cluster
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube
GROUP, VERSION, PLURAL = "ddmsp.io", "v1alpha1", "datadogusers"
ORG = {"orgRef": {"name": "acme"}}


def create(api: client.ApiClient, namespace: str, spec: dict[str, Any],
           name: str = "x") -> dict[str, Any]:
    return client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL,
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogUser", "metadata": {"name": name},
         "spec": spec})


@pytest.mark.parametrize(("spec", "expected"), [
    ({"email": "a@b.example"}, "set exactly one of spec.orgRef"),
    ({**ORG}, "spec.email: Required value"),
    ({**ORG, "email": "not-an-email"}, "spec.email"),
    ({**ORG, "email": "a@b.example", "roles": [{}]}, "set exactly one of roleRef"),
    ({**ORG, "email": "a@b.example",
      "roles": [{"roleRef": "ops", "roleName": "Datadog Read Only Role"}]},
     "set exactly one of roleRef"),
    ({**ORG, "email": "a@b.example", "deletionPolicy": "Remove"},
     'supported values: "Delete", "Orphan"'),
], ids=["no-org", "no-email", "bad-email", "empty-role", "two-role-kinds", "bad-policy"])
def test_bad_user_specs(api: client.ApiClient, namespace: str, crds: None,
                        spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(client.ApiException) as err:
        create(api, namespace, spec)
    assert err.value.status == 422
    assert expected in str(json.loads(err.value.body)["message"])


def test_defaults_immutable_email_and_explain(api: client.ApiClient, namespace: str,
                                              crds: None, cluster: Cluster) -> None:
    user = create(api, namespace, {**ORG, "email": "a@b.example"})
    spec = user["spec"]
    assert spec["invite"] is True and spec["disabled"] is False
    assert spec["deletionPolicy"] == "Delete" and spec["managementPolicy"] == "Full"
    with pytest.raises(client.ApiException) as err:
        client.CustomObjectsApi(api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "x", {"spec": {"email": "c@d.example"}})
    assert err.value.status == 422 and "spec.email is immutable" in err.value.body
    explain = wait_for(lambda: cluster.kubectl("explain", "dduser.spec.email",
                                               check=False).stdout, what="kubectl explain")
    assert "UserExists" in explain and "spec.adopt" in explain and "never deletes users" in explain
    explain = wait_for(lambda: cluster.kubectl("explain", "dduser.spec.roles",
                                               check=False).stdout, what="kubectl explain")
    assert "exact" in explain and "roleRef" in explain
