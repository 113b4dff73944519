"""The simulator's users area against Datadog's recorded behaviour, read by the official
datadog-api-client (an independent reading of the v2 spec) and by ddmsp's own client.

Each assertion names the recording it mirrors (DataDog/datadog-api-client-python
``tests/v2/cassettes/test_scenarios``; DataDog/terraform-provider-datadog
``datadog/tests/cassettes/TestAccDatadogUser_Existing.yaml``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.model_utils import UnparsedObject
from datadog_api_client.v2.api.roles_api import RolesApi
from datadog_api_client.v2.api.users_api import UsersApi
from datadog_api_client.v2.model.relationship_to_user import RelationshipToUser
from datadog_api_client.v2.model.relationship_to_user_data import RelationshipToUserData
from datadog_api_client.v2.model.user_create_attributes import UserCreateAttributes
from datadog_api_client.v2.model.user_create_data import UserCreateData
from datadog_api_client.v2.model.user_create_request import UserCreateRequest
from datadog_api_client.v2.model.user_invitation_data import UserInvitationData
from datadog_api_client.v2.model.user_invitation_relationships import (
    UserInvitationRelationships,
)
from datadog_api_client.v2.model.user_invitations_request import UserInvitationsRequest
from datadog_api_client.v2.model.user_invitations_type import UserInvitationsType
from datadog_api_client.v2.model.user_update_attributes import UserUpdateAttributes
from datadog_api_client.v2.model.user_update_data import UserUpdateData
from datadog_api_client.v2.model.user_update_request import UserUpdateRequest
from datadog_api_client.v2.model.users_type import UsersType

from ddmsp.datadog import ConflictError, Credentials, DatadogClient, NotFoundError
from ddmsp.simulator.server import RunningSimulator


class StrictApiClient(ApiClient):
    """Fails the test when an answer could not be fully parsed."""

    def deserialize(self, response_data: str, response_type: Any, check_type: bool | None) -> Any:
        result = super().deserialize(response_data, response_type, check_type)
        assert not isinstance(result, UnparsedObject)
        assert not getattr(result, "_unparsed", False), f"unparsed {response_type}: {result}"
        return result


def official(sim: RunningSimulator) -> ApiClient:
    config = Configuration(host=sim.base_url)
    config.api_key["apiKeyAuth"] = sim.partner_api_key
    config.api_key["appKeyAuth"] = sim.partner_app_key
    config.enable_retry = False
    return StrictApiClient(config)


def create_body(email: str) -> UserCreateRequest:
    return UserCreateRequest(data=UserCreateData(
        type=UsersType.USERS, attributes=UserCreateAttributes(email=email, name="Jane Doe")))


def to_user(user_id: str) -> RelationshipToUser:
    return RelationshipToUser(data=RelationshipToUserData(id=user_id, type=UsersType.USERS))


def invite_body(user_id: str) -> UserInvitationsRequest:
    return UserInvitationsRequest(data=[UserInvitationData(
        type=UserInvitationsType.USER_INVITATIONS,
        relationships=UserInvitationRelationships(user=to_user(user_id)))])


def test_create_conflict_disable_and_reenable(sim: RunningSimulator) -> None:
    with official(sim) as api_client:
        users = UsersApi(api_client)
        # 201, email lowercased, Pending (test_create_a_user_returns_ok_response)
        created = users.create_user(create_body("Jane.Doe@Example.com")).data
        assert created.attributes.email == "jane.doe@example.com"
        assert created.attributes.handle == "jane.doe@example.com"
        assert str(created.attributes.status) == "Pending"
        assert created.attributes.disabled is False
        assert created.attributes.service_account is False
        # the same email again, in any case: 409 "User <email> already exists"
        with pytest.raises(ApiException) as conflict:
            users.create_user(create_body("JANE.DOE@example.com"))
        assert conflict.value.status == 409
        assert "already exists" in str(conflict.value.body)
        # DELETE disables; a second DELETE is a 404 (test_disable_a_user_returns_ok_response)
        users.disable_user(created.id)
        assert users.get_user(created.id).data.attributes.status == "Disabled"
        with pytest.raises(ApiException) as gone:
            users.disable_user(created.id)
        assert gone.value.status == 404
        # a disabled user still holds its email: 409 (TestAccDatadogUser_Existing)
        with pytest.raises(ApiException) as still:
            users.create_user(create_body("jane.doe@example.com"))
        assert still.value.status == 409
        # listing includes disabled users; filter is a substring match
        listed = users.list_users(filter="jane.doe").data
        assert [u.id for u in listed] == [created.id]
        # re-enabled without ever logging in: Pending again
        patch = UserUpdateRequest(data=UserUpdateData(
            id=created.id, type=UsersType.USERS, attributes=UserUpdateAttributes(disabled=False)))
        assert users.update_user(created.id, patch).data.attributes.status == "Pending"
        # a body id that differs from the path: 422 (test_update_a_user_returns_bad_user_id...)
        mismatch = UserUpdateRequest(data=UserUpdateData(
            id="00000000-mismatch-body-id-ffffffffffff", type=UsersType.USERS,
            attributes=UserUpdateAttributes(name="x")))
        with pytest.raises(ApiException) as bad:
            users.update_user(created.id, mismatch)
        assert bad.value.status == 422


def test_invitations_expire_after_two_days_then_reminders(sim: RunningSimulator) -> None:
    with official(sim) as api_client:
        users = UsersApi(api_client)
        user_id = users.create_user(create_body("pat@example.com")).data.id
        first = users.send_invitations(invite_body(user_id)).data[0]
        assert first.attributes.invite_type == "basic_invite"
        assert first.attributes.expires_at - first.attributes.created_at == timedelta(days=2)
        again = users.send_invitations(invite_body(user_id)).data[0]
        assert again.attributes.invite_type == "basic_reminder"
        assert users.get_invitation(first.id).data.attributes.uuid == first.id
        with pytest.raises(ApiException) as empty:
            users.send_invitations(UserInvitationsRequest(data=[]))
        assert empty.value.status == 400


def test_role_membership_through_the_role(sim: RunningSimulator) -> None:
    with official(sim) as api_client:
        users, roles = UsersApi(api_client), RolesApi(api_client)
        user_id = users.create_user(create_body("ops@example.com")).data.id
        read_only = next(r for r in roles.list_roles().data
                         if r.attributes.name == "Datadog Read Only Role")
        added = roles.add_user_to_role(read_only.id, to_user(user_id))
        assert [u.id for u in added.data] == [user_id] and added.meta.page.total_count == 1
        held = users.get_user(user_id).data.relationships.roles.data
        assert [r.id for r in held] == [read_only.id]
        assert [u.id for u in roles.list_role_users(read_only.id).data] == [user_id]
        removed = roles.remove_user_from_role(read_only.id, to_user(user_id))
        assert removed.data == [] and removed.meta.page.total_count == 0
        with pytest.raises(ApiException) as missing:
            roles.add_user_to_role("00000000-0000-0000-0000-000000000000", to_user(user_id))
        assert missing.value.status == 404


async def test_ddmsp_client_creates_adopts_and_disables(sim: RunningSimulator) -> None:
    """ddmsp's own client: 409 as ConflictError, lookup by exact email, disable twice = 404."""
    creds = Credentials.of(sim.partner_api_key, sim.partner_app_key)
    async with DatadogClient(creds, base_url=sim.base_url,
                             transport=httpx.AsyncHTTPTransport()) as dd:
        user = await dd.create_user("Ann@Example.com", "Ann")
        assert user.email == "ann@example.com" and user.status == "Pending"
        await dd.create_user("joanne@example.com")  # the filter is a substring match
        with pytest.raises(ConflictError):
            await dd.create_user("ann@example.com")
        found = await dd.find_user_by_email("ANN@example.com")
        assert found is not None and found.id == user.id
        assert await dd.find_user_by_email("nobody@example.com") is None
        roles = {r.name: r.id for r in await dd.list_roles()}
        await dd.add_user_to_role(roles["Datadog Read Only Role"], user.id)
        await dd.add_user_to_role(roles["Datadog Read Only Role"], user.id)  # a set union
        read = await dd.get_user(user.id)
        assert read.role_ids == [roles["Datadog Read Only Role"]]
        assert read.observed_at is not None  # the answer's Date header
        await dd.remove_user_from_role(roles["Datadog Read Only Role"], user.id)
        invitation = await dd.send_invitation(user.id)
        assert invitation.user_id == user.id and invitation.expires_at is not None
        disabled = await dd.update_user(user.id, disabled=True)
        assert disabled.status == "Disabled" and disabled.disabled is True
        with pytest.raises(NotFoundError):
            await dd.disable_user(user.id)


async def test_ddmsp_client_reads_datadogs_clock(sim: RunningSimulator) -> None:
    """get_user carries the answer's Date: the operator judges expiry by Datadog's time."""
    creds = Credentials.of(sim.partner_api_key, sim.partner_app_key)
    async with DatadogClient(creds, base_url=sim.base_url,
                             transport=httpx.AsyncHTTPTransport()) as dd:
        user = await dd.create_user("clock@example.com", "Clock")
        invitation = await dd.send_invitation(user.id)
        assert invitation.expires_at is not None
        read = await dd.get_user(user.id)
        assert read.observed_at is not None and read.observed_at < invitation.expires_at
        sim.advance_clock(3 * 86400)
        later = await dd.get_user(user.id)
        assert later.observed_at is not None and later.observed_at > invitation.expires_at
