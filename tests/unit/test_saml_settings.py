"""DatadogSAMLConfig helpers: only set settings are sent; exact mapping sets; cert warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ddmsp.controllers.samlconfig import (
    certificate_notice,
    mapping_plan,
    metadata_source,
    settings_patch,
)
from ddmsp.datadog import AuthNMapping, OrgSettings
from ddmsp.resources.samlconfig import DatadogSAMLConfigSpec
from ddmsp.saml import metadata as md
from tests.support.samlmeta import metadata

DEFAULTS = OrgSettings.model_validate({
    "saml": {"enabled": False},
    "saml_strict_mode": {"enabled": False},
    "saml_idp_initiated_login": {"enabled": False},
    "saml_autocreate_users_domains": {"domains": [], "enabled": False},
    "saml_autocreate_access_role": "st",
})


def spec(**fields: Any) -> DatadogSAMLConfigSpec:
    return DatadogSAMLConfigSpec.model_validate(
        {"orgRef": {"name": "acme"}, "idpMetadata": {"inline": "<x/>"}, **fields})


def test_nothing_set_nothing_sent() -> None:
    assert settings_patch(spec(), DEFAULTS) == ({}, [])


def test_only_set_and_differing_settings_are_sent() -> None:
    patch, diff = settings_patch(spec(enabled=True, idpInitiatedLogin=False), DEFAULTS)
    assert patch == {"saml": {"enabled": True}}
    assert diff == ["enabled is false, the spec wants true"]


def test_autocreate_users() -> None:
    s = spec(autocreateUsers={"domains": ["example.com"], "accessRole": "ro"})
    patch, diff = settings_patch(s, DEFAULTS)
    assert patch == {
        "saml_autocreate_users_domains": {"enabled": True, "domains": ["example.com"]},
        "saml_autocreate_access_role": "ro",
    }
    assert len(diff) == 3
    applied = OrgSettings.model_validate({
        "saml_autocreate_users_domains": {"domains": ["example.com"], "enabled": True},
        "saml_autocreate_access_role": "ro",
    })
    assert settings_patch(s, applied) == ({}, [])
    # domains unset: Datadog's list is left alone
    assert settings_patch(spec(autocreateUsers={}), applied) == ({}, [])


def _mapping(id_: str, key: str, value: str, role: str) -> AuthNMapping:
    return AuthNMapping(id=id_, attribute_key=key, attribute_value=value, role_id=role)


def test_mapping_plan_is_an_exact_set() -> None:
    actual = [_mapping("1", "group", "admins", "r1"), _mapping("2", "group", "old", "r2"),
              _mapping("3", "group", "admins", "r1")]
    create, repoint, delete = mapping_plan([("group", "admins", "r1"), ("group", "dev", "r2")],
                                           actual)
    assert create == [("group", "dev", "r2")] and repoint == []
    assert [m.id for m in delete] == ["2", "3"]  # the duplicate goes too
    assert mapping_plan([], actual)[2] == actual


def test_a_role_change_repoints_the_mapping_instead_of_delete_and_create() -> None:
    actual = [_mapping("1", "group", "admins", "r1"), _mapping("2", "group", "dev", "r2")]
    create, repoint, delete = mapping_plan([("group", "admins", "r9"), ("group", "dev", "r2")],
                                           actual)
    assert create == [] and delete == []
    assert [(m.id, role) for m, role in repoint] == [("1", "r9")]
    # A new attribute value is a new mapping; the old one goes.
    create, repoint, delete = mapping_plan([("group", "ops", "r1")], actual[:1])
    assert create == [("group", "ops", "r1")] and repoint == [] and [m.id for m in delete] == ["1"]


def test_certificate_warning_30_days_before_expiry() -> None:
    soon = md.parse(metadata(days_valid=10))
    later = md.parse(metadata(days_valid=90))
    assert certificate_notice(later) is None
    notice = certificate_notice(soon)
    assert notice and "expires at" in notice and "in 9 days" in notice
    expired = certificate_notice(soon, now=datetime.now(UTC) + timedelta(days=11))
    assert expired and "expired" in expired


def test_metadata_source_keys() -> None:
    assert metadata_source("ns", {"idpMetadata": {"configMapKeyRef": {"name": "m", "key": "k"}}}
                           ) == ("ConfigMap", "ns", "m")
    assert metadata_source("ns", {"idpMetadata": {"secretKeyRef": {"name": "s", "key": "k"}}}
                           ) == ("Secret", "ns", "s")
    assert metadata_source("ns", {"idpMetadata": {"inline": "<x/>"}}) is None
