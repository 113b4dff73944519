"""Typed payloads of the Datadog API calls the operator makes.

v1 payloads are modelled as the API sends them. v2 (JSON:API) resources are
flattened: `id` plus the attributes, plus the ids of the relationships we use.
Unknown fields are kept (`extra="allow"`) so new API fields never break parsing.
Keys of a new child org are SecretStr, and the models holding them drop unknown
fields so nothing secret can hide in an extra.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ddmsp.datadog.credentials import Credentials


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, hide_input_in_errors=True)


# ---------------------------------------------------------------- v1 organizations


class SamlSetting(_Model):
    """`{"enabled": bool}`, the shape of several SAML settings."""

    enabled: bool | None = None


class SamlAutocreateUsersDomains(_Model):
    domains: list[str] = Field(default_factory=list)
    enabled: bool | None = None


class OrgSettings(_Model):
    private_widget_share: bool | None = None
    saml: SamlSetting | None = None
    saml_autocreate_access_role: str | None = None
    saml_autocreate_users_domains: SamlAutocreateUsersDomains | None = None
    saml_can_be_enabled: bool | None = None
    saml_idp_endpoint: str | None = None
    saml_idp_initiated_login: SamlSetting | None = None
    saml_idp_metadata_uploaded: bool | None = None
    saml_login_url: str | None = None
    saml_strict_mode: SamlSetting | None = None
    # shown by Datadog beyond the v1 spec (terraform-provider-datadog
    # TestAccDatadogOrganizationSettings_*); read only as far as anything shows
    default_landing_page: str | None = None
    custom_landing_page: str | None = None


class OrgSubscription(_Model):
    type: str | None = None


class OrgBilling(_Model):
    type: str | None = None


class Org(_Model):
    public_id: str
    name: str | None = None
    created: str | None = None
    description: str | None = None
    settings: OrgSettings | None = None
    subscription: OrgSubscription | None = None
    billing: OrgBilling | None = None
    trial: bool | None = None


class OrgListResponse(_Model):
    orgs: list[Org] = Field(default_factory=list)


class OrgResponse(_Model):
    org: Org


class OrgUser(_Model):
    access_role: str | None = None
    disabled: bool | None = None
    email: str | None = None
    handle: str | None = None
    icon: str | None = None
    name: str | None = None
    verified: bool | None = None


class NewApiKey(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    key: SecretStr
    name: str | None = None
    created: str | None = None
    created_by: str | None = None


class NewApplicationKey(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    hash: SecretStr
    name: str | None = None
    owner: str | None = None


class OrgCreateResponse(BaseModel):
    """`POST /api/v1/org`: the only time the new org's keys are ever shown."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    org: Org
    user: OrgUser | None = None
    api_key: NewApiKey
    application_key: NewApplicationKey


class CreatedOrg(BaseModel):
    """A new child org and its own credentials (the partner's keys cannot act inside it)."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    org: Org
    credentials: Credentials
    user: OrgUser | None = None


class MessageResponse(_Model):
    """Downgrade and v1 IdP upload answer `{"message": ...}`."""

    message: str | None = None


class ValidateResponse(_Model):
    valid: bool = False


# ---------------------------------------------------------------- v1 usage summary


class UsageSummaryOrg(_Model):
    """One sub-org's usage in one month; the many usage fields are kept as extras."""

    id: str | None = None
    name: str | None = None
    public_id: str | None = None
    uuid: str | None = None
    region: str | None = None
    account_name: str | None = None
    account_public_id: str | None = None


class UsageSummaryMonth(_Model):
    date: datetime | None = None
    orgs: list[UsageSummaryOrg] = Field(default_factory=list)


class UsageSummary(_Model):
    start_date: datetime | None = None
    end_date: datetime | None = None
    last_updated: datetime | None = None
    usage: list[UsageSummaryMonth] = Field(default_factory=list)


# ---------------------------------------------------------------- v2 (flattened JSON:API)


def _relationship_ids(resource: dict[str, Any], name: str) -> list[str]:
    rel = (resource.get("relationships") or {}).get(name) or {}
    data = rel.get("data")
    if isinstance(data, dict):
        data = [data]
    return [str(item["id"]) for item in data or [] if isinstance(item, dict) and "id" in item]


