"""crds/ is generated from the pydantic models: a stale file fails here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
import yaml
from pydantic import ValidationError

from ddmsp.reconcile.managed import ManagedObject
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.resources import ALL_KINDS, CLIENT_ORG, SAML_CONFIG
from ddmsp.resources.base import KubeModel, Rule
from ddmsp.resources.clientorg import DatadogClientOrgSpec
from ddmsp.resources.crdgen import render
from ddmsp.resources.kinds import KindInfo

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_crd_files_match_the_models() -> None:
    for info in ALL_KINDS:
        path = CRDS / f"{info.crd_name}.yaml"
        assert path.exists(), f"{path} missing: run `make crds`"
        assert path.read_text() == render(info), f"{path} is stale: run `make crds`"
    assert {p.name for p in CRDS.glob("*.yaml")} == {f"{i.crd_name}.yaml" for i in ALL_KINDS}


def _walk(node: object, path: str = "") -> list[str]:
    """Every schema property lacking a description (kubectl explain would be blank)."""
    missing: list[str] = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            where = f"{path}.{name}"
            if name not in {"apiVersion", "kind", "metadata"} and not prop.get("description"):
                missing.append(where)
            missing += _walk(prop, where)
        if isinstance(node.get("items"), dict):
            missing += _walk(node["items"], path + "[]")
    return missing


def test_every_field_is_documented_and_structural() -> None:
    for info in ALL_KINDS:
        crd = yaml.safe_load(render(info))
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert _walk(schema) == [], f"{info.kind}: fields without a description"
        text = render(info)
        assert "$ref" not in text and "anyOf" not in text, "schema must be structural"
        assert crd["spec"]["group"] == "ddmsp.io" and "ddmsp" in crd["spec"]["names"]["categories"]
        assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_helm_chart_ships_the_same_crds() -> None:
    chart = CRDS.parent / "helm" / "ddmsp" / "crds"
    for path in CRDS.glob("*.yaml"):
        assert (chart / path.name).read_text() == path.read_text(), f"run `make crds` ({path.name})"
    assert {p.name for p in chart.glob("*.yaml")} == {p.name for p in CRDS.glob("*.yaml")}


def _model_rules(model: type[KubeModel], seen: set[type[KubeModel]]) -> list[Rule]:
    """Every Rule a model and its nested models carry (field metadata and model_rules)."""
    if model in seen:
        return []
    seen.add(model)
    found = list(model.model_rules)
    for info in model.model_fields.values():
        found += [m for m in info.metadata if isinstance(m, Rule)]
        for arg in _type_args(info.annotation):
            if isinstance(arg, Rule):
                found.append(arg)
            elif isinstance(arg, type) and issubclass(arg, KubeModel):
                found += _model_rules(arg, seen)
    return found


def _type_args(annotation: object) -> list[object]:
    out: list[object] = [annotation]
    for arg in get_args(annotation):
        out += _type_args(arg)
    out += list(getattr(annotation, "__metadata__", ()))
    return out


def test_every_model_rule_is_in_the_schema() -> None:
    """One source: each rule the operator's model applies is also an admission rule."""
    for info in ALL_KINDS:
        text = render(info)
        crd = yaml.safe_load(text)
        emitted = [json.dumps(r) for r in _validations(crd)]
        rules = _model_rules(info.spec_model, set())
        for rule in rules:
            assert json.dumps(rule.schema_entry()) in emitted, f"{info.kind}: {rule.cel}"
    assert len(_model_rules(DatadogClientOrgSpec, set())) >= 5


def _validations(node: object) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if isinstance(node, dict):
        out += node.get("x-kubernetes-validations", [])
        for value in node.values():
            out += _validations(value)
    elif isinstance(node, list):
        for value in node:
            out += _validations(value)
    return out


@pytest.mark.parametrize(("name", "ok"), [
    ("Acme", True), ("Acme Corp", True), ("Ünïcode 漢字 😀", True), ("a", True),
    ("", False), ("   ", False), (" Acme", False), ("Acme ", False), ("Acme\n", False),
    ("Ac\nme", False), ("Ac\tme", False), ("\u00a0Acme", False), ("Acme\u3000", False),
    ("Ac\u2028me", False), ("Ac\x85me", False), ("\ufeffAcme", False), ("x" * 33, False),
])
def test_display_name_rule(name: str, ok: bool) -> None:
    spec = {"displayName": name}
    if ok:
        DatadogClientOrgSpec.model_validate(spec)
    else:
        with pytest.raises(ValidationError):
            DatadogClientOrgSpec.model_validate(spec)


@pytest.mark.parametrize(("budget", "ok"), [
    ({"monthlyLimit": 1}, True), ({"monthlyLimit": 1e9}, True),
    ({"monthlyLimit": 100, "warnAtPercent": [50, 80, 100, 150]}, True),
    ({"monthlyLimit": 0}, False), ({"monthlyLimit": 0.5}, False), ({"monthlyLimit": 1e300}, False),
    ({"monthlyLimit": 100, "warnAtPercent": [80, 80]}, False),
    ({"monthlyLimit": 100, "warnAtPercent": [100, 80]}, False),
    ({"monthlyLimit": 100, "warnAtPercent": [0]}, False),
    ({"monthlyLimit": 100, "warnAtPercent": []}, False),
])
def test_budget_rules(budget: dict[str, object], ok: bool) -> None:
    spec = {"displayName": "Acme", "budget": budget}
    if ok:
        DatadogClientOrgSpec.model_validate(spec)
    else:
        with pytest.raises(ValidationError):
            DatadogClientOrgSpec.model_validate(spec)


@pytest.mark.parametrize(("info", "spec", "expected"), [
    (CLIENT_ORG, {"displayName": "Acme", "budget": {"monthlyLimit": 9, "warnAtPercent": [9, 9]}},
     "spec.budget.warnAtPercent: spec.budget.warnAtPercent must list each percentage once"),
    (CLIENT_ORG, {"displayName": "A", "partnerRef": {"name": "p"},
                  "partnerCredentialsSecretRef": {"name": "s"}},
     "spec: set spec.partnerRef or the legacy spec.partnerCredentialsSecretRef, not both"),
    (SAML_CONFIG, {"orgRef": {"name": "a"}, "idpMetadata": {"inline": "x"},
                   "roleMappings": [{"attributeKey": "k", "attributeValue": "v\n",
                                     "roleName": "R"}]},
     "spec.roleMappings[0].attributeValue: spec.roleMappings[].attributeValue must be one line"),
])
def test_the_operator_names_the_field_like_admission(info: KindInfo, spec: dict[str, object],
                                                     expected: str) -> None:
    """A spec that bypassed admission (an older CRD) stalls InvalidSpec with the same words."""
    body = {"metadata": {"name": "x", "namespace": "n"}, "spec": spec}
    with pytest.raises(Blocked) as err:
        ManagedObject.from_body(info, body)
    assert err.value.reason == "InvalidSpec"
    assert expected in str(err.value)
