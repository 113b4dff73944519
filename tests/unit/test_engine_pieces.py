"""Engine pieces in isolation: conditions, the create guard's protocol, handler jitter.

The guard's only Kubernetes call (patch_annotations) is faked; everything else is real.
"""

from __future__ import annotations

from typing import Any

import pytest

from ddmsp.reconcile.conditions import get_condition, set_condition
from ddmsp.reconcile.createguard import CreateGuard
from ddmsp.reconcile.handlers import jitter
from ddmsp.reconcile.managed import (
    CREATE_PENDING_ANNOTATION,
    CREATE_SUCCEEDED_ANNOTATION,
    ManagedObject,
)
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.resources import CLIENT_ORG


def test_condition_transition_time_changes_only_with_status() -> None:
    conds: list[dict[str, Any]] = []
    set_condition(conds, "Ready", False, "Creating", "", 1)
    first = dict(get_condition(conds, "Ready") or {})
    first_time = first["lastTransitionTime"]
    conds[0]["lastTransitionTime"] = "2000-01-01T00:00:00Z"
    set_condition(conds, "Ready", False, "StillCreating", "msg", 2)
    assert conds[0]["lastTransitionTime"] == "2000-01-01T00:00:00Z"
    assert conds[0]["reason"] == "StillCreating" and conds[0]["observedGeneration"] == 2
    set_condition(conds, "Ready", True, "Available", "", 2)
    assert conds[0]["lastTransitionTime"] != "2000-01-01T00:00:00Z"
    assert first_time and len(conds) == 1


def test_jitter_is_stable_and_bounded() -> None:
    values = {jitter(f"uid-{i}", 600) for i in range(200)}
    assert all(0 <= v < 120 for v in values) and len(values) > 150
    assert jitter("same", 600) == jitter("same", 600)


class FakeKube:
    """Records annotation patches (the single faked function) and applies them."""

    def __init__(self, obj: ManagedObject) -> None:
        self.obj = obj
        self.patches: list[dict[str, str | None]] = []

    async def patch_annotations(self, info: Any, ns: str, name: str,
                                annotations: dict[str, str | None],
                                resource_version: str | None = None) -> dict[str, Any]:
        self.patches.append(annotations)
        current = dict(self.obj.metadata.get("annotations") or {})
        for k, v in annotations.items():
            if v is None:
                current.pop(k, None)
            else:
                current[k] = v
        return {"metadata": {"annotations": current, "resourceVersion": "2"}}


def managed(annotations: dict[str, str] | None = None) -> ManagedObject:
    body = {"apiVersion": "ddmsp.io/v1alpha1", "kind": "DatadogClientOrg",
            "metadata": {"name": "x", "namespace": "ns", "uid": "u", "generation": 1,
                         "annotations": annotations or {}},
            "spec": {"displayName": "X"}}
    return ManagedObject.from_body(CLIENT_ORG, body)


async def _run(guard: CreateGuard, events: list[str], *, recovered: bool = False,
               fail: BaseException | None = None, nothing: bool | None = None,
               **extra: Any) -> Any:
    async def call() -> str:
        events.append("call")
        if fail:
            raise fail
        return "result"

    async def persist(result: str) -> None:
        events.append(f"persist:{result}")

    async def recover() -> bool:
        events.append("recover")
        return recovered

    async def candidates() -> str:
        return "Candidates: none."

    async def nothing_created(pending: str) -> bool:
        assert nothing is not None
        return nothing

    return await guard.run(what="the org", call=call, persist=persist, recover=recover,
                           candidates=candidates,
                           definitely_failed=lambda e: isinstance(e, PermissionError),
                           how_to_resolve="Do X.",
                           nothing_created=nothing_created if nothing is not None else None,
                           **extra)


async def test_guard_marks_pending_before_the_call_and_succeeded_after() -> None:
    obj = managed()
    kube = FakeKube(obj)
    events: list[str] = []
    order: list[str] = []
    original = kube.patch_annotations

    async def tracking(*args: Any, **kwargs: Any) -> dict[str, Any]:
        order.append(next(iter(args[3])))
        return await original(*args)

    kube.patch_annotations = tracking  # type: ignore[method-assign]
    assert await _run(CreateGuard(obj, kube), events) == "result"  # type: ignore[arg-type]
    assert events == ["recover", "call", "persist:result"]
    assert order == [CREATE_PENDING_ANNOTATION, CREATE_SUCCEEDED_ANNOTATION]
    ann = obj.annotations
    assert ann[CREATE_SUCCEEDED_ANNOTATION] > ann[CREATE_PENDING_ANNOTATION]