def _flatten(resource: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(resource.get("attributes") or {})
    out["id"] = resource.get("id")
    return out


class Permission(_Model):
    id: str
    name: str
    display_name: str | None = None
    description: str | None = None
    group_name: str | None = None
    display_type: str | None = None
    restricted: bool = False
    created: datetime | None = None

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> Permission:
        return cls.model_validate(_flatten(resource))


class Role(_Model):
    id: str
    name: str
    created_at: datetime | None = None
    modified_at: datetime | None = None
    user_count: int | None = None
    permission_ids: list[str] = Field(default_factory=list)

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> Role:
        data = _flatten(resource)
        data["permission_ids"] = _relationship_ids(resource, "permissions")
        return cls.model_validate(data)


class AuthNMapping(_Model):
    id: str
    attribute_key: str
    attribute_value: str
    role_id: str | None = None
    role_name: str | None = None  # from the listing's `included` roles, when present
    created_at: datetime | None = None
    modified_at: datetime | None = None

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> AuthNMapping:
        data = _flatten(resource)
        roles = _relationship_ids(resource, "role")
        data["role_id"] = roles[0] if roles else None
        return cls.model_validate(data)


class OrgConfig(_Model):
    id: str | None = None
    name: str
    value: Any = None
    value_type: str | None = None
    description: str | None = None
    modified_at: datetime | None = None

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> OrgConfig:
        return cls.model_validate(_flatten(resource))


class OrgConnection(_Model):
    """A v2 org connection: the source org's data visible in the sink org (v2 org UUIDs)."""

    id: str
    connection_types: list[str] = Field(default_factory=list)
    source_org_id: str | None = None
    sink_org_id: str | None = None
    created_at: datetime | None = None

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> OrgConnection:
        data = _flatten(resource)
        source = _relationship_ids(resource, "source_org")
        sink = _relationship_ids(resource, "sink_org")
        data["source_org_id"] = source[0] if source else None
        data["sink_org_id"] = sink[0] if sink else None
        return cls.model_validate(data)


class CostCharge(_Model):
    charge_type: str | None = None
    cost: float | None = None
    product_name: str | None = None


class OrgCost(_Model):
    """One row of estimated / historical / projected cost (per org and date)."""

    id: str | None = None
    type: str | None = None
    org_name: str | None = None
    public_id: str | None = None
    account_name: str | None = None
    account_public_id: str | None = None
    region: str | None = None
    date: datetime | None = None
    total_cost: float | None = None
    projected_total_cost: float | None = None
    charges: list[CostCharge] = Field(default_factory=list)

    @property
    def amount(self) -> float:
        """The row's total: ``total_cost``, or ``projected_total_cost`` for projections."""
        value = self.total_cost if self.total_cost is not None else self.projected_total_cost
        return float(value or 0.0)

    def by_product(self) -> dict[str, float]:
        """Cost per product: its ``total`` charges where given, else the sum of its charges
        (estimated rows carry committed/on_demand only; projected ones add ``total``)."""
        totals: dict[str, float] = {}
        parts: dict[str, float] = {}
        for c in self.charges:
            if not c.product_name or c.cost is None:
                continue
            bucket = totals if c.charge_type == "total" else parts
            bucket[c.product_name] = bucket.get(c.product_name, 0.0) + c.cost
        return {p: totals.get(p, parts.get(p, 0.0)) for p in {*totals, *parts}}

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> OrgCost:
        data = _flatten(resource)
        data["type"] = resource.get("type")
        return cls.model_validate(data)


# ---------------------------------------------------------------- v2 users


class User(_Model):
    """A v2 user; ``status`` is Pending, Active or Disabled."""

    id: str
    email: str | None = None
    handle: str | None = None
    name: str | None = None
    status: str | None = None
    disabled: bool = False
    verified: bool | None = None
    service_account: bool = False
    created_at: datetime | None = None
    modified_at: datetime | None = None
    role_ids: list[str] = Field(default_factory=list)
    observed_at: datetime | None = None  # Datadog's clock when read (GET's Date header)

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> User:
        data = _flatten(resource)
        data["role_ids"] = _relationship_ids(resource, "roles")
        return cls.model_validate(data)


class UserInvitation(_Model):
    """A v2 user invitation (``expires_at``: two days after ``created_at`` by default)."""

    id: str
    user_id: str | None = None
    invite_type: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> UserInvitation:
        data = _flatten(resource)
        users = _relationship_ids(resource, "user")
        data["user_id"] = users[0] if users else None
        return cls.model_validate(data)


# ---------------------------------------------------------------- v2 keys


class _KeyModel(BaseModel):
    """Key metadata. Unknown fields are dropped, not kept: a read of a key may carry its
    secret (``attributes.key``, re-readable for API keys outside One-Time Read mode), and a
    secret must never ride along in an extra field."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)


class ApiKey(_KeyModel):
    """A v2 API key without its secret (``last4`` names it for people)."""

    id: str
    name: str | None = None
    last4: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    created_by_id: str | None = None

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> ApiKey:
        data = _flatten(resource)
        data.pop("key", None)
        creators = _relationship_ids(resource, "created_by")
        data["created_by_id"] = creators[0] if creators else None
        return cls.model_validate(data)


class CreatedApiKey(ApiKey):
    """``POST /api/v2/api_keys``: the one answer sure to hold the secret."""

    key: SecretStr

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> CreatedApiKey:
        data = _flatten(resource)
        creators = _relationship_ids(resource, "created_by")
        data["created_by_id"] = creators[0] if creators else None
        return cls.model_validate(data)


class ApplicationKey(_KeyModel):
    """A v2 application key without its secret; ``owner_id`` is the owning user or service
    account; ``scopes`` None means the owner's permissions."""

    id: str
    name: str | None = None
    last4: str | None = None
    created_at: datetime | None = None
    scopes: list[str] | None = None
    owner_id: str | None = None

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> ApplicationKey:
        data = _flatten(resource)
        data.pop("key", None)
        owners = _relationship_ids(resource, "owned_by")
        data["owner_id"] = owners[0] if owners else None
        return cls.model_validate(data)


class CreatedApplicationKey(ApplicationKey):
    """The create answer of an application key: the only time its secret is shown."""

    key: SecretStr

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> CreatedApplicationKey:
        data = _flatten(resource)
        owners = _relationship_ids(resource, "owned_by")
        data["owner_id"] = owners[0] if owners else None
        return cls.model_validate(data)
