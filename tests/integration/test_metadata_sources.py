"""IdP metadata sources without a cluster-wide watch: a labelled ConfigMap's change arrives
through the label-selected watch at once; an unlabelled one's only through the by-name
poll (so with polling slowed to an hour it is not seen: nothing else streams it in), and
the config gets an event saying to add the label. `/readyz` says why it is not ready."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes import client

from ddmsp.readiness import Readiness
from tests.integration.conftest import Operator
from tests.support.kube import Cluster, serviceaccount_kubeconfig, unique_name
from tests.support.operator import wait_for
from tests.support.samlmeta import metadata

pytestmark = pytest.mark.kube

SAML = "datadogsamlconfigs"
LABEL = {"ddmsp.io/idp-metadata": "true"}


def put_config_map(api: client.ApiClient, ns: str, name: str, xml: str,
                   labels: dict[str, str] | None) -> None:
    core = client.CoreV1Api(api)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels),
                              data={"xml": xml})
    try:
        core.create_namespaced_config_map(ns, body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_config_map(name, ns, body)


def saml(name: str, source: str, org: str = "acme") -> dict[str, object]:
    return {"kind": "DatadogSAMLConfig", "metadata": {"name": name},
            "spec": {"orgRef": {"name": org},
                     "idpMetadata": {"configMapKeyRef": {"name": source, "key": "xml"}}}}


def entity(op: Operator, name: str) -> str:
    return str(op.get(SAML, name)["status"]["idp"]["entityId"])


def test_labelled_sources_are_watched_unlabelled_ones_only_polled(operator: Operator) -> None:
    op = operator
    op.process.extra_env["DDMSP_METADATA_POLL"] = "3600"
    put_config_map(op.api, op.namespace, "labelled", metadata("https://a.example/1"), LABEL)
    put_config_map(op.api, op.namespace, "plain", metadata("https://b.example/1"), None)
    op.start()
    for org in ("acme", "beta"):  # one SAML configuration per org
        op.apply("datadogclientorgs", {"kind": "DatadogClientOrg", "metadata": {"name": org},
                                       "spec": {"displayName": org.title()}})
    op.apply(SAML, saml("watched", "labelled"))
    op.apply(SAML, saml("polled", "plain", org="beta"))
    op.wait_condition(SAML, "watched", timeout=60)
    op.wait_condition(SAML, "polled", timeout=60)

    # The unlabelled change first: any watch that streamed it in would deliver it before
    # the labelled one (one resourceVersion order), whose handling (annotation, pass,
    # upload, status) is longer than noticing it would be (annotation, log line).
    put_config_map(op.api, op.namespace, "plain", metadata("https://b.example/2"), None)
    put_config_map(op.api, op.namespace, "labelled", metadata("https://a.example/2"), LABEL)
    wait_for(lambda: entity(op, "watched") == "https://a.example/2", timeout=20,
             what="labelled change noticed")
    assert entity(op, "polled") == "https://b.example/1"
    assert "plain changed" not in op.process.log()


def test_unlabelled_source_is_polled_by_name_and_the_config_told(operator: Operator) -> None:
    op = operator
    op.process.extra_env["DDMSP_METADATA_POLL"] = "1"
    put_config_map(op.api, op.namespace, "plain", metadata("https://b.example/1"), None)
    op.start()
    op.apply("datadogclientorgs", {"kind": "DatadogClientOrg", "metadata": {"name": "acme"},
                                   "spec": {"displayName": "Acme"}})
    op.apply(SAML, saml("polled", "plain"))
    op.wait_condition(SAML, "polled", timeout=60)
    put_config_map(op.api, op.namespace, "plain", metadata("https://b.example/2"), None)
    wait_for(lambda: entity(op, "polled") == "https://b.example/2", timeout=20,
             what="polled change noticed")
    told = [e for e in op.events("polled") if e.reason == "MetadataSourceNotLabeled"]
    assert told and "ddmsp.io/idp-metadata" in told[0].message


def test_readiness_names_what_is_missing(operator: Operator, tmp_path: Path) -> None:
    op = operator
    nobody = unique_name("nobody")
    kubeconfig = serviceaccount_kubeconfig(op.cluster, op.namespace, nobody, tmp_path / "kc")
    api = Cluster(kubeconfig, None, False).api_client()

    async def ask(readiness: Readiness) -> list[str]:
        return await readiness.problems()

    readiness = Readiness(api, [op.namespace])
    assert asyncio.run(ask(readiness)) == ["kopf has not started its watches yet"]
    readiness.started.set()
    problems = asyncio.run(ask(readiness))
    assert any("forbidden by RBAC" in p and op.namespace in p for p in problems)
    admin = Readiness(op.api, [op.namespace])
    admin.started.set()
    assert asyncio.run(ask(admin)) == []
