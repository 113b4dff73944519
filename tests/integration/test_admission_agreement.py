"""Admission and the operator's models agree on every value (property-based, real API server).

Specs are generated from the generated CRD schemas themselves (crds/*.yaml), biased to the
edges: lengths and numbers at and just past each bound, control characters, Unicode spaces
at the ends, wrong enum values, duplicates and unsorted lists, optional fields present or
not; a third of them as drawn, a third cut down to one complaint of the model, a third to
none (``near_valid``). Each spec is sent to the kube-apiserver as a dry-run create (nothing
is stored) and parsed by the kind's pydantic model, and:

- what admission accepts, the model accepts (as stored: defaults applied, nulls pruned);
- what the model refuses, admission refuses (422), naming the field or giving the model's
  own message.

Before these rules lived once (``ddmsp.resources.base.Rule``), a budget of 0, a blank or
multi-line display name and an email with a no-break space were admitted and then refused
by the operator (issue 19).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client
from pydantic import ValidationError

from ddmsp.resources import ALL_KINDS, CLIENT_ORG
from ddmsp.resources.kinds import KindInfo
from tests.support.kube import REPO_ROOT

pytestmark = pytest.mark.kube
GROUP, VERSION = "ddmsp.io", "v1alpha1"
EXAMPLES_PER_KIND = 75  # ~3 s a kind on two loaded cores
MAX_TEXT = 300  # longer bounds (inline metadata: 256 KiB) are probed only up to here
MAX_LIST = 12
# Letters, separators, and the characters that broke names before: controls, Unicode
# spaces (at the ends), line separators, a BOM, non-ASCII letters and an astral emoji.
ALPHABET = ("aZ09-._ @/:" "\n\t\r\x00\x1f\x7f\x85\x9f"
            "\u00a0\u2003\u3000\u200b\u200d\u2028\ufeff" "é漢😀")


@cache
def _crd(crd_name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO_ROOT / "crds" / f"{crd_name}.yaml").read_text())
    return loaded


def spec_schema(info: KindInfo) -> dict[str, Any]:
    crd = _crd(info.crd_name)
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(schema["properties"]["spec"])


def _mostly(valid: st.SearchStrategy[Any], edge: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values five times in six: a spec with one bad value says more than one with ten."""
    return st.integers(0, 5).flatmap(lambda i: edge if i == 0 else valid)


def _sizes(low: int, high: int | None) -> st.SearchStrategy[int]:
    """Sizes at and just past the bounds, and a few in between."""
    top = min(high if high is not None else MAX_TEXT, MAX_TEXT)
    edges = {0, 1, low, max(low - 1, 0), top}
    if high is not None and high < MAX_TEXT:
        edges.add(high + 1)
    return st.one_of(st.sampled_from(sorted(edges)), st.integers(low, max(low, min(top, 40))))


def _python_regex(pattern: str | None) -> str | None:
    """The pattern when Python's re reads it like RE2 does (else None: \\x{..} syntax)."""
    if not pattern:
        return None
    try:
        re.compile(pattern)
    except re.error:
        return None
    return pattern


