"""spec.settings pieces: the field-by-field merge over partner defaults, the comparison with
Datadog's answers (no org-config read when none is wanted), and the names in messages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ddmsp.controllers.orgsettings import OWN, effective_settings, observe_settings
from ddmsp.datadog import Org
from ddmsp.datadog.models import OrgConfig
from ddmsp.reconcile.outcomes import Blocked
from ddmsp.resources.orgsettings import OrgSettingsSpec, spec_path

PARTNER = "DatadogPartner/msp"


class FakeDatadog:
    """Only what observe_settings reads; counts the org-config listings."""

    def __init__(self, configs: dict[str, Any]) -> None:
        self.configs = configs
        self.listings = 0

    async def list_org_configs(self) -> list[OrgConfig]:
        self.listings += 1
        return [OrgConfig(name=k, value=v) for k, v in self.configs.items()]


def spec(**fields: Any) -> OrgSettingsSpec:
    return OrgSettingsSpec.model_validate(fields)


def org(private_widget_share: bool = False) -> Org:
    return Org.model_validate({"public_id": "abc", "settings": {
        "private_widget_share": private_widget_share, "default_landing_page": "APM Home"}})


def test_own_settings_win_field_by_field_and_sources_say_whose() -> None:
    own = spec(monitorTimezone="UTC")
    defaults = spec(monitorTimezone="Asia/Tokyo", privateWidgetShare=True)
    merged, sources = effective_settings(own, defaults, PARTNER)
    assert merged is not None
    assert merged.monitor_timezone == "UTC" and merged.private_widget_share is True
    assert sources == {"monitorTimezone": OWN, "privateWidgetShare": PARTNER}
    assert effective_settings(None, None, PARTNER) == (None, {})
    only_defaults, sources = effective_settings(None, defaults, PARTNER)
    assert only_defaults == defaults and set(sources.values()) == {PARTNER}


def test_field_names_map_to_datadog_names() -> None:
    s = spec(inviteExpiration30Days=True, emailDomainAllowlistEnabled=False)
    assert s.wanted_configs() == {"30d_invite_expiration": True,
                                  "enable_domain_allowlist": False}
    assert spec_path("30d_invite_expiration") == "spec.settings.inviteExpiration30Days"
    assert spec_path("private_widget_share") == "spec.settings.privateWidgetShare"


def test_only_what_differs_is_planned_and_named() -> None:
    dd = FakeDatadog({"monitor_timezone": "UTC", "security_contacts": ["a@example.org"]})
    wanted = spec(privateWidgetShare=True, monitorTimezone="Europe/Paris",
                  securityContacts=["a@example.org"])
    plan = asyncio.run(observe_settings(dd, org(), wanted,  # type: ignore[arg-type]
                                        {"monitorTimezone": PARTNER}))
    assert plan.v1 == {"private_widget_share": True}
    assert plan.configs == {"monitor_timezone": "Europe/Paris"}
    assert any("spec.settings.privateWidgetShare" in d for d in plan.diff)
    assert any("default of DatadogPartner/msp" in d for d in plan.diff)


def test_no_org_config_read_without_org_configs_in_the_spec() -> None:
    dd = FakeDatadog({})
    plan = asyncio.run(observe_settings(dd, org(True), spec(privateWidgetShare=True)))  # type: ignore[arg-type]
    assert not plan and dd.listings == 0
    assert not asyncio.run(observe_settings(dd, org(), None))  # type: ignore[arg-type]


def test_a_config_the_org_does_not_offer_blocks_naming_the_field() -> None:
    dd = FakeDatadog({"monitor_timezone": "UTC"})
    with pytest.raises(Blocked) as blocked:
        asyncio.run(observe_settings(dd, org(), spec(adminOnlyInvites=True)))  # type: ignore[arg-type]
    assert blocked.value.reason == "OrgConfigUnavailable"
    assert "spec.settings.adminOnlyInvites" in blocked.value.message
