"""docs/operations.md's fixes for the partner reasons of a DatadogClientOrg, applied
literally: PartnerSiteMismatch (Stalled) and the PartnerNotFound, PartnerAmbiguous and
PartnerNotAllowed waits ("a DatadogPartner that allows this namespace (a cluster admin fixes
the policy)"); and the DatadogPartner's own DefaultConflict wait ("a cluster admin keeps one
default ...; each partner re-checks by itself": no change to the partner kept is needed).

Why: these are a cluster admin's steps; each is done here with kubectl and the client ends
Ready. The waits re-check the policy by themselves only every 120 s (POLICY_RETRY), so the
test asks for the next attempt at once with the documented ``ddmsp.io/retry`` annotation.
DatadogPartners are cluster-scoped: every one made here is deleted afterwards.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.integration.conftest import Operator
from tests.integration.test_clientorg import PLURAL, org
from tests.support.kube import unique_name
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube


def partner_manifest(name: str, namespace: str, **spec: Any) -> str:
    return json.dumps({
        "apiVersion": "ddmsp.io/v1alpha1", "kind": "DatadogPartner",
        "metadata": {"name": name},
        "spec": {"credentialsSecretRef": {"namespace": namespace, "name": "partner"},
                 "allowedNamespaces": [namespace], **spec}})


def partner_ready(op: Operator, name: str, status: str, reason: str) -> dict[str, Any]:
    """Wait for a DatadogPartner's Ready condition (cluster-scoped: read with kubectl)."""
    def met() -> dict[str, Any] | None:
        body = json.loads(op.cluster.kubectl("get", "ddpartner", name, "-o", "json").stdout)
        conds = (body.get("status") or {}).get("conditions") or []
        ready = next((c for c in conds if c["type"] == "Ready"), None)
        return ready if ready and (ready["status"], ready["reason"]) == (status, reason) \
            else None
    return wait_for(met, timeout=90, what=f"DatadogPartner {name} Ready={status} {reason}")


def test_partner_fixes_reach_ready(operator: Operator) -> None:
    op = operator
    ns = op.namespace
    names = {k: unique_name(k) for k in ("later", "com", "eu", "one", "two", "closed")}
    made: list[str] = []

    def kubectl_apply(name: str, **spec: Any) -> None:
        made.append(name)
        op.cluster.kubectl("apply", "-f", "-", input=partner_manifest(name, ns, **spec))

    def retry(name: str) -> None:
        op.cluster.kubectl("-n", ns, "annotate", "ddorg", name,
                           f"ddmsp.io/retry={time.time_ns()}", "--overwrite")

    try:
        op.start()
        kubectl_apply(names["com"])
        kubectl_apply(names["closed"], allowedNamespaces=["somewhere-else"])
        op.apply(PLURAL, org("later", "Later", partnerRef={"name": names["later"]}))
        op.apply(PLURAL, org("euro", "Euro", site="datadoghq.eu",
                             partnerRef={"name": names["com"]}))
        op.apply(PLURAL, org("closed", "Closed", partnerRef={"name": names["closed"]}))

        # PartnerNotFound: "a cluster admin creates it"
        op.wait_condition(PLURAL, "later", "Ready", "False", "PartnerNotFound", timeout=90)
        kubectl_apply(names["later"])
        retry("later")
        # PartnerSiteMismatch: "Use a partner on the same site"
        op.wait_condition(PLURAL, "euro", "Stalled", "True", "PartnerSiteMismatch",
                          timeout=90)
        kubectl_apply(names["eu"], site="datadoghq.eu")
        op.cluster.kubectl("-n", ns, "patch", "ddorg", "euro", "--type=merge", "-p",
                           json.dumps({"spec": {"partnerRef": {"name": names["eu"]}}}))
        # PartnerNotAllowed: "a cluster admin fixes the policy"
        op.wait_condition(PLURAL, "closed", "Ready", "False", "PartnerNotAllowed", timeout=90)
        op.cluster.kubectl("patch", "ddpartner", names["closed"], "--type=merge", "-p",
                           json.dumps({"spec": {"allowedNamespaces": [ns]}}))
        retry("closed")
        for name in ("later", "euro", "closed"):
            op.wait_condition(PLURAL, name, timeout=90)

        # PartnerAmbiguous: two default partners; "a cluster admin keeps one"
        kubectl_apply(names["one"], default=True)
        kubectl_apply(names["two"], default=True)
        op.apply(PLURAL, org("plain", "Plain"))
        op.wait_condition(PLURAL, "plain", "Ready", "False", "PartnerAmbiguous", timeout=90)
        # the partner made second sees the first; the first is woken by that change (its
        # own next check is an hour away: cost_refresh_interval) and sees it at once
        partner_ready(op, names["two"], "False", "DefaultConflict")
        partner_ready(op, names["one"], "False", "DefaultConflict")
        op.cluster.kubectl("delete", "ddpartner", names["two"])  # the documented fix
        retry("plain")
        op.wait_condition(PLURAL, "plain", timeout=90)
        assert op.get(PLURAL, "plain")["status"]["partner"] == f"DatadogPartner/{names['one']}"
        partner_ready(op, names["one"], "True", "KeysValid")
    finally:
        for name in made:
            op.cluster.kubectl("delete", "ddpartner", name, "--ignore-not-found", check=False)