async def test_guard_leaves_a_recoverable_success_to_the_next_pending_marker() -> None:
    """Two creates in one pass (an org, then its service account): the first one's success
    marker is not a write of its own, the second's pending marker supersedes it. In memory
    the first is resolved at once; on the server its marker stays pending until then,
    which its ``recover`` settles after a crash."""
    obj = managed()
    kube = FakeKube(obj)
    guard = CreateGuard(obj, kube)  # type: ignore[arg-type]
    events: list[str] = []
    assert await _run(guard, events, key="first", success_recoverable=True) == "result"
    assert [next(iter(p)) for p in kube.patches] == [CREATE_PENDING_ANNOTATION]
    assert guard.pending() is None  # resolved as far as this pass is concerned
    assert await _run(guard, events, key="second") == "result"
    assert [next(iter(p)) for p in kube.patches] == [
        CREATE_PENDING_ANNOTATION, CREATE_PENDING_ANNOTATION, CREATE_SUCCEEDED_ANNOTATION]
    assert kube.patches[1][CREATE_PENDING_ANNOTATION].endswith(" second")  # type: ignore[union-attr]
    await guard.flush()  # nothing left to store
    assert len(kube.patches) == 3 and guard.pending() is None


async def test_guard_stores_an_unwritten_success_when_the_pass_ends() -> None:
    obj = managed()
    kube = FakeKube(obj)
    guard = CreateGuard(obj, kube)  # type: ignore[arg-type]
    assert await _run(guard, [], key="first", success_recoverable=True) == "result"
    assert len(kube.patches) == 1
    await guard.flush()
    assert [next(iter(p)) for p in kube.patches] == [CREATE_PENDING_ANNOTATION,
                                                     CREATE_SUCCEEDED_ANNOTATION]
    ann = obj.annotations
    assert ann[CREATE_SUCCEEDED_ANNOTATION] > ann[CREATE_PENDING_ANNOTATION]
    await guard.flush()  # once
    assert len(kube.patches) == 2


async def test_guard_never_calls_twice_when_the_outcome_is_unknown() -> None:
    obj = managed({CREATE_PENDING_ANNOTATION: "2026-01-01T00:00:00.000001Z"})
    events: list[str] = []
    with pytest.raises(Blocked) as blocked:
        await _run(CreateGuard(obj, FakeKube(obj)), events)  # type: ignore[arg-type]
    assert blocked.value.reason == "CreationResultUnknown"
    assert "Candidates: none." in blocked.value.message and "Do X." in blocked.value.message
    assert "call" not in events


async def test_guard_recovers_a_stored_result_and_resolves_the_marker() -> None:
    obj = managed({CREATE_PENDING_ANNOTATION: "2026-01-01T00:00:00.000001Z"})
    events: list[str] = []
    assert await _run(CreateGuard(obj, FakeKube(obj)), events,  # type: ignore[arg-type]
                      recovered=True) is None
    assert events == ["recover"]
    assert obj.annotations[CREATE_SUCCEEDED_ANNOTATION] > obj.annotations[
        CREATE_PENDING_ANNOTATION]


async def test_guard_creates_again_only_when_nothing_was_created() -> None:
    obj = managed({CREATE_PENDING_ANNOTATION: "2026-01-01T00:00:00.000001Z"})
    events: list[str] = []
    assert await _run(CreateGuard(obj, FakeKube(obj)), events,  # type: ignore[arg-type]
                      nothing=True) == "result"
    obj2 = managed({CREATE_PENDING_ANNOTATION: "2026-01-01T00:00:00.000001Z"})
    with pytest.raises(Blocked):
        await _run(CreateGuard(obj2, FakeKube(obj2)), [], nothing=False)  # type: ignore[arg-type]