def _text(node: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = node.get("minLength", 0), node.get("maxLength")
    fits = min(high or MAX_TEXT, MAX_TEXT)
    pattern = _python_regex(node.get("pattern"))
    word = st.text(alphabet="abcxyz0", min_size=max(low, 1), max_size=max(low, min(fits, 8)))
    valid = (st.from_regex(pattern, fullmatch=True).filter(lambda t: low <= len(t) <= fits)
             if pattern else word)
    if "@" in (node.get("pattern") or ""):  # an email address
        valid = st.tuples(word, st.just("@"), word, st.just(".io")).map("".join)
    free = _sizes(low, high).flatmap(
        lambda n: st.text(alphabet=ALPHABET, min_size=n, max_size=n))
    padded = st.tuples(st.sampled_from(["", " ", "\u00a0", "\t", "\u3000"]), word,
                       st.sampled_from(["", " ", "\n", "\u2003", "\ufeff"])).map("".join)
    inner = st.tuples(word, st.sampled_from(["\n", "\t", "\x00", "\u2028", " ", "\u00a0",
                                             "\x85", "@", "é"]), word).map("".join)
    return _mostly(valid, st.one_of(free, padded, inner, valid.map(lambda t: t + "\n")))


def _number(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    integer = node["type"] == "integer"
    low, high = node.get("minimum"), node.get("maximum")
    edges: list[Any] = [0, 1, -1, 100, 10**6]
    for bound in (low, high):
        if bound is not None:
            edges += [bound, bound - 1, bound + 1]
            if not integer:
                edges += [bound - 0.005, bound + 0.005]
    if not integer:
        edges += [0.001, 0.5, 1e300, -1e300, 1e9 + 0.5]
    lo = low if low is not None else -1000
    hi = high if high is not None else 10**6
    valid = st.integers(int(lo), int(hi)) if integer else st.one_of(
        st.integers(int(lo), int(hi)), st.floats(lo, hi))
    return _mostly(valid, st.sampled_from(edges))


def _array(node: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    low, high = node.get("minItems", 0), node.get("maxItems")
    top = min(high if high is not None else MAX_LIST, MAX_LIST)
    item = strategy(node["items"])
    scalar = node["items"].get("type") in ("integer", "number", "string")
    valid = st.lists(item, min_size=low, max_size=max(low, min(top, 3)))
    if scalar:  # sets and strictly increasing lists: sorted and unique
        valid = valid.map(lambda xs: sorted(set(xs), key=lambda x: (str(type(x)), x)))
    sizes = {0, low, top, max(low - 1, 0)}
    if high is not None and high < MAX_LIST:
        sizes.add(high + 1)
    edge = st.sampled_from(sorted(sizes)).flatmap(
        lambda n: st.one_of(
            st.lists(item, min_size=n, max_size=n),
            # duplicates and reversed order are edges too
            st.lists(item, min_size=1, max_size=max(1, n // 2)).map(lambda xs: xs + xs),
            st.lists(item, min_size=2, max_size=4).map(lambda xs: sorted(
                xs, key=lambda x: (str(type(x)), x) if scalar else 0, reverse=True)),
        ))
    return _mostly(valid, edge)


def _object(node: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = node.get("properties") or {}
    required = set(node.get("required") or [])
    if not props and isinstance(node.get("additionalProperties"), dict):
        return st.dictionaries(st.text(alphabet="abk/.", min_size=1, max_size=6),
                               strategy(node["additionalProperties"]), max_size=3)
    parts = {
        name: (strategy(sub).map(lambda v: (True, v)) if name in required else
               st.one_of(st.just((False, None)), strategy(sub).map(lambda v: (True, v))))
        for name, sub in props.items()
    }
    # A required field is sometimes left out, too.
    return st.fixed_dictionaries(parts).flatmap(lambda chosen: st.sampled_from(
        [True] * 9 + [False]).map(lambda keep_required: {
            k: v for k, (present, v) in chosen.items()
            if present and (keep_required or k not in required)}))


def strategy(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for one structural-schema node: mostly valid, sometimes at or past an edge."""
    if "enum" in node:
        return _mostly(st.sampled_from(node["enum"]), st.just("Bogus"))
    kind = node.get("type")
    if kind == "string":
        return _text(node)
    if kind in ("integer", "number"):
        return _number(node)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return _array(node)
    if kind == "object":
        return _object(node)
    raise AssertionError(f"schema node the generator does not know: {node}")


def dry_run_create(api: client.ApiClient, namespace: str, info: KindInfo,
                   spec: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """(stored object, "") when admitted, (None, the API server's message) when refused."""
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": info.kind,
            "metadata": {"name": "agree"}, "spec": spec}
    objects = client.CustomObjectsApi(api)
    try:
        if info.scope == "Cluster":
            got = objects.create_cluster_custom_object(GROUP, VERSION, info.plural, body,
                                                       dry_run="All")
        else:
            got = objects.create_namespaced_custom_object(GROUP, VERSION, namespace,
                                                          info.plural, body, dry_run="All")
    except client.ApiException as exc:
        assert exc.status == 422, f"{info.kind} {spec!r}: {exc.status} {exc.body}"
        return None, str(json.loads(exc.body)["message"])
    return got, ""


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location in the API server's notation: spec.a.b[2].c."""
    out = "spec"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check_agreement(api: client.ApiClient, namespace: str, info: KindInfo,
                    spec: dict[str, Any]) -> None:
    stored, refusal = dry_run_create(api, namespace, info, spec)
    if stored is not None:
        try:
            info.spec_model.model_validate(stored["spec"])
        except ValidationError as exc:
            pytest.fail(f"{info.kind}: admitted but the operator refuses it: "
                        f"{stored['spec']!r}: {exc}")
        return
    try:
        info.spec_model.model_validate(spec)
    except ValidationError as exc:
        named = [e for e in exc.errors()
                 if (e["loc"] and field_path(e["loc"]) in refusal) or e["msg"] in refusal]
        assert named, (f"{info.kind}: refused, but naming none of the operator's "
                       f"complaints {exc.errors()}: {refusal}")
    # Admission refusing what the model accepts is allowed: transition rules and
    # schema-only bounds (e.g. x-kubernetes-list-type: set) are admission's alone.


def near_valid(info: KindInfo, spec: dict[str, Any], keep: int | None) -> dict[str, Any]:
    """The spec with the top-level fields the model complains about removed (optional
    ones only), except the ``keep``-th complaint: a spec with one bad value, or none.

    Object rules such as "exactly one of orgRef and credentialsSecretRef" make most
    schema-drawn specs invalid several times over; these probe one edge at a time.
    """
    required = set(spec_schema(info).get("required") or [])
    spec = dict(spec)
    for _ in range(4):
        try:
            info.spec_model.model_validate(spec)
        except ValidationError as exc:
            tops = list(dict.fromkeys(e["loc"][0] for e in exc.errors() if e["loc"]))
            if not tops:  # an object rule: drop the optional fields it may be about
                tops = [k for k in spec if k not in required][:1]
            kept = tops[keep % len(tops)] if keep is not None and tops else None
            drop = [t for t in tops if t != kept and t in spec and t not in required]
            if not drop:
                break
            for key in drop:
                del spec[key]
        else:
            break
    return spec


@pytest.mark.parametrize("info", ALL_KINDS, ids=lambda i: i.kind)
def test_admission_and_the_operator_agree(api: client.ApiClient, namespace: str, crds: None,
                                         info: KindInfo) -> None:
    @settings(max_examples=EXAMPLES_PER_KIND, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(spec=strategy(spec_schema(info)),
           shape=st.sampled_from(["as drawn", "one complaint", "none"]), keep=st.integers(0, 3))
    def agree(spec: dict[str, Any], shape: str, keep: int) -> None:
        if shape != "as drawn":
            spec = near_valid(info, spec, keep if shape == "one complaint" else None)
        check_agreement(api, namespace, info, spec)

    agree()


ISSUE_19_CASES = [
    # the values issue 19 found admitted and then refused (or silently accepted)
    (CLIENT_ORG, {"displayName": "Acme", "budget": {"monthlyLimit": 0}},
     "spec.budget.monthlyLimit"),
    (CLIENT_ORG, {"displayName": "   "}, "spec.displayName must be one line of text"),
    (CLIENT_ORG, {"displayName": "Acme\nCorp"}, "spec.displayName must be one line of text"),
    (CLIENT_ORG, {"displayName": "Acme\tCorp"}, "spec.displayName must be one line of text"),
    (CLIENT_ORG, {"displayName": "Acme", "budget": {"monthlyLimit": 100,
                                                      "warnAtPercent": [80, 80]}},
     "spec.budget.warnAtPercent must list each percentage once, in increasing order"),
    (CLIENT_ORG, {"displayName": "Acme", "budget": {"monthlyLimit": 100,
                                                      "warnAtPercent": [100, 80]}},
     "spec.budget.warnAtPercent must list each percentage once, in increasing order"),
    (CLIENT_ORG, {"displayName": "Acme", "budget": {"monthlyLimit": 1e300}},
     "spec.budget.monthlyLimit"),
]


@pytest.mark.parametrize(("info", "spec", "expected"), ISSUE_19_CASES,
                         ids=["limit-0", "blank-name", "newline-name", "tab-name",
                              "repeated-threshold", "decreasing-thresholds", "limit-1e300"])
def test_issue_19_values_are_refused_at_admission(api: client.ApiClient, namespace: str,
                                                  crds: None, info: KindInfo,
                                                  spec: dict[str, Any], expected: str) -> None:
    stored, refusal = dry_run_create(api, namespace, info, spec)
    assert stored is None and expected in refusal, refusal
    with pytest.raises(ValidationError):
        info.spec_model.model_validate(spec)
