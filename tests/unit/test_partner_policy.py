"""The partner policy's pure parts: namespace selectors and the operator default's allow list."""

from __future__ import annotations

from ddmsp.config import OperatorSettings
from ddmsp.controllers.partners import partner_allows, selector_matches
from ddmsp.resources.partner import DatadogPartnerSpec, NamespaceSelector

SECRET = {"credentialsSecretRef": {"namespace": "ops", "name": "keys"}}


def test_empty_selector_selects_nothing() -> None:
    assert not selector_matches(NamespaceSelector(), {"a": "b"})


def test_selector_semantics() -> None:
    sel = NamespaceSelector.model_validate({
        "matchLabels": {"team": "msp"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold", "silver"]},
                             {"key": "frozen", "operator": "DoesNotExist"}]})
    assert selector_matches(sel, {"team": "msp", "tier": "gold"})
    assert not selector_matches(sel, {"team": "msp", "tier": "bronze"})
    assert not selector_matches(sel, {"team": "msp", "tier": "gold", "frozen": "1"})
    assert not selector_matches(sel, {"tier": "gold"})
    notin = NamespaceSelector.model_validate(
        {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]})
    assert selector_matches(notin, {}) and not selector_matches(notin, {"env": "prod"})


def test_partner_allows_by_name_or_label_only() -> None:
    spec = DatadogPartnerSpec.model_validate({**SECRET, "allowedNamespaces": ["a"]})
    assert partner_allows(spec, "a", {}) and not partner_allows(spec, "b", {})
    nothing = DatadogPartnerSpec.model_validate(SECRET)
    assert not partner_allows(nothing, "ops", {})


def test_operator_default_keys_only_where_allowed() -> None:
    assert OperatorSettings(partner_secret="ops/keys").default_partner_allows("ops")
    assert not OperatorSettings(partner_secret="ops/keys").default_partner_allows("tenant")
    told = OperatorSettings(partner_secret="ops/keys", default_partner_namespaces=["tenant"])
    assert told.default_partner_allows("tenant") and not told.default_partner_allows("ops")
    assert OperatorSettings(default_partner_namespaces=["*"]).default_partner_allows("x")
    assert not OperatorSettings().default_partner_allows("x")  # env keys: nobody by default
