"""Org configs and the v1 org settings object, driven by the official datadog-api-client.

The official client is an independent reading of Datadog's contract; the recorded exchanges
(cited in ``ddmsp.simulator.orgconfigs`` and ``ddmsp.simulator.orgs``) give the answers
compared here: the 404 and 400 bodies verbatim, ``modified_at`` set by a write, the settings
Datadog shows beyond the v1 spec, and 400 "Not allowed to access this organization" for an
org the keys do not belong to.
"""

from __future__ import annotations

import json

import pytest
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v1.api.organizations_api import OrganizationsApi as OrgsV1
from datadog_api_client.v1.model.organization import Organization
from datadog_api_client.v1.model.organization_create_body import OrganizationCreateBody
from datadog_api_client.v1.model.organization_settings import OrganizationSettings
from datadog_api_client.v2.api.organizations_api import OrganizationsApi as OrgsV2
from datadog_api_client.v2.model.org_config_type import OrgConfigType
from datadog_api_client.v2.model.org_config_write import OrgConfigWrite
from datadog_api_client.v2.model.org_config_write_attributes import OrgConfigWriteAttributes
from datadog_api_client.v2.model.org_config_write_request import OrgConfigWriteRequest

from ddmsp.simulator.server import RunningSimulator
from tests.contract.test_official_client import client


def _write(value: object) -> OrgConfigWriteRequest:
    return OrgConfigWriteRequest(data=OrgConfigWrite(
        type=OrgConfigType.ORG_CONFIGS, attributes=OrgConfigWriteAttributes(value=value)))


def _refused(call: object, status: int) -> list[str]:
    assert callable(call)
    with pytest.raises(ApiException) as err:
        call()
    assert err.value.status == status
    body = err.value.body
    return list((json.loads(body) if isinstance(body, str | bytes) else body)["errors"])


def test_org_configs_as_recorded_with_official_client(sim: RunningSimulator) -> None:
    with client(sim, sim.partner_api_key, sim.partner_app_key) as c:
        orgs = OrgsV2(c)
        listed = {cfg.attributes.name: cfg.attributes for cfg in orgs.list_org_configs().data}
        assert listed["monitor_timezone"].value_type == "enum"
        assert listed["security_contacts"].value_type == "security_contacts_list"
        assert listed["monitor_timezone"].modified_at is None  # never written yet

        written = orgs.update_org_config("monitor_timezone", _write("Europe/Paris"))
        assert written.data.attributes.value == "Europe/Paris"
        assert written.data.attributes.modified_at is not None
        assert orgs.get_org_config("monitor_timezone").data.attributes.value == "Europe/Paris"

        contacts = ["foo@example.org", "bar@example.org"]
        assert orgs.update_org_config("security_contacts",
                                      _write(contacts)).data.attributes.value == contacts
        assert orgs.update_org_config("security_contacts", _write([])).data.attributes.value == []
        assert orgs.update_org_config(
            "teams_provisioning_sources", _write("saml_and_manually")
        ).data.attributes.value == "saml_and_manually"

        # recorded: test_update_a_specific_org_config_returns_bad_request_response
        assert _refused(lambda: orgs.update_org_config("custom_roles", _write("not-a-boolean")),
                        400) == ["The value provided for parameter 'OrgConfig: not-a-boolean' "
                                 "is invalid"]
        # recorded: test_update/get_a_specific_org_config..._returns_not_found_response
        assert _refused(lambda: orgs.update_org_config("i_dont_exist", _write([])),
                        404) == ["OrgConfig: i_dont_exist not found"]
        assert _refused(lambda: orgs.get_org_config("i_dont_exist"),
                        404) == ["OrgConfig: i_dont_exist not found"]
        # stricter readings (no recording): values outside the type's known set
        for name, bad in (("monitor_timezone", "Mars/Olympus"),
                          ("teams_provisioning_sources", "sometimes"),
                          ("security_contacts", ["foo@example@org"]),
                          ("domain_allowlist", ["@example.com"]),
                          ("restrict_export_to_csv", 1)):
            errors = _refused(lambda n=name, b=bad: orgs.update_org_config(n, _write(b)), 400)
            assert errors[0].startswith("The value provided for parameter 'OrgConfig: ")
        assert orgs.get_org_config("monitor_timezone").data.attributes.value == "Europe/Paris"


def test_v1_settings_object_with_official_client(sim: RunningSimulator) -> None:
    with client(sim, sim.partner_api_key, sim.partner_app_key) as partner:
        created = OrgsV1(partner).create_child_org(OrganizationCreateBody(name="settings-co"))
        child_id = created.org.public_id
        with client(sim, created.api_key.key, created.application_key.hash) as child:
            orgs = OrgsV1(child)
            settings = orgs.get_org(child_id).org.settings
            assert settings.private_widget_share is False
            # shown by Datadog today beyond the v1 spec (TestAccDatadogOrganizationSettings_*)
            assert settings["default_landing_page"] == "Dashboard Lists"
            assert settings["custom_landing_page"] is None
            updated = orgs.update_org(child_id, Organization(
                name="settings-co", settings=OrganizationSettings(private_widget_share=True)))
            assert updated.org.settings.private_widget_share is True
            assert updated.org.settings.saml.enabled is False  # a partial PUT keeps the rest
            assert orgs.get_org(child_id).org.settings.private_widget_share is True
            # the partner's own org, seen with the child's keys: recorded 400
            assert _refused(lambda: orgs.get_org(sim.partner_public_id), 400) == [
                "Not allowed to access this organization"]
            assert _refused(lambda: orgs.update_org(sim.partner_public_id, Organization(
                settings=OrganizationSettings(private_widget_share=True))), 400) == [
                "Not allowed to access this organization"]
        # and the child, seen with the partner's keys
        assert _refused(lambda: OrgsV1(partner).get_org(child_id), 400) == [
            "Not allowed to access this organization"]
