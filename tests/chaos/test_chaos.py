"""Chaos: the operator SIGKILLed at random moments while client orgs (both provisioning
modes) with roles and SAML provision, under injected 5xx, 429 storms and dropped responses,
with a kube-apiserver restart mid-run and the simulator's strict org listing. Then the
invariants: no duplicate org; everything Ready, or Stalled with CreationResultUnknown only
as often as a create's answer really was lost; every Ready org's Secret holds keys the
simulator accepts; no key in any log, event or status; no unexplained phase; roles hold
exactly their permissions; SAML mappings are exactly the spec.

The run is seeded: the seed is printed, and ``DDMSP_CHAOS_SEED=<seed>`` replays it.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from ddmsp.simulator.server import RunningSimulator
from tests.chaos.support import (
    GROUP,
    ORGS,
    ROLES,
    SAML,
    VERSION,
    can_restart_apiserver,
    items,
    ready,
    restart_apiserver,
)
from tests.support.kube import Cluster
from tests.support.operator import OperatorProcess, wait_for
from tests.support.samlmeta import metadata

pytestmark = pytest.mark.kube

# Datadog's default permissions, kept on every role unless OptOut (see test_roles.py).
DEFAULTS = ("apm_read", "appsec_vm_read", "cd_visibility_read", "ci_visibility_read",
            "dashboards_read", "incident_read", "monitors_read", "notebooks_read", "rum_apps_read",
            "slos_read")
PERMISSIONS = ["monitors_write", "dashboards_write", "monitors_downtime", "synthetics_read"]
CHILD_ORGS, SPINOFF_ORGS, KILLS = 12, 4, 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client_objects(index: int, mode: str, idp: str) -> list[tuple[str, dict[str, Any]]]:
    name = f"k{index:02d}"
    perms = [PERMISSIONS[index % 4], PERMISSIONS[(index + 1) % 4]]
    return [
        (ORGS, {"kind": "DatadogClientOrg", "metadata": {"name": name},
                "spec": {"displayName": f"Chaos {name}", "provisioning": mode}}),
        (ROLES, {"kind": "DatadogRole", "metadata": {"name": f"{name}-ops"},
                 "spec": {"orgRef": {"name": name}, "permissions": perms}}),
        (SAML, {"kind": "DatadogSAMLConfig", "metadata": {"name": f"{name}-sso"},
                "spec": {"orgRef": {"name": name}, "idpMetadata": {"inline": idp},
                         "enabled": True,
                         "roleMappings": [{"attributeKey": "groups", "attributeValue": name,
                                           "roleRef": {"name": f"{name}-ops"}}]}}),
    ]


def confirm_registrations(api: client.ApiClient, namespace: str) -> None:
    """What the partner does after the DPN portal: confirm naming the parent org."""
    objs = client.CustomObjectsApi(api)
    for body in items(api, namespace, ORGS):
        status = body.get("status") or {}
        parent = (status.get("parentOrg") or {}).get("publicId")
        reg = (body.get("spec") or {}).get("registration") or {}
        if status.get("phase") == "AwaitingRegistration" and parent and \
                reg.get("orgPublicId") != parent:
            objs.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, ORGS, body["metadata"]["name"],
                {"spec": {"registration": {"confirmed": True, "orgPublicId": parent}}})


def add_faults(sim: RunningSimulator, rng: random.Random) -> None:
    """20% 5xx on every endpoint but the org create (a 5xx there may mean "created": the
    operator rightly stalls), lost answers to creates (orgs, roles, mappings: committed,
    then the connection is cut), slow answers."""
    for route in ("GET *", "PUT *", "PATCH *", "DELETE *", "POST /api/v2/*",
                  "POST /api/v1/org/*"):
        sim.add_fault(route=route, error_rate=0.2, status=rng.choice([500, 502, 503]),
                      seed=rng.randrange(2**31))
    sim.add_fault(route="POST /api/v1/org", commit_then_drop=True, times=2)
    sim.add_fault(route="POST /api/v2/roles", commit_then_drop=True, times=2)
    sim.add_fault(route="POST /api/v2/authn_mappings", commit_then_drop=True, times=2)
    sim.add_fault(route="*", latency_ms=30)


def settled(api: client.ApiClient, namespace: str) -> bool:
    """Every object Ready, except orgs Stalled with CreationResultUnknown and the objects
    waiting for exactly those orgs."""
    stalled = {b["metadata"]["name"] for b in items(api, namespace, ORGS)
               if (ready(b) or {}).get("reason") == "CreationResultUnknown"}
    for plural in (ORGS, ROLES, SAML):
        for body in items(api, namespace, plural):
            cond = ready(body) or {}
            if cond.get("status") == "True":
                continue
            org = body["metadata"]["name"] if plural == ORGS else \
                body["spec"]["orgRef"]["name"]
            if org not in stalled:
                return False
    return True


def leading(op: OperatorProcess, starts: int, timeout: float = 60) -> None:
    """Wait until the operator's ``starts``-th process holds the Lease."""
    wait_for(lambda: op.log().count("acquired Lease") >= starts, timeout=timeout,
             what=f"operator start {starts} leading")


