"""docs/operations.md's fixes for a DatadogClientOrg's Stalled reasons, applied literally.

Why: each row of the Stalled table tells a human what to do; these tests do exactly that
(the same kubectl patch, annotation or Secret restore) and expect Ready. Independent cases
share one operator process (starting one costs seconds on a loaded machine).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client

from tests.integration.conftest import Operator, put_secret, secret_data
from tests.integration.test_clientorg import PLURAL, org, orgs_named
from tests.support.operator import wait_for

pytestmark = pytest.mark.kube


def retry(op: Operator, name: str) -> None:
    """`kubectl annotate ddorg NAME ddmsp.io/retry=$(date +%s) --overwrite`, as written."""
    op.cluster.kubectl("-n", op.namespace, "annotate", "ddorg", name,
                       f"ddmsp.io/retry={time.time_ns()}", "--overwrite")


def keys_of(op: Operator, name: str) -> dict[str, str]:
    secret = op.get(PLURAL, name)["status"]["clientOrg"]["credentialsSecret"]
    data = secret_data(op.api, op.namespace, secret)
    assert data and data["api-key"] and data["app-key"]
    return data


def adopt(name: str, public_id: str, secret: str) -> dict[str, Any]:
    return org(name, f"Adopt {name}", adopt={"publicId": public_id,
                                            "credentialsSecretRef": {"name": secret}})


def delete_and_wait(op: Operator, name: str) -> None:
    op.objects.delete_namespaced_custom_object("ddmsp.io", "v1alpha1", op.namespace, PLURAL,
                                               name)

    def gone() -> bool:
        try:
            op.get(PLURAL, name)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout=90, what=f"{name} deleted")


def test_lost_keys_restored_and_wrong_adoptions_redone_as_documented(
        operator: Operator) -> None:
    """CredentialsLost, OrgNotFound, AdoptedOrgNotFound (both causes) and SecretConflict (a
    Secret already holding keys), each resolved by the table's own words."""
    op, sim = operator, operator.sim
    op.process.extra_args += ["--drift-interval", "2"]
    op.start()
    for name in ("lost", "moved", "donor"):
        op.apply(PLURAL, org(name, name.title()))
    for name in ("lost", "moved", "donor"):
        op.wait_condition(PLURAL, name, timeout=120)
    ns = op.namespace
    pids = {n: op.get(PLURAL, n)["status"]["clientOrg"]["publicId"]
            for n in ("lost", "moved", "donor")}
    lost_keys, moved_keys, donor_keys = (keys_of(op, n) for n in ("lost", "moved", "donor"))
    core = client.CoreV1Api(op.api)

    # CredentialsLost: the Secret loses its keys. "Restore the Secret from backup":
    # `kubectl apply -f ddmsp-keys.yaml`, then `kubectl annotate ddorg NAME
    # ddmsp.io/restored=$(date +%s)`.
    lost_secret = "lost-datadog-credentials"
    core.patch_namespaced_secret(lost_secret, ns, [
        {"op": "remove", "path": "/data/api-key"}, {"op": "remove", "path": "/data/app-key"}])
    # OrgNotFound: the Secret holds another org's keys (its org-public-id left as it was).
    moved_secret = "moved-datadog-credentials"
    core.patch_namespaced_secret(moved_secret, ns, {"stringData": {
        "api-key": donor_keys["api-key"], "app-key": donor_keys["app-key"]}})
    cond = op.wait_condition(PLURAL, "lost", "Stalled", "True", "CredentialsLost", timeout=90)
    assert lost_secret in cond["message"]
    cond = op.wait_condition(PLURAL, "moved", "Stalled", "True", "OrgNotFound", timeout=90)
    assert pids["moved"] in cond["message"]

    backup = client.V1Secret(api_version="v1", kind="Secret", string_data=lost_keys,
                             metadata=client.V1ObjectMeta(name=lost_secret))
    body = op.api.sanitize_for_serialization(backup)
    op.cluster.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(body))
    op.cluster.kubectl("-n", ns, "annotate", "ddorg", "lost",
                       f"ddmsp.io/restored={time.time_ns()}")
    # "Restore the org's keys in the credentials Secret"
    put_secret(op.api, ns, moved_secret, moved_keys)
    retry(op, "moved")
    op.wait_condition(PLURAL, "lost", timeout=90)
    op.wait_condition(PLURAL, "moved", timeout=90)
    assert op.condition(PLURAL, "lost", "Stalled")["status"] == "False"  # type: ignore[index]

    # AdoptedOrgNotFound. The orgs are first let go (deletionPolicy Orphan), so that the
    # adopting objects are their only managers.
    delete_and_wait(op, "donor")
    delete_and_wait(op, "moved")
    # A wrong ID: "delete the object (it created and changed nothing) and create it again
    # with the right ID".
    put_secret(op.api, ns, "donor-keys", {k: donor_keys[k] for k in ("api-key", "app-key")})
    typo = pids["donor"][:-1] + ("0" if pids["donor"][-1] != "0" else "1")
    op.apply(PLURAL, adopt("adopt-typo", typo, "donor-keys"))
    # Wrong keys (the partner's, the wanted org's parent).
    put_secret(op.api, ns, "parent-keys", {"api-key": sim.partner_api_key,
                                           "app-key": sim.partner_app_key})
    op.apply(PLURAL, adopt("adopt-parent", pids["moved"], "parent-keys"))
    # SecretConflict: the Secret for a new org's keys already holds keys (no org ID), twice.
    # (the keys of an org made earlier by hand, with the partner's keys)
    made, made_api, made_app = sim.state.create_child_org(
        sim.state.orgs[sim.partner_public_id], "Made By Hand")
    for name in ("clash", "claim"):
        put_secret(op.api, ns, f"{name}-keys", {"api-key": made_api, "app-key": made_app})
        core.patch_namespaced_secret(f"{name}-keys", ns, {"metadata": {"labels": {
            "ddmsp.io/owner-kind": "DatadogClientOrg", "ddmsp.io/owner-name": name,
            "app.kubernetes.io/managed-by": "ddmsp"}}})
        op.apply(PLURAL, org(name, name.title(), credentialsSecretName=f"{name}-keys"))

    cond = op.wait_condition(PLURAL, "adopt-typo", "Stalled", "True", "AdoptedOrgNotFound",
                             timeout=90)
    assert typo in cond["message"]
    op.wait_condition(PLURAL, "adopt-parent", "Stalled", "True", "AdoptedOrgNotFound",
                      timeout=90)
    delete_and_wait(op, "adopt-typo")
    op.apply(PLURAL, adopt("adopt-typo", pids["donor"], "donor-keys"))
    # "Wrong keys: put the org's own keys in the Secret, then kubectl annotate ddorg NAME
    # ddmsp.io/retry=$(date +%s) --overwrite"
    put_secret(op.api, ns, "parent-keys", {k: moved_keys[k] for k in ("api-key", "app-key")})
    retry(op, "adopt-parent")

    for name in ("clash", "claim"):
        cond = op.wait_condition(PLURAL, name, "Stalled", "True", "SecretConflict", timeout=90)
        assert f"{name}-keys" in cond["message"] and "create it again" in cond["message"]
    # "Choose another spec.credentialsSecretName", as the docs said, is refused by
    # admission; so the docs now say: delete the object, create it again with another.
    refused = op.cluster.kubectl("-n", ns, "patch", "ddorg", "clash", "--type=merge", "-p",
                                 json.dumps({"spec": {"credentialsSecretName": "x"}}),
                                 check=False)
    assert refused.returncode != 0 and "immutable" in refused.stderr
    delete_and_wait(op, "clash")
    op.apply(PLURAL, org("clash", "Clash", credentialsSecretName="clash-new-keys"))
    # "add the org's public ID to that Secret if it is really this org's", then retry
    core.patch_namespaced_secret("claim-keys", ns, {"stringData": {
        "org-public-id": made.public_id}})
    retry(op, "claim")

    for name in ("adopt-typo", "adopt-parent", "clash", "claim"):
        op.wait_condition(PLURAL, name, timeout=90)
    for name, target in (("adopt-typo", "donor"), ("adopt-parent", "moved")):
        assert op.get(PLURAL, name)["status"]["clientOrg"]["publicId"] == pids[target]
    assert op.get(PLURAL, "claim")["status"]["clientOrg"]["publicId"] == made.public_id
    assert len(orgs_named(sim, "Clash")) == 1
