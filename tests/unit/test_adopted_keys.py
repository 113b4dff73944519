"""Which Secret holds the operator's own key of an adopted org, and when it counts as
handed over (controllers/adoptedkeys.py), without a cluster."""

from __future__ import annotations

from typing import Any

from ddmsp.controllers.adoptedkeys import adopted_secret_name, handed_over, skip_token
from ddmsp.resources.clientorg import DatadogClientOrgSpec

OWNER = {"ddmsp.io/owner-name": "acme"}
HANDED = {"api-key": "a", "app-key": "b", "app-key-id": "k1", "org-public-id": "pid1"}


def spec(secret: str, **extra: Any) -> DatadogClientOrgSpec:
    return DatadogClientOrgSpec.model_validate({
        "displayName": "Acme", "adopt": {"publicId": "pid1",
                                         "credentialsSecretRef": {"name": secret}}, **extra})


def test_the_operators_secret_is_never_the_adopt_secret_by_default() -> None:
    assert adopted_secret_name("acme", spec("acme-keys")) == "acme-datadog-credentials"
    # the adopt Secret already has the default name: another one, still a valid name
    assert adopted_secret_name("acme", spec("acme-datadog-credentials")) == \
        "acme-datadog-credentials-ddmsp"
    # an explicit name is taken as it is (the controller refuses to use it if it is theirs)
    assert adopted_secret_name("acme", spec("k", credentialsSecretName="mine")) == "mine"
    assert adopted_secret_name("acme", spec("k", credentialsSecretName="k")) == "k"


def test_handed_over_needs_a_proven_key_of_this_org_in_a_secret_of_this_object() -> None:
    assert handed_over(HANDED, "acme", OWNER, "pid1")
    assert not handed_over({**HANDED, "app-key-id": ""}, "acme", OWNER, "pid1"), \
        "bootstrap copy or a hand-over under way"
    assert not handed_over(HANDED, "acme", {"ddmsp.io/owner-name": "other"}, "pid1")
    assert not handed_over(HANDED, "acme", None, "pid1")
    assert not handed_over(HANDED, "acme", OWNER, "pid2"), "another org's keys"
    assert not handed_over({**HANDED, "app-key": ""}, "acme", OWNER, "pid1")
    assert not handed_over(None, "acme", OWNER, "pid1")


def test_a_skip_holds_until_the_spec_or_the_retry_annotation_changes() -> None:
    first = skip_token(3, {})
    assert first == skip_token(3, {"other": "x"})
    assert first != skip_token(4, {})
    assert first != skip_token(3, {"ddmsp.io/retry": "1"})
