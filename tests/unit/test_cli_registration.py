"""confirm-registration: the patch it sends, and the namespace it picks like kubectl."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ddmsp.cli_registration import context_namespace, registration_patch

PARENT = {"parentOrg": {"publicId": "p4r3nt"}}


def test_patch_confirms_for_the_parent_org_and_records_the_deal() -> None:
    body = {"spec": {"provisioning": "SpinOff"}, "status": PARENT}
    assert registration_patch(body, "D-1") == {"spec": {"registration": {
        "confirmed": True, "orgPublicId": "p4r3nt", "dealId": "D-1"}}}
    assert registration_patch(body, None) == {"spec": {"registration": {
        "confirmed": True, "orgPublicId": "p4r3nt"}}}


def test_nothing_to_confirm_before_the_parent_org_exists() -> None:
    with pytest.raises(ValueError, match="parent org does not exist yet"):
        registration_patch({"spec": {"provisioning": "SpinOff"}}, None)


def test_already_confirmed_sends_nothing_unless_the_deal_changes() -> None:
    body = {"spec": {"provisioning": "SpinOff",
                     "registration": {"confirmed": True, "dealId": "D-1",
                                      "orgPublicId": "p4r3nt"}}, "status": PARENT}
    assert registration_patch(body, None) is None
    assert registration_patch(body, "D-1") is None
    assert registration_patch(body, "D-2") is not None
    body["spec"]["registration"]["orgPublicId"] = "0ther"  # named another org: confirm again
    assert registration_patch(body, None) is not None


def test_child_orgs_have_no_registration_step() -> None:
    with pytest.raises(ValueError, match="SpinOff"):
        registration_patch({"spec": {"displayName": "x"}}, None)


def test_namespace_comes_from_the_chosen_context(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    cluster = {"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u", "namespace": "ns-a"}},
                     {"name": "b", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "a"}))
    assert context_namespace(str(path), None) == "ns-a"
    assert context_namespace(str(path), "b") == "default"