async def test_guard_refused_create_clears_marker_unknown_outcome_blocks() -> None:
    obj = managed()
    with pytest.raises(PermissionError):
        await _run(CreateGuard(obj, FakeKube(obj)), [],  # type: ignore[arg-type]
                   fail=PermissionError("403"))
    assert CREATE_PENDING_ANNOTATION not in obj.annotations
    obj2 = managed()
    with pytest.raises(Blocked) as blocked:
        await _run(CreateGuard(obj2, FakeKube(obj2)), [],  # type: ignore[arg-type]
                   fail=TimeoutError("lost"))
    assert blocked.value.reason == "CreationResultUnknown"
    assert CREATE_PENDING_ANNOTATION in obj2.annotations


def test_invalid_spec_is_blocked_with_the_field_named() -> None:
    body = {"metadata": {"name": "x", "namespace": "n"}, "spec": {"displayName": 5}}
    with pytest.raises(Blocked) as blocked:
        ManagedObject.from_body(CLIENT_ORG, body)
    assert "spec.display_name" in blocked.value.message or "displayName" in blocked.value.message


def test_run_refuses_bad_settings_naming_flag_and_variable(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from ddmsp.__main__ import main

    monkeypatch.setenv("DDMSP_DRIFT_INTERVAL", "soon")
    assert main(["run", "--partner-secret", "no-slash"]) == 2
    err = capsys.readouterr().err
    assert "--partner-secret / DDMSP_PARTNER_SECRET" in err and "namespace/name" in err
    assert "--drift-interval / DDMSP_DRIFT_INTERVAL" in err


def test_engine_results_schedule_the_next_pass() -> None:
    """Settled -> drift interval; waiting/failing -> capped exponential backoff that resets
    when the reason changes; stalled or waiting for a change -> no pass until a change."""
    from unittest.mock import MagicMock

    from ddmsp.reconcile.engine import GONE, Reconciler, Result
    from ddmsp.resources import ROLE

    rec = Reconciler(ROLE, MagicMock(), MagicMock(), drift_interval=600, backoff_cap=60)
    key = ("ns", "x")
    drift = rec.next_delay(key, Result(settled=True))
    assert drift is not None and 540 <= drift <= 660
    assert rec.next_delay(key, Result(stalled=True, reason="InvalidSpec")) is None
    assert rec.next_delay(key, Result(requeue_after=None, reason="AwaitingRegistration")) is None
    delays = [rec.next_delay(key, Result(requeue_after=2, reason="DatadogUnavailable"))
              for _ in range(10)]
    assert delays[0] == 2
    assert all(d is not None and d <= 60 for d in delays)
    assert delays[-1] is not None and delays[-1] >= 60 * 0.8  # reached the cap, jittered
    assert rec.next_delay(key, Result(requeue_after=2, reason="OrgNotReady")) == 2  # reset
    for _ in range(5):  # a rate limit: at its reset (spread by up to 10%), never longer
        limited = rec.next_delay(key, Result(requeue_after=30, reason="RateLimited"))
        assert limited is not None and 30 <= limited <= 33
    assert rec.next_delay(key, GONE) is None


def test_merge_patch_removes_keys_that_are_gone() -> None:
    from ddmsp.reconcile.engine import merge_patch

    old = {"phase": "Drifted", "drift": {"differences": ["x"]}, "org": {"a": 1, "b": 2}}
    new = {"phase": "Ready", "org": {"a": 1}}
    assert merge_patch(old, new) == {"phase": "Ready", "drift": None, "org": {"b": None}}
    assert merge_patch(new, new) == {}


def test_messages_copied_from_exceptions_are_scrubbed_of_key_like_strings() -> None:
    from ddmsp.reconcile.engine import _safe_message

    api, app = "0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef01234567"
    text = _safe_message(RuntimeError(f"body {{'api-key': '{api}', 'app': '{app}'}} role 3f2a"))
    assert api not in text and app not in text and "[REDACTED]" in text and "3f2a" in text


def test_a_kubernetes_refusal_in_a_condition_is_one_line_with_the_servers_message() -> None:
    import json

    from kubernetes import client

    from ddmsp.reconcile.engine import _safe_message

    exc = client.ApiException(status=403, reason="Forbidden")
    exc.body = json.dumps({
        "kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": 'secrets "ddmsp-org-keys-x" is forbidden: unable to create new content in '
                   "namespace ddmsp-demo because it is being terminated"})
    exc.headers = {"Audit-Id": "4a3c762b", "X-Kubernetes-Pf-Flowschema-Uid": "be283d97"}
    text = _safe_message(exc)
    assert text == ('the Kubernetes API answered 403 Forbidden: secrets "ddmsp-org-keys-x" is '
                    "forbidden: unable to create new content in namespace ddmsp-demo because "
                    "it is being terminated")
    exc.body = "not json"  # no Status: the raw body, still one short line
    assert _safe_message(exc) == "the Kubernetes API answered 403 Forbidden: not json"


def test_metric_series_of_a_deleted_object_are_forgotten() -> None:
    from ddmsp import metrics

    metrics.READY.labels("DatadogRole", "ns-x", "gone").set(1)
    metrics.READY.labels("DatadogRole", "ns-x", "stays").set(1)
    metrics.forget("DatadogRole", "ns-x", "gone")
    left = {values[2] for values in metrics.READY._metrics if values[1] == "ns-x"}
    assert left == {"stays"}


def test_forbidden_names_the_permission_and_the_secret() -> None:
    from ddmsp.controllers.datadog_access import translate_datadog_error
    from ddmsp.datadog import ForbiddenError

    exc = ForbiddenError("Datadog API answered 403 Forbidden", status=403, method="GET",
                         path="/api/v2/usage/projected_cost", api_errors=["Forbidden"])
    exc.keys_source = "Secret ddmsp-system/partner"
    outcome = translate_datadog_error(exc)
    assert outcome is not None and outcome.reason == "MissingPermission"
    assert "`usage_read` and `billing_read`" in outcome.message
    assert "Secret ddmsp-system/partner" in outcome.message


async def test_queue_runs_each_key_once_at_a_time_and_brings_due_times_forward() -> None:
    import asyncio

    from ddmsp.reconcile.queue import WorkQueue

    seen: list[tuple[str, str]] = []
    running: set[tuple[str, str]] = set()
    overlap = False

    async def process(key: tuple[str, str]) -> float | None:
        nonlocal overlap
        overlap = overlap or key in running
        running.add(key)
        seen.append(key)
        await asyncio.sleep(0.05)
        running.discard(key)
        return None

    queue = WorkQueue("test", process, asyncio.Semaphore(4))
    task = asyncio.create_task(queue.run())
    queue.add(("ns", "a"), delay=30)
    queue.add(("ns", "a"), delay=0)  # brought forward
    await asyncio.sleep(0.01)
    queue.add(("ns", "a"))  # while active: exactly one more pass afterwards
    queue.add(("ns", "a"))
    await asyncio.sleep(0.3)
    task.cancel()
    assert seen == [("ns", "a"), ("ns", "a")] and not overlap


def test_only_spec_annotations_and_deletion_trigger_a_pass() -> None:
    """Our own status writes and create markers (and kopf's bookkeeping) must not re-run a
    pass; a spec change, a user's annotation or deletion must."""
    from ddmsp.reconcile.handlers import trigger_state

    def body(generation: int = 1, status: dict[str, object] | None = None,
             deleting: bool = False, **annotations: str) -> dict[str, object]:
        meta: dict[str, object] = {"generation": generation, "annotations": annotations}
        if deleting:
            meta["deletionTimestamp"] = "2026-11-24T00:00:00Z"
        return {"metadata": meta, "spec": {}, "status": status or {}}

    base = trigger_state(body())
    assert trigger_state(body(status={"phase": "Ready"})) == base
    assert trigger_state(body(**{"ddmsp.io/create-pending": "t client"})) == base
    assert trigger_state(body(**{"ddmsp.io/create-succeeded": "t"})) == base
    assert trigger_state(body(**{"kopf.ddmsp.io/finalize": "{}"})) == base
    assert trigger_state(body(generation=2)) != base
    assert trigger_state(body(**{"ddmsp.io/retry": "1"})) != base
    assert trigger_state(body(**{"ddmsp.io/paused": "true"})) != base
    assert trigger_state(body(deleting=True)) != base
    recreated = body()
    recreated["metadata"]["uid"] = "another"  # type: ignore[index]
    assert trigger_state(recreated) != base


def test_object_cache_keeps_the_newest_body_and_only_for_watched_kinds() -> None:
    from ddmsp.reconcile.objectcache import ObjectCache

    cache = ObjectCache()

    def obj(rv: str, phase: str) -> dict[str, object]:
        return {"metadata": {"namespace": "ns", "name": "a", "resourceVersion": rv,
                             "managedFields": [{"big": "x"}]}, "status": {"phase": phase}}

    cache.offer("roles", obj("10", "Ready"))
    assert cache.get("roles", "ns", "a") is None  # not a watched kind: never cached
    cache.watched.add("roles")
    cache.offer("roles", obj("10", "Ready"))
    cache.offer("roles", obj("9", "Pending"))  # a late, older watch event loses
    got = cache.get("roles", "ns", "a")
    assert got is not None and got["status"] == {"phase": "Ready"}
    assert "managedFields" not in got["metadata"]
    got["status"]["phase"] = "changed by a caller"
    assert cache.get("roles", "ns", "a")["status"] == {"phase": "Ready"}  # type: ignore[index]
    cache.offer("roles", obj("11", "Waiting"))
    assert cache.get("roles", "ns", "a")["status"] == {"phase": "Waiting"}  # type: ignore[index]
    cache.offer("roles", obj("not-a-number", "X"))  # incomparable: dropped, read afresh
    assert cache.get("roles", "ns", "a") is None
    cache.offer("roles", obj("12", "Ready"))
    cache.forget("roles", "ns", "a")
    assert cache.get("roles", "ns", "a") is None and len(cache) == 0


async def test_a_marker_counts_only_for_the_create_it_names() -> None:
    """SpinOff makes two orgs: the parent's unresolved marker must not block (or resolve)
    the client's create, and an unnamed marker (older versions) blocks every create."""
    obj = managed({CREATE_PENDING_ANNOTATION: "2026-01-01T00:00:00.000001Z parent"})
    guard = CreateGuard(obj, FakeKube(obj))  # type: ignore[arg-type]
    guard.key = "client"
    assert guard.pending() == ("2026-01-01T00:00:00.000001Z", "parent") and not guard.unresolved
    guard.key = "parent"
    assert guard.unresolved
    legacy = managed({CREATE_PENDING_ANNOTATION: "2026-01-01T00:00:00.000001Z"})
    guard = CreateGuard(legacy, FakeKube(legacy))  # type: ignore[arg-type]
    guard.key = "client"
    assert guard.unresolved


def test_namespace_patterns_follow_kopfs_rule() -> None:
    from ddmsp.reconcile.handlers import _watched

    assert _watched("team-a", ["team-*"]) and not _watched("ops", ["team-*"])
    assert not _watched("team-b", ["team-*", "!team-b"])
    assert _watched("exact", ["exact"]) and not _watched("exact2", ["exact"])


def test_a_reference_index_moves_an_object_between_targets() -> None:
    from ddmsp.reconcile.refindex import RefIndex

    refs: RefIndex[tuple[str, str]] = RefIndex()
    refs.point("ns", "r1", ("ns", "acme"))
    refs.point("ns", "r2", ("ns", "acme"))
    assert refs.pointing_at(("ns", "acme")) == {"r1", "r2"}
    refs.point("ns", "r1", ("ns", "globex"))  # its orgRef changed
    assert refs.pointing_at(("ns", "acme")) == {"r2"}
    assert refs.pointing_at(("ns", "globex")) == {"r1"}
    refs.point("ns", "r2", None)  # deleted
    assert refs.pointing_at(("ns", "acme")) == set()


class StatusKube:
    """One object; records status patches (the faked functions: get, patch_status, event)."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {
            "apiVersion": "ddmsp.io/v1alpha1", "kind": "DatadogClientOrg",
            "metadata": {"name": "x", "namespace": "ns", "uid": "u", "generation": 1,
                         "resourceVersion": "1"},
            "spec": {"displayName": "X"}}
        self.writes: list[dict[str, Any]] = []

    async def get(self, info: Any, ns: str, name: str) -> dict[str, Any]:
        import copy

        return copy.deepcopy(self.body)

    async def patch_status(self, info: Any, ns: str, name: str, patch: dict[str, Any],
                           resource_version: str | None = None) -> dict[str, Any]:
        self.writes.append(patch)
        old = self.body.get("status") or {}
        self.body["status"] = {**old, **{k: v for k, v in patch.items() if v is not None}}
        return self.body

    async def post_event(self, *args: Any) -> None:
        return None


async def test_a_waiting_message_alone_is_rewritten_at_most_every_refresh_interval() -> None:
    """A waiting pass that changes only a condition's message (the dependency's progress)
    writes nothing for ``message_refresh`` seconds; a new reason or Ready is written at once."""
    from ddmsp.reconcile.engine import Reconciler
    from ddmsp.reconcile.external import Observation
    from ddmsp.reconcile.outcomes import Waiting

    class External:
        async def observe(self) -> Observation:
            return Observation(exists=True, message="fine")

    class Connector:
        applied_keys: tuple[str, ...] = ()
        identity_keys: tuple[str, ...] = ()
        outcome: Waiting | None = None

        async def connect(self, ctx: Any) -> External:
            if self.outcome is not None:
                raise self.outcome
            return External()

        def translate_error(self, exc: BaseException) -> None:
            return None

    kube, connector = StatusKube(), Connector()
    rec = Reconciler(CLIENT_ORG, connector, kube, message_refresh=30)  # type: ignore[arg-type]

    def ready() -> dict[str, Any]:
        return get_condition(kube.body["status"]["conditions"], "Ready") or {}

    connector.outcome = Waiting("OrgNotReady", "the org is Pending", phase="Pending")
    await rec.reconcile("ns", "x")
    assert len(kube.writes) == 1 and ready()["message"] == "the org is Pending"
    connector.outcome = Waiting("OrgNotReady", "the org is Creating", phase="Pending")
    await rec.reconcile("ns", "x")
    assert len(kube.writes) == 1  # only the message changed, 0 s after the last write
    connector.outcome = Waiting("PartnerMissing", "no partner", phase="Pending")
    await rec.reconcile("ns", "x")
    assert len(kube.writes) == 2 and ready()["reason"] == "PartnerMissing"
    connector.outcome = Waiting("PartnerMissing", "still no partner", phase="Pending")
    await rec.reconcile("ns", "x")
    assert len(kube.writes) == 2
    rec._written[("ns", "x")] -= 31  # the interval has passed
    await rec.reconcile("ns", "x")
    assert len(kube.writes) == 3 and ready()["message"] == "still no partner"
    connector.outcome = None
    await rec.reconcile("ns", "x")
    assert len(kube.writes) == 4 and ready()["status"] == "True"


def test_an_object_may_point_at_several_targets() -> None:
    """A DatadogOrgConnection names two orgs (source and sink): both know it."""
    from ddmsp.reconcile.refindex import RefIndex

    refs: RefIndex[tuple[str, str]] = RefIndex()
    refs.point_all("ns", "c1", [("ns", "acme"), ("ns", "beta")])
    refs.point("ns", "r1", ("ns", "acme"))
    assert refs.pointing_at(("ns", "acme")) == {"c1", "r1"}
    assert refs.pointing_at(("ns", "beta")) == {"c1"}
    refs.point_all("ns", "c1", [("ns", "acme"), ("ns", "globex")])  # its sink changed
    assert refs.pointing_at(("ns", "beta")) == set()
    assert refs.pointing_at(("ns", "globex")) == {"c1"}
    refs.point_all("ns", "c1", [])  # deleted
    assert refs.pointing_at(("ns", "acme")) == {"r1"}


def test_each_kind_declares_the_fields_that_name_its_orgs() -> None:
    from ddmsp.reconcile.deletion import org_refs
    from ddmsp.resources import ORG_CONNECTION, ROLE

    connection = {"spec": {"sourceOrgRef": {"name": "acme"}, "sinkOrgRef": {"name": "beta"}}}
    assert org_refs(ORG_CONNECTION, connection) == ["acme", "beta"]
    assert org_refs(ORG_CONNECTION, {"spec": {"sourceOrgRef": {"name": "acme"},
                                              "sinkPartner": True}}) == ["acme"]
    assert org_refs(ROLE, {"spec": {"orgRef": {"name": "acme"}}}) == ["acme"]
    assert org_refs(ROLE, {"spec": {"credentialsSecretRef": {"name": "keys"}}}) == []
