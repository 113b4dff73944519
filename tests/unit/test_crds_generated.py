"""crds/ is generated from the pydantic models: a stale file fails here."""

from __future__ import annotations

from pathlib import Path

import yaml

from ddmsp.resources import ALL_KINDS
from ddmsp.resources.crdgen import render

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