def secret_data(api: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    secret = client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


@pytest.mark.timeout(900)
def test_chaos_sigkills_faults_apiserver_restart(
    cluster: Cluster, api: client.ApiClient, namespace: str, crds: None,
    sim: RunningSimulator, partner_secret: str, tmp_path: Path,
) -> None:
    seed = int(os.environ.get("DDMSP_CHAOS_SEED") or random.randrange(2**31))
    print(f"chaos seed: {seed} (replay with DDMSP_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    if hasattr(sim, "set_config"):  # the simulator's strict listing (its default)
        sim.set_config(org_listing="own")
    sim.set_rate_limit("orgs_create", 10_000, 3600)
    port = free_port()
    op = OperatorProcess(
        cluster.kubeconfig, sim.base_url, [namespace], tmp_path / "operator.log",
        extra_env={"DDMSP_PARTNER_SECRET": f"{namespace}/partner",
                   "DDMSP_CREATE_SETTLE_SECONDS": "2"},
        extra_args=["--lease-duration", "3", "--metrics-port", str(port),
                    "--backoff-cap", "5", "--drift-interval", "20"])
    idp = metadata()
    objects = [o for i in range(CHILD_ORGS + SPINOFF_ORGS) for o in client_objects(
        i, "ChildOrg" if i < CHILD_ORGS else "SpinOff", idp)]
    rng.shuffle(objects)
    add_faults(sim, rng)
    objs = client.CustomObjectsApi(api)
    restart_at = rng.randrange(KILLS // 3, 2 * KILLS // 3) if can_restart_apiserver(cluster) \
        else None
    storm_at = rng.randrange(KILLS)
    op.start()
    try:
        pending = list(objects)
        for kill in range(KILLS):
            for _ in range(min(len(pending), rng.randint(3, 8))):  # applied while it runs
                plural, body = pending.pop()
                objs.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, {"apiVersion": f"{GROUP}/{VERSION}",
                                                        **body})
            if kill == storm_at:
                sim.add_fault(route="*", rate_limit_storm={"count": 40, "reset": 1})
            leading(op, kill + 1)  # the kill lands while it works, not while it starts
            time.sleep(rng.uniform(0.2, 3.0))  # the chaos itself: a kill at a random moment
            op.kill()
            print(f"SIGKILL {kill + 1}/{KILLS}")
            if kill == restart_at:
                restart_apiserver(cluster)
                print("kube-apiserver restarted")
            confirm_registrations(api, namespace)
            op.start()
        assert not pending
        leading(op, KILLS + 1)
        for _ in range(6):  # the faults go on for a while without kills
            confirm_registrations(api, namespace)
            time.sleep(2)
        sim.clear_faults()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not settled(api, namespace):
            confirm_registrations(api, namespace)
            time.sleep(2)
        time.sleep(3)  # passes in flight land (op.stop()'s SIGTERM drains them too)
    finally:
        op.stop()
    check_invariants(api, namespace, sim, op, KILLS)
    if restart_at is None:
        print("kube-apiserver restart skipped: the session does not own its control plane")


def check_invariants(api: client.ApiClient, namespace: str, sim: RunningSimulator,
                     op: OperatorProcess, kills: int) -> None:
    orgs, roles, samls = (items(api, namespace, p) for p in (ORGS, ROLES, SAML))
    snapshot = {o["public_id"]: o for o in sim.snapshot()["orgs"]}
    calls = sim.calls()
    summary = {b["metadata"]["name"]: (ready(b) or {}).get("reason")
               for b in orgs + roles + samls}

    # No duplicate org. ChildOrg: one org per name. SpinOff: the parent (created under the
    # partner, then spun off) and the client's org created under it share the name: at
    # most one of each.
    for body in orgs:
        display = body["spec"]["displayName"]
        named = [o for o in snapshot.values() if o["name"] == display]
        ids = {o["public_id"] for o in named}
        under_own = [o for o in named if o["parent"] in ids]
        assert len(named) - len(under_own) <= 1, (display, named)
        assert len(under_own) <= (1 if body["spec"]["provisioning"] == "SpinOff" else 0), named

    # Ready, or Stalled(CreationResultUnknown) no more often than answers were really lost
    # (a dropped create response) or a kill could have cut a create in half.
    dropped = calls.get("POST /api/v1/org", {}).get(0, 0)
    unknown = [b["metadata"]["name"] for b in orgs
               if (ready(b) or {}).get("reason") == "CreationResultUnknown"]
    answers: dict[int, int] = {}
    for by_status in calls.values():
        for status, n in by_status.items():
            answers[status] = answers.get(status, 0) + n
    every = orgs + roles + samls
    n_ready = sum(1 for b in every if (ready(b) or {}).get("status") == "True")
    print(f"Datadog answers by status (0 = dropped): {dict(sorted(answers.items()))}; "
          f"org creates dropped: {dropped}; Stalled CreationResultUnknown: {unknown}; "
          f"Ready: {n_ready}/{len(every)}")
    assert answers.get(500, 0) + answers.get(502, 0) + answers.get(503, 0) > 0  # faults hit
    assert len(unknown) <= dropped + kills, (unknown, dropped, summary)
    for body in orgs + roles + samls:
        cond = ready(body)
        assert cond is not None, body["metadata"]["name"]  # no phase without a condition
        if cond["status"] != "True":
            assert cond["reason"] and cond["message"], body["metadata"]["name"]
            org = body["metadata"]["name"] if body in orgs else body["spec"]["orgRef"]["name"]
            assert org in unknown, (body["metadata"]["name"], cond, summary)
            if body in orgs:
                stalled = next(c for c in body["status"]["conditions"] if c["type"] == "Stalled")
                assert stalled["status"] == "True", body["status"]

    # Every Ready org's Secret holds keys the simulator accepts, for that very org.
    keys: list[str] = [sim.partner_api_key, sim.partner_app_key]
    for body in orgs:
        if (ready(body) or {}).get("status") != "True":
            continue
        record = body["status"]["clientOrg"]
        data = secret_data(api, namespace, record["credentialsSecret"])
        keys += [data["api-key"], data["app-key"]]
        found = sim.state.org_for_keys(data["api-key"], data["app-key"])
        assert found is not None and found.public_id == record["publicId"], record
        assert snapshot[record["publicId"]]["name"] == body["spec"]["displayName"]
        parent = (body["status"].get("parentOrg") or {}).get("credentialsSecret")
        if parent:
            pdata = secret_data(api, namespace, parent)
            keys += [pdata["api-key"], pdata["app-key"]]

    # No key string in any log, event or status.
    events = client.CoreV1Api(api).list_namespaced_event(namespace).items
    texts = {"operator log": op.log(),
             "events": "\n".join(f"{e.reason} {e.message}" for e in events),
             "status": json.dumps([b.get("status") for b in orgs + roles + samls])}
    for where, text in texts.items():
        leaked = [k[:4] + "..." for k in keys if k and k in text]
        assert not leaked, f"key material in {where}: {leaked}"

    # Roles hold exactly their permission sets (spec plus Datadog's defaults); one role each.
    org_of = {b["metadata"]["name"]: b["status"]["clientOrg"]["publicId"] for b in orgs
              if (ready(b) or {}).get("status") == "True"}
    for body in roles:
        pid = org_of.get(body["spec"]["orgRef"]["name"])
        if pid is None:
            continue
        found = [r for r in snapshot[pid]["roles"] if r["name"] == body["metadata"]["name"]]
        assert len(found) == 1, (body["metadata"]["name"], found)
        assert found[0]["permissions"] == sorted({*body["spec"]["permissions"], *DEFAULTS})
        assert found[0]["id"] == body["status"]["roleId"]

    # Each SAML config's mappings are exactly its spec; SAML is on with its metadata.
    for body in samls:
        pid = org_of.get(body["spec"]["orgRef"]["name"])
        if pid is None:
            continue
        org = snapshot[pid]
        have = sorted((m["attribute_key"], m["attribute_value"], m["role_name"])
                      for m in org["authn_mappings"])
        want = sorted((m["attributeKey"], m["attributeValue"], m["roleRef"]["name"])
                      for m in body["spec"]["roleMappings"])
        assert have == want, (body["metadata"]["name"], have)
        assert org["settings"]["saml"]["enabled"] is True
        assert org["idp_metadata"] is not None
