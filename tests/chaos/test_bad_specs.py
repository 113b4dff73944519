"""Bad input at scale: generated DatadogRole and DatadogSAMLConfig specs against the real API
server and the running operator. Each spec is either refused at admission with a message
naming the field, or ends with a clear Ready condition (reason and message); the operator
never crashes and never loops hot on one (reconcile passes counted from its metrics)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client

from tests.chaos.support import ready
from tests.integration.conftest import Operator
from tests.support.operator import reconciles_total, wait_for
from tests.support.samlmeta import BILLION_LAUGHS, MALFORMED, XXE, metadata

pytestmark = pytest.mark.kube
GROUP, VERSION = "ddmsp.io", "v1alpha1"
VALID = ["monitors_write", "dashboards_write", "synthetics_read", "logs_read_data"]
JUNK = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-. ", min_size=0, max_size=24)
NAMES = st.one_of(st.just("acme"), st.just("missing"),
                  st.text(alphabet="abc-", min_size=0, max_size=5))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


role_specs = st.fixed_dictionaries(
    {"orgRef": st.fixed_dictionaries({"name": NAMES})},
    optional={
        "permissions": st.lists(st.one_of(st.sampled_from(VALID), JUNK), max_size=4),
        "defaultPermissions": st.sampled_from(["Keep", "OptOut", "Drop", ""]),
        "roleName": st.one_of(JUNK, st.just("x" * 300)),
        "deletionPolicy": st.sampled_from(["Delete", "Orphan", "Keep"]),
        "adopt": st.sampled_from([{}, {"roleId": "nope"}, {"roleName": "Nobody"}]),
    })

saml_specs = st.fixed_dictionaries(
    {"orgRef": st.fixed_dictionaries({"name": NAMES}),
     "idpMetadata": st.sampled_from([
         {"inline": metadata()}, {"inline": MALFORMED}, {"inline": XXE},
         {"inline": BILLION_LAUGHS}, {"inline": ""}, {"inline": "not xml"},
         {"configMapKeyRef": {"name": "absent", "key": "m.xml"}}, {}])},
    optional={
        "enabled": st.booleans(),
        "strictMode": st.booleans(),
        "roleMappings": st.lists(st.fixed_dictionaries({
            "attributeKey": JUNK, "attributeValue": JUNK,
            "roleName": st.one_of(st.just("Datadog Read Only Role"), JUNK)}), max_size=2),
    })


class Probe:
    """Applies one spec and judges the outcome."""

    def __init__(self, operator: Operator, port: int) -> None:
        self.op = operator
        self.port = port
        self.count = 0

    def check(self, plural: str, kind: str, spec: dict[str, Any]) -> None:
        self.count += 1
        name = f"bad-{self.count}"
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name},
                "spec": spec}
        try:
            self.op.objects.create_namespaced_custom_object(
                GROUP, VERSION, self.op.namespace, plural, body)
        except client.ApiException as exc:
            assert exc.status == 422, exc.body
            message = str(json.loads(exc.body)["message"])
            assert "spec" in message, message  # names the field
            return
        try:
            cond = wait_for(lambda: self._verdict(plural, name), timeout=30,
                            what=f"{kind} {name} {spec} gets a Ready condition")
            assert cond["reason"], cond
            if cond["status"] != "True":
                assert cond["message"], cond
            before = reconciles_total(self.port)
            time.sleep(3)  # a rate is measured over a window of time: passes per 3 s
            passes = reconciles_total(self.port) - before
            assert passes <= 4, f"{passes} passes in 3 s for {spec}: a hot loop"
            assert self.op.process.proc is not None and self.op.process.proc.poll() is None
        finally:
            self.op.objects.delete_namespaced_custom_object(
                GROUP, VERSION, self.op.namespace, plural, name)
            wait_for(lambda: self._gone(plural, name), timeout=30, what=f"{name} deleted")

    def _verdict(self, plural: str, name: str) -> dict[str, Any] | None:
        cond = ready(self.op.get(plural, name))
        # Settled on a verdict: Ready, or not Ready for a stated reason other than the
        # first moments' "no status yet".
        return cond if cond and cond.get("reason") else None

    def _gone(self, plural: str, name: str) -> bool:
        try:
            self.op.get(plural, name)
        except client.ApiException as exc:
            return exc.status == 404
        return False


@pytest.fixture
def probe(operator: Operator) -> Probe:
    port = free_port()
    operator.process.extra_args += ["--metrics-port", str(port)]
    operator.start()
    operator.apply("datadogclientorgs", {"kind": "DatadogClientOrg",
                                         "metadata": {"name": "acme"},
                                         "spec": {"displayName": "Acme"}})
    operator.wait_condition("datadogclientorgs", "acme", timeout=60)
    return Probe(operator, port)


@pytest.mark.timeout(600)
def test_generated_bad_specs(probe: Probe) -> None:
    @settings(max_examples=12, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(spec=role_specs)
    def roles(spec: dict[str, Any]) -> None:
        probe.check("datadogroles", "DatadogRole", spec)

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(spec=saml_specs)
    def samls(spec: dict[str, Any]) -> None:
        probe.check("datadogsamlconfigs", "DatadogSAMLConfig", spec)

    roles()
    samls()
    assert "Traceback" not in probe.op.process.log()
