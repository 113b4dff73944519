"""Generate CRD YAML from the pydantic models (``ddmsp crds`` writes ``crds/``)."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from ddmsp.resources.kinds import AGE_COLUMN, READY_COLUMN, KindInfo

_DROP = {"title", "examples"}


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """Inline $refs and make pydantic's JSON schema structural (what Kubernetes demands)."""
    if isinstance(node, list):
        return [_resolve(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].split("/")[-1]])
        rest = {k: v for k, v in node.items() if k != "$ref"}
        target.update(rest)  # a field's own description wins over its model's
        return _resolve(target, defs)
    if "anyOf" in node:
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(variants) == 1:
            merged = copy.deepcopy(variants[0])
            if "$ref" in merged:
                merged = _resolve(merged, defs)
            for key, value in rest.items():
                if key == "x-kubernetes-validations" and key in merged:
                    merged[key] = merged[key] + value
                else:
                    merged[key] = value
            return _resolve(merged, defs)
        raise ValueError(f"union types are not structural: {node}")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs":
            continue
        if key == "default" and value is None:
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key == "properties":
            out[key] = {k: _resolve(v, defs) for k, v in value.items()}
        elif key == "x-kubernetes-validations":
            # pydantic sorts keys; a reader wants the rule first, then its message
            order = ("rule", "message", "fieldPath")
            out[key] = [{k: r[k] for k in order if k in r} for r in value]
        else:
            out[key] = _resolve(value, defs)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("type") == "object" and out.get("additionalProperties") is False:
        del out["additionalProperties"]
    if out.get("type") == "array" and out.get("default") == []:
        del out["default"]  # an empty default list only adds noise to every object
    return out


def model_schema(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="serialization")
    defs = raw.pop("$defs", {})
    schema = _resolve(raw, defs)
    assert isinstance(schema, dict)
    return schema


def crd(info: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition for one kind."""
    spec_schema = model_schema(info.spec_model)
    spec_schema["description"] = (info.spec_model.__doc__ or "").strip()
    if info.spec_rules:
        rules = list(spec_schema.get("x-kubernetes-validations", []))
        # A rule the spec model already carries (model_rules) is emitted once.
        rules += [r for r in info.spec_rules if r not in rules]
        spec_schema["x-kubernetes-validations"] = rules
    status_schema = model_schema(info.status_model)
    status_schema["description"] = (info.status_model.__doc__ or "").strip()
    # The API server drops status on create, and kstatus reads an object with no status
    # at all as Current. Defaulting it (applied on every read) makes a new object show
    # generation 1 unobserved, so `kubectl wait`, Flux and kstatus see it in progress.
    status_schema["default"] = {"observedGeneration": 0}
    root: dict[str, Any] = {
        "type": "object",
        "description": info.description,
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    if info.spec_required:
        root["required"] = ["spec"]
    if info.extra.get("root_rules"):
        root["x-kubernetes-validations"] = list(info.extra["root_rules"])
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.crd_name,
            "labels": {"app.kubernetes.io/part-of": "ddmsp"},
        },
        "spec": {
            "group": info.group,
            "scope": info.scope,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": list(info.categories),
            },
            "versions": [
                {
                    "name": info.version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [*info.printer_columns, READY_COLUMN, AGE_COLUMN],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def render(info: KindInfo) -> str:
    header = "# Generated by `ddmsp crds` from ddmsp.resources; do not edit by hand.\n"
    return header + yaml.safe_dump(crd(info), sort_keys=False, width=100)
