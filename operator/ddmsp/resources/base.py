"""Pydantic models that are also Kubernetes CRD schemas.

Field descriptions become `kubectl explain` text; bounds, patterns and ``Rule``s become
admission checks. One generator (``ddmsp.resources.crdgen``) turns the models into CRD
YAML, and every rule is stated once: a ``Rule`` carries the CEL expression the API server
evaluates, the Python check the operator's model applies and the one message both give, so
admission refuses exactly what the operator would refuse (tests/integration/
test_admission_agreement.py checks it against a real kube-apiserver).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, SchemaValidator, core_schema
from pydantic_core import ValidationError as CoreValidationError


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One CEL validation rule; ``message`` must say what to do, not only what is wrong."""
    out = {"rule": rule, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


def immutable(field: str, fix: str) -> dict[str, Any]:
    """json_schema_extra making a field immutable once set (a CEL transition rule).

    Transition rules compare with the stored object, which only admission sees: they are
    the one kind of rule the operator's model cannot apply.
    """
    return {"x-kubernetes-validations": [cel("self == oldSelf", f"{field} is immutable: {fix}")]}


def _refuse(message: str) -> PydanticCustomError:
    # The message verbatim (pydantic would prefix a plain ValueError with "Value error, ").
    return PydanticCustomError("ddmsp_rule", "{message}", {"message": message})


@dataclass(frozen=True)
class Rule:
    """One validation rule, stated once for admission (``cel``) and the operator (``check``).

    As ``Annotated`` metadata it guards a value; in a model's ``model_rules`` it guards the
    whole object (``check`` then receives the model). ``message`` names the field and the fix.
    """

    cel: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None

    def schema_entry(self) -> dict[str, str]:
        return cel(self.cel, self.message, self.field_path)

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        def validate(value: Any) -> Any:
            if not self.check(value):
                raise _refuse(self.message)
            return value

        return core_schema.no_info_after_validator_function(validate, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        target = handler.resolve_ref_schema(out)
        target.setdefault("x-kubernetes-validations", []).append(self.schema_entry())
        return out


def matches(regex: str) -> Callable[[Any], bool]:
    """A full-match check with pydantic-core's regex engine (Rust ``regex``).

    Kubernetes evaluates the same text with Go's RE2. The two agree on the syntax used
    here (explicit classes and ``\\x{..}`` escapes, never ``\\s``/``\\w``, whose meaning
    differs: ASCII in RE2, Unicode in Rust), so both engines read each rule alike.
    """
    validator = SchemaValidator(core_schema.str_schema(pattern=regex))

    def check(value: Any) -> bool:
        try:
            validator.validate_python(value)
        except CoreValidationError:
            return False
        return True

    return check


def pattern_rule(regex: str, message: str) -> Rule:
    """A regular-expression rule with a message (a bare OpenAPI ``pattern`` cannot say why)."""
    if "'" in regex:
        raise ValueError("the CEL raw string literal cannot hold a quote")
    return Rule(f"self.matches(r'{regex}')", message, matches(regex))


class KubeModel(BaseModel):
    """Base for spec/status models: camelCase on the wire, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=False,
    )

    # Object-level rules (e.g. "exactly one of a and b"): checked on every parse and
    # emitted into the schema as x-kubernetes-validations of this object.
    model_rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _apply_model_rules(self) -> Self:
        for rule in type(self).model_rules:
            if not rule.check(self):
                raise _refuse(rule.message)
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = super().__get_pydantic_json_schema__(schema, handler)
        if cls.model_rules:
            target = handler.resolve_ref_schema(out)
            rules = target.setdefault("x-kubernetes-validations", [])
            rules.extend(r.schema_entry() for r in cls.model_rules)
        return out

    def to_wire(self) -> dict[str, Any]:
        """The camelCase dict Kubernetes stores, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
