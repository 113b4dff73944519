"""Bad DatadogRole / DatadogSAMLConfig specs are refused at admission, naming the fix."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from tests.support.kube import Cluster
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube
GROUP, VERSION = "ddmsp.io", "v1alpha1"
XML = "<md:EntityDescriptor/>"


def create(api: client.ApiClient, namespace: str, plural: str, kind: str,
           spec: dict[str, Any], name: str = "x") -> dict[str, Any]:
    return client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, plural,
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name},
         "spec": spec})


def refused(api: client.ApiClient, namespace: str, plural: str, kind: str,
            spec: dict[str, Any]) -> str:
    with pytest.raises(client.ApiException) as err:
        create(api, namespace, plural, kind, spec)
    assert err.value.status == 422
    return str(json.loads(err.value.body)["message"])


@pytest.mark.parametrize(("spec", "expected"), [
    ({"permissions": ["a"]}, "set exactly one of spec.orgRef"),
    ({"orgRef": {"name": "a"}, "credentialsSecretRef": {"name": "k"}},
     "set exactly one of spec.orgRef"),
    ({"orgRef": {"name": "a"}, "site": "datadoghq.eu"}, "spec.site applies only with"),
    ({"orgRef": {"name": "a", "org": "other"}}, 'supported values: "client", "parent"'),
    ({"orgRef": {"name": "a"}, "permissions": ["a", "a"]}, "Duplicate value"),
    ({"orgRef": {"name": "a"}, "deletionPolicy": "Keep"}, 'supported values: "Delete"'),
    ({"orgRef": {"name": "a"}, "defaultPermissions": "Drop"}, 'supported values: "Keep"'),
    ({"orgRef": {"name": "a"}, "adopt": {}}, "set exactly one of spec.adopt.roleId"),
    ({"orgRef": {"name": "a"}, "adopt": {"roleId": "1", "roleName": "Ops"}},
     "set exactly one of spec.adopt.roleId"),
], ids=["no-org", "two-orgs", "site-with-orgref", "bad-org", "duplicate-permission",
        "bad-policy", "bad-default-permissions", "adopt-nothing", "adopt-two"])
def test_bad_role_specs(api: client.ApiClient, namespace: str, crds: None,
                        spec: dict[str, Any], expected: str) -> None:
    assert expected in refused(api, namespace, "datadogroles", "DatadogRole", spec)


@pytest.mark.parametrize(("spec", "expected"), [
    ({"orgRef": {"name": "a"}}, "spec.idpMetadata: Required value"),
    ({"orgRef": {"name": "a"}, "idpMetadata": {}}, "set exactly one of spec.idpMetadata"),
    ({"orgRef": {"name": "a"}, "idpMetadata": {"inline": XML,
                                               "configMapKeyRef": {"name": "c", "key": "k"}}},
     "set exactly one of spec.idpMetadata"),
    ({"orgRef": {"name": "a"}, "idpMetadata": {"inline": XML}, "strictMode": True},
     "spec.acknowledgeLockoutRisk: true"),
    ({"orgRef": {"name": "a"}, "idpMetadata": {"inline": XML},
      "roleMappings": [{"attributeKey": "g", "attributeValue": "v"}]},
     "exactly one of roleRef"),
    ({"orgRef": {"name": "a"}, "idpMetadata": {"inline": XML},
      "autocreateUsers": {"domains": ["a@b.com"]}}, "spec.autocreateUsers.domains[0]"),
    ({"orgRef": {"name": "a"}, "idpMetadata": {"inline": XML},
      "autocreateUsers": {"accessRole": "owner"}}, 'supported values: "st", "adm", "ro"'),
    ({"orgRef": {"name": "a"}, "idpMetadata": {"inline": XML},
      "autocreateUsers": {"domains": ["example\u00a0.com"]}},
     "spec.autocreateUsers.domains entries are email domains"),
    ({"orgRef": {"name": "a"}, "idpMetadata": {"inline": XML},
      "roleMappings": [{"attributeKey": "g", "attributeValue": "ops\n", "roleName": "R"}]},
     "spec.roleMappings[].attributeValue must be one line of text"),
], ids=["no-metadata", "no-source", "two-sources", "strict-needs-ack", "mapping-needs-role",
        "domain-with-at", "bad-access-role", "domain-with-no-break-space",
        "attribute-value-newline"])
def test_bad_saml_specs(api: client.ApiClient, namespace: str, crds: None,
                        spec: dict[str, Any], expected: str) -> None:
    assert expected in refused(api, namespace, "datadogsamlconfigs", "DatadogSAMLConfig", spec)


def test_defaults_and_explain(api: client.ApiClient, namespace: str, crds: None,
                              cluster: Cluster) -> None:
    role = create(api, namespace, "datadogroles", "DatadogRole", {"orgRef": {"name": "a"}})
    assert role["spec"]["deletionPolicy"] == "Delete"
    assert role["spec"]["orgRef"]["org"] == "client"
    assert role["spec"]["defaultPermissions"] == "Keep"
    assert "adopt" not in role["spec"]  # adoption is never implied
    saml = create(api, namespace, "datadogsamlconfigs", "DatadogSAMLConfig",
                  {"orgRef": {"name": "a"}, "idpMetadata": {"inline": XML}})
    assert "enabled" not in saml["spec"]  # unset settings stay unset: nothing is sent
    assert saml["spec"]["deletionPolicy"] == "Delete"
    explain = wait_for(lambda: cluster.kubectl("explain", "ddrole.spec.permissions",
                                               check=False).stdout, what="kubectl explain")
    assert "exact" in explain
    explain = wait_for(lambda: cluster.kubectl("explain", "ddrole.spec.defaultPermissions",
                                               check=False).stdout, what="kubectl explain")
    assert "OptOut" in explain and "dashboards_read" in explain
    explain = wait_for(lambda: cluster.kubectl("explain", "ddsaml.spec.acknowledgeLockoutRisk",
                                               check=False).stdout, what="kubectl explain")
    assert "locks everyone out" in explain
