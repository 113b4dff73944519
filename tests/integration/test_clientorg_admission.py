"""Bad DatadogClientOrg specs are refused at admission, with a message naming the fix."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from tests.support.kube import Cluster
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube
GROUP, VERSION, PLURAL = "ddmsp.io", "v1alpha1", "datadogclientorgs"


def create(api: client.ApiClient, namespace: str, spec: dict[str, Any],
           name: str = "bad") -> dict[str, Any]:
    return client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL,
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "DatadogClientOrg",
         "metadata": {"name": name}, "spec": spec})


def refused(api: client.ApiClient, namespace: str, spec: dict[str, Any]) -> str:
    with pytest.raises(client.ApiException) as err:
        create(api, namespace, spec)
    assert err.value.status == 422
    return str(json.loads(err.value.body)["message"])


@pytest.mark.parametrize(("spec", "expected"), [
    ({"displayName": "x" * 33}, "spec.displayName"),
    ({"displayName": ""}, "spec.displayName"),
    ({}, "spec.displayName: Required value"),
    ({"displayName": "A", "provisioning": "Child"}, 'supported values: "ChildOrg", "SpinOff"'),
    ({"displayName": "A", "site": "datadoghq.co"}, "spec.site"),
    ({"displayName": "A", "registration": {"confirmed": True}},
     "spec.registration applies only to provisioning: SpinOff"),
    ({"displayName": "A", "deletionPolicy": "Delete"}, 'supported values: "Orphan"'),
    ({"displayName": "A", "adopt": {"publicId": "abc"}}, "spec.adopt.credentialsSecretRef"),
    ({"displayName": "A", "credentialsSecretName": "Not_A_Name"}, "spec.credentialsSecretName"),
    ({"displayName": " Acme"}, "spec.displayName must be one line of text"),
    ({"displayName": "Acme\nCorp"}, "spec.displayName must be one line of text"),
    ({"displayName": "A", "budget": {"monthlyLimit": 0}}, "spec.budget.monthlyLimit"),
    ({"displayName": "A", "budget": {"monthlyLimit": 9, "warnAtPercent": [90, 80]}},
     "spec.budget.warnAtPercent must list each percentage once, in increasing order"),
], ids=["name-too-long", "name-empty", "name-missing", "bad-mode", "bad-site",
        "registration-needs-spinoff", "orgs-cannot-be-deleted", "adopt-needs-keys",
        "bad-secret-name", "name-leading-space", "name-newline", "budget-0",
        "thresholds-decreasing"])
def test_bad_specs_are_refused(api: client.ApiClient, namespace: str, crds: None,
                               spec: dict[str, Any], expected: str) -> None:
    assert expected in refused(api, namespace, spec)


def test_immutable_fields(api: client.ApiClient, namespace: str, crds: None,
                          cluster: Cluster) -> None:
    objs = client.CustomObjectsApi(api)
    create(api, namespace, {"displayName": "Imm", "provisioning": "SpinOff"}, name="imm")
    for patch, expected in [
        ({"provisioning": "ChildOrg"}, "spec.provisioning is immutable"),
        ({"site": "datadoghq.eu"}, "spec.site is immutable"),
        ({"credentialsSecretName": "other"}, "spec.credentialsSecretName is immutable"),
    ]:
        with pytest.raises(client.ApiException) as err:
            objs.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "imm",
                                                {"spec": patch})
        assert err.value.status == 422 and expected in json.loads(err.value.body)["message"]
    # adopt may be set once (resolving a lost create), then never changed
    adopt = {"publicId": "abc123", "credentialsSecretRef": {"name": "k"}}
    objs.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "imm",
                                        {"spec": {"adopt": adopt}})
    with pytest.raises(client.ApiException) as err:
        objs.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "imm",
                                            {"spec": {"adopt": {**adopt, "publicId": "zzz"}}})
    assert "spec.adopt cannot be changed once set" in str(err.value.body)
    # ... but it can be removed: the way out of AdoptAfterCreate that admission allows
    objs.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "imm",
                                        {"spec": {"adopt": None}})
    assert "adopt" not in objs.get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "imm")["spec"]
    # a rename is allowed (the operator renames the org)
    objs.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "imm",
                                        {"spec": {"displayName": "Renamed"}})
    # defaults are applied by the API server
    got = objs.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "imm")
    assert got["spec"]["site"] == "datadoghq.com"
    assert got["spec"]["deletionPolicy"] == "Orphan"
    assert got["spec"]["managementPolicy"] == "Full"
    # kubectl explain reads the field docs
    explain = wait_for(lambda: cluster.kubectl("explain", "ddorg.spec.registration.confirmed",
                                               check=False).stdout, what="kubectl explain")
    assert "DPN portal" in explain


def test_names_leave_room_for_the_secrets_named_after_them(
        api: client.ApiClient, namespace: str, crds: None) -> None:
    """The keys go to Secret <name>-datadog-credentials(-parent): each must stay a valid
    Secret name (at most 253 characters), so admission bounds the names it derives from."""
    with pytest.raises(client.ApiException) as err:
        create(api, namespace, {"displayName": "A"}, name="a" * 227)
    assert err.value.status == 422
    assert "use a shorter name or set spec.credentialsSecretName" in err.value.body
    create(api, namespace, {"displayName": "A", "credentialsSecretName": "keys"},
           name="b" * 240)
    create(api, namespace, {"displayName": "A"}, name="c" * 226)
    assert "spec.credentialsSecretName" in refused(
        api, namespace, {"displayName": "A", "credentialsSecretName": "k" * 247})
