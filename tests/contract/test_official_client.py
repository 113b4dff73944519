"""Contract 3: the official datadog-api-client, an independent reading of the API, drives the
simulator through a partner's whole flow and deserializes every answer without error."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.model_utils import UnparsedObject
from datadog_api_client.v1.api.authentication_api import AuthenticationApi
from datadog_api_client.v1.api.organizations_api import OrganizationsApi as OrgsV1
from datadog_api_client.v1.api.usage_metering_api import UsageMeteringApi as UsageV1
from datadog_api_client.v1.model.organization import Organization
from datadog_api_client.v1.model.organization_create_body import OrganizationCreateBody
from datadog_api_client.v1.model.organization_settings import OrganizationSettings
from datadog_api_client.v1.model.organization_settings_saml import OrganizationSettingsSaml
from datadog_api_client.v1.model.organization_settings_saml_autocreate_users_domains import (
    OrganizationSettingsSamlAutocreateUsersDomains,
)
from datadog_api_client.v1.model.organization_settings_saml_strict_mode import (
    OrganizationSettingsSamlStrictMode,
)
from datadog_api_client.v2.api.authn_mappings_api import AuthNMappingsApi
from datadog_api_client.v2.api.organizations_api import OrganizationsApi as OrgsV2
from datadog_api_client.v2.api.roles_api import RolesApi
from datadog_api_client.v2.api.usage_metering_api import UsageMeteringApi as UsageV2
from datadog_api_client.v2.model.authn_mapping_create_attributes import (
    AuthNMappingCreateAttributes,
)
from datadog_api_client.v2.model.authn_mapping_create_data import AuthNMappingCreateData
from datadog_api_client.v2.model.authn_mapping_create_request import AuthNMappingCreateRequest
from datadog_api_client.v2.model.authn_mapping_relationship_to_role import (
    AuthNMappingRelationshipToRole,
)
from datadog_api_client.v2.model.authn_mapping_update_attributes import (
    AuthNMappingUpdateAttributes,
)
from datadog_api_client.v2.model.authn_mapping_update_data import AuthNMappingUpdateData
from datadog_api_client.v2.model.authn_mapping_update_request import AuthNMappingUpdateRequest
from datadog_api_client.v2.model.authn_mappings_type import AuthNMappingsType
from datadog_api_client.v2.model.org_config_type import OrgConfigType
from datadog_api_client.v2.model.org_config_write import OrgConfigWrite
from datadog_api_client.v2.model.org_config_write_attributes import OrgConfigWriteAttributes
from datadog_api_client.v2.model.org_config_write_request import OrgConfigWriteRequest
from datadog_api_client.v2.model.permissions_type import PermissionsType
from datadog_api_client.v2.model.relationship_to_permission import RelationshipToPermission
from datadog_api_client.v2.model.relationship_to_permission_data import (
    RelationshipToPermissionData,
)
from datadog_api_client.v2.model.relationship_to_permissions import RelationshipToPermissions
from datadog_api_client.v2.model.relationship_to_role import RelationshipToRole
from datadog_api_client.v2.model.relationship_to_role_data import RelationshipToRoleData
from datadog_api_client.v2.model.role_create_attributes import RoleCreateAttributes
from datadog_api_client.v2.model.role_create_data import RoleCreateData
from datadog_api_client.v2.model.role_create_request import RoleCreateRequest
from datadog_api_client.v2.model.role_relationships import RoleRelationships
from datadog_api_client.v2.model.role_update_attributes import RoleUpdateAttributes
from datadog_api_client.v2.model.role_update_data import RoleUpdateData
from datadog_api_client.v2.model.role_update_request import RoleUpdateRequest
from datadog_api_client.v2.model.roles_type import RolesType

from ddmsp.simulator.server import RunningSimulator

IDP_XML = (Path(__file__).parent / "data" / "idp_metadata.xml").read_bytes()


class StrictApiClient(ApiClient):
    """Fails the test when the client could not fully parse an answer (UnparsedObject)."""

    deserialized = 0

    def deserialize(self, response_data: str, response_type: Any, check_type: bool | None) -> Any:
        result = super().deserialize(response_data, response_type, check_type)
        assert not isinstance(result, UnparsedObject)
        assert not getattr(result, "_unparsed", False), f"unparsed {response_type}: {result}"
        StrictApiClient.deserialized += 1
        return result


@pytest.fixture(autouse=True)
def _answers_were_parsed() -> Iterator[None]:
    """Each test must really have had answers parsed by the strict client."""
    before = StrictApiClient.deserialized
    yield
    assert StrictApiClient.deserialized - before >= 3


def client(sim: RunningSimulator, api_key: str, app_key: str) -> ApiClient:
    config = Configuration(host=sim.base_url)
    config.api_key["apiKeyAuth"] = api_key
    config.api_key["appKeyAuth"] = app_key
    config.enable_retry = False
    return StrictApiClient(config)


def _file(data: bytes) -> io.BufferedReader:
    raw = io.BytesIO(data)
    raw.name = "idp.xml"  # type: ignore[attr-defined]
    return io.BufferedReader(raw)  # type: ignore[arg-type]


def test_partner_flow_with_official_client(sim: RunningSimulator) -> None:
    sim.set_config(org_listing="children")  # this flow reads children from the listing
    with client(sim, sim.partner_api_key, sim.partner_app_key) as partner:
        assert AuthenticationApi(partner).validate().valid is True
        orgs = OrgsV1(partner)
        created = orgs.create_child_org(OrganizationCreateBody(name="client-spinoff"))
        child_id = created.org.public_id
        listed = [o.public_id for o in orgs.list_orgs().orgs]
        assert listed == [sim.partner_public_id, child_id]
        with pytest.raises(ApiException) as denied:  # a parent cannot read its child
            orgs.get_org(child_id)
        assert denied.value.status == 400  # Datadog's recorded answer (test_orgs_as_recorded)
        assert "Not allowed to access this organization" in str(denied.value.body)

        child_keys = (created.api_key.key, created.application_key.hash)
        with client(sim, *child_keys) as child:
            child_orgs = OrgsV1(child)
            uploaded = child_orgs.upload_idp_for_org(child_id, idp_file=_file(IDP_XML))
            assert "uploaded" in uploaded.message
            settings = OrganizationSettings(
                saml=OrganizationSettingsSaml(enabled=True),
                saml_strict_mode=OrganizationSettingsSamlStrictMode(enabled=True),
                saml_autocreate_users_domains=OrganizationSettingsSamlAutocreateUsersDomains(
                    enabled=True, domains=["example.com"]
                ),
            )
            updated = child_orgs.update_org(
                child_id, Organization(name="client-spinoff", settings=settings)
            )
            assert updated.org.settings.saml.enabled is True
            assert child_orgs.get_org(child_id).org.settings.saml_strict_mode.enabled is True

        down = orgs.downgrade_org(child_id)
        assert child_id in down.message
        assert [o.public_id for o in orgs.list_orgs().orgs] == [sim.partner_public_id]

        with client(sim, *child_keys) as spun_off:
            grand = OrgsV1(spun_off).create_child_org(OrganizationCreateBody(name="client-c"))
            assert grand.api_key.key

        # Costs and usage as the partner sees them, across its managed orgs.
        orgs.create_child_org(OrganizationCreateBody(name="client-b"))
        usage = UsageV2(partner)
        now = sim.now()
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        summary = usage.get_estimated_cost_by_org(start_month=month)
        assert len(summary.data) == 1
        by_org = usage.get_estimated_cost_by_org(view="sub-org", start_month=month)
        assert len(by_org.data) == 2
        assert by_org.data[0].attributes.total_cost >= 0
        # historical cost of two months ago is always published (by the 16th of the next month)
        two_ago = (month - timedelta(days=40)).replace(day=1)
        hist = usage.get_historical_cost_by_org(start_month=two_ago, view="sub-org")
        assert {d.attributes.public_id for d in hist.data} == {
            d.attributes.public_id for d in by_org.data
        }
        projected = usage.get_projected_cost(view="sub-org").data  # from about the 12th
        if now.day >= 12:
            assert projected[0].attributes.projected_total_cost > 0
        else:
            assert not projected
        usage_v1 = UsageV1(partner).get_usage_summary(start_month=month, include_org_details=True)
        assert usage_v1.usage[0].orgs


def test_roles_permissions_mappings_with_official_client(sim: RunningSimulator) -> None:
    with client(sim, sim.partner_api_key, sim.partner_app_key) as c:
        roles = RolesApi(c)
        catalogue = roles.list_permissions().data
        by_name = {p.attributes.name: p for p in catalogue}
        assert by_name["dashboards_read"].attributes.restricted is True
        live_tail = by_name["logs_live_tail"].id

        role = roles.create_role(
            RoleCreateRequest(
                data=RoleCreateData(
                    type=RolesType.ROLES,
                    attributes=RoleCreateAttributes(name="client-admins"),
                    relationships=RoleRelationships(
                        permissions=RelationshipToPermissions(
                            data=[
                                RelationshipToPermissionData(
                                    id=live_tail, type=PermissionsType.PERMISSIONS
                                )
                            ]
                        )
                    ),
                )
            )
        ).data
        with pytest.raises(ApiException) as conflict:
            roles.create_role(
                RoleCreateRequest(
                    data=RoleCreateData(
                        type=RolesType.ROLES, attributes=RoleCreateAttributes(name="client-admins")
                    )
                )
            )
        assert conflict.value.status == 409

        found = roles.list_roles(filter="client-adm", page_size=10, page_number=0, sort="name")
        assert [r.id for r in found.data] == [role.id]
        assert found.meta.page.total_filtered_count == 1
        assert roles.get_role(role.id).data.attributes.user_count == 0

        write = by_name["dashboards_write"].id
        granted = roles.add_permission_to_role(
            role.id,
            RelationshipToPermission(
                data=RelationshipToPermissionData(id=write, type=PermissionsType.PERMISSIONS)
            ),
        )
        assert write in {p.id for p in granted.data}
        revoked = roles.remove_permission_from_role(
            role.id,
            RelationshipToPermission(
                data=RelationshipToPermissionData(id=write, type=PermissionsType.PERMISSIONS)
            ),
        )
        assert write not in {p.id for p in revoked.data}
        assert live_tail in {p.id for p in roles.list_role_permissions(role.id).data}
        updated = roles.update_role(
            role.id,
            RoleUpdateRequest(
                data=RoleUpdateData(
                    id=role.id,
                    type=RolesType.ROLES,
                    attributes=RoleUpdateAttributes(name="client-admins-2"),
                )
            ),
        )
        assert updated.data.attributes.name == "client-admins-2"

        mappings = AuthNMappingsApi(c)
        mapping = mappings.create_authn_mapping(
            AuthNMappingCreateRequest(
                data=AuthNMappingCreateData(
                    type=AuthNMappingsType.AUTHN_MAPPINGS,
                    attributes=AuthNMappingCreateAttributes(
                        attribute_key="memberOf", attribute_value="admins"
                    ),
                    relationships=AuthNMappingRelationshipToRole(
                        role=RelationshipToRole(
                            data=RelationshipToRoleData(id=role.id, type=RolesType.ROLES)
                        )
                    ),
                )
            )
        ).data
        listed = mappings.list_authn_mappings(page_size=10)
        assert [m.id for m in listed.data] == [mapping.id]
        assert mappings.get_authn_mapping(mapping.id).data.attributes.attribute_value == "admins"
        patched = mappings.update_authn_mapping(
            mapping.id,
            AuthNMappingUpdateRequest(
                data=AuthNMappingUpdateData(
                    id=mapping.id,
                    type=AuthNMappingsType.AUTHN_MAPPINGS,
                    attributes=AuthNMappingUpdateAttributes(attribute_value="owners"),
                )
            ),
        )
        assert patched.data.attributes.attribute_value == "owners"
        mappings.delete_authn_mapping(mapping.id)
        with pytest.raises(ApiException) as gone:
            mappings.delete_authn_mapping(mapping.id)
        assert gone.value.status == 404
        roles.delete_role(role.id)
        with pytest.raises(ApiException) as gone_role:
            roles.get_role(role.id)
        assert gone_role.value.status == 404


def test_saml_and_org_configs_with_official_client(sim: RunningSimulator) -> None:
    with client(sim, sim.partner_api_key, sim.partner_app_key) as c:
        orgs = OrgsV2(c)
        orgs.upload_idp_metadata(idp_file=_file(IDP_XML))
        snap = sim.snapshot()["orgs"][0]
        assert snap["idp_metadata"]["entity_id"] == "https://idp.example.com/metadata"
        names = [cfg.attributes.name for cfg in orgs.list_org_configs().data]
        assert "custom_roles" in names
        assert orgs.get_org_config("custom_roles").data.attributes.value is False
        written = orgs.update_org_config(
            "custom_roles",
            OrgConfigWriteRequest(
                data=OrgConfigWrite(
                    type=OrgConfigType.ORG_CONFIGS,
                    attributes=OrgConfigWriteAttributes(value=True),
                )
            ),
        )
        assert written.data.attributes.value is True
        assert written.data.attributes.modified_at is not None
        with pytest.raises(ApiException) as bad:
            orgs.upload_idp_metadata(idp_file=_file(b"\xef\xbb\xbf" + IDP_XML))
        assert bad.value.status == 400
