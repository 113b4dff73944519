"""DatadogAPIKey: a Datadog API key of a client org, kept in a Secret and rotated on a schedule.

Durations are Go duration strings (``720h``, ``90m``, ``1h30m``, ``0s``) so that admission
(CEL's ``duration()``) and the operator (``parse_duration``) read them alike; the pattern
keeps them to hours, minutes and seconds in whole numbers, small enough never to overflow
Go's duration (about 2.5 million hours).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ddmsp.resources.base import KubeModel, Rule
from ddmsp.resources.common import DNS_SUBDOMAIN, ManagedStatus
from ddmsp.resources.kinds import KindInfo
from ddmsp.resources.orgref import OrgReference

ApiKeyPhase = Literal["Pending", "Ready", "Rotating", "Stalled", "Paused", "Error",
                      "Deleting"]

DURATION = r"^([0-9]{1,6}h)?([0-9]{1,7}m)?([0-9]{1,8}s)?$"
_DURATION_RE = re.compile(DURATION)
# The shortest schedule admitted. A minute is far shorter than any real schedule (days), but
# honest: nothing in Datadog or here breaks at that pace (two keys at most exist at once,
# Datadog allows 50 per org), and it lets the integration tests watch a scheduled rotation
# happen instead of trusting a clock stub.
MIN_EVERY_SECONDS = 60
ROTATE_NOW_ANNOTATION = "ddmsp.io/rotate-now"


def parse_duration(text: str) -> int | None:
    """Seconds of a ``720h`` / ``1h30m`` / ``0s`` duration; None when it does not parse."""
    match = _DURATION_RE.match(text or "")
    if not text or match is None:
        return None
    hours, minutes, seconds = (int(g[:-1]) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _cel_ok(field: str) -> str:
    return f"self.{field}.matches(r'{DURATION}') && self.{field} != ''"


_DURATION_HELP = ("a duration in hours, minutes and seconds such as 720h, 90m, 1h30m or "
                  "0s (whole numbers; days are not a unit: 30 days is 720h)")

Duration = Annotated[str, Rule(
    f"self.matches(r'{DURATION}') && self != ''",
    f"must be {_DURATION_HELP}",
    lambda v: parse_duration(v) is not None,
)]


class Rotation(KubeModel):
    """When the key is replaced, and how long the replaced key keeps working."""

    every: Duration | None = Field(
        default=None, max_length=32,
        description="Rotate the key this long after it was created, e.g. `720h` (30 days). "
        "Unset: no scheduled rotation (the annotation ddmsp.io/rotate-now still rotates). "
        "At least 1m.",
    )
    grace_period: Duration = Field(
        default="1h", max_length=32,
        description="After a rotation, the replaced key keeps working this long (both keys "
        "are valid) so that workloads pick up the new one from the Secret; then it is "
        "revoked. `0s` revokes it as soon as the new key is in the Secret (a leaked key). "
        "Must be shorter than spec.rotation.every. Default 1h.",
    )

    model_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            f"!has(self.every) || !({_cel_ok('every')}) || "
            f"duration(self.every) >= duration('{MIN_EVERY_SECONDS}s')",
            "spec.rotation.every must be at least 1m (rotating faster than workloads can "
            "reload the Secret only breaks them); typical values are 720h (30 days) or 2160h",
            lambda r: r.every is None or (parse_duration(r.every) or 0) >= MIN_EVERY_SECONDS
            or parse_duration(r.every) is None,
            ".every",
        ),
        Rule(
            f"!has(self.every) || !({_cel_ok('every')}) || !({_cel_ok('gracePeriod')}) || "
            "duration(self.gracePeriod) < duration(self.every)",
            "spec.rotation.gracePeriod must be shorter than spec.rotation.every: otherwise a "
            "third key would be made while two still work. Shorten gracePeriod (default 1h) "
            "or lengthen every",
            lambda r: r.every is None or parse_duration(r.every) is None
            or parse_duration(r.grace_period) is None
            or (parse_duration(r.grace_period) or 0) < (parse_duration(r.every) or 0),
            ".gracePeriod",
        ),
    )


class KeySecretReference(KubeModel):
    """Where the key goes: a Secret in this object's namespace, and its data keys."""

    name: str = Field(
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN,
        description="Name of the Secret (same namespace). The operator creates it (labelled "
        "as this object's); an existing Secret is written only when its labels name this "
        "DatadogAPIKey (otherwise the object stalls with reason SecretNotOwned).",
    )
    api_key_key: str = Field(
        default="api-key", min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$",
        description="The data key holding the API key (default `api-key`).",
    )
    app_key_key: str = Field(
        default="app-key", min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$",
        description="The data key holding the application key, with spec.applicationKey "
        "(default `app-key`).",
    )

    model_rules: ClassVar[tuple[Rule, ...]] = (
        Rule("self.apiKeyKey != self.appKeyKey",
             "spec.secretRef.apiKeyKey and spec.secretRef.appKeyKey must differ: each key "
             "needs its own data key in the Secret",
             lambda r: r.api_key_key != r.app_key_key),
    )


class ApplicationKeySpec(KubeModel):
    """An application key of a service account of the org, rotated with the API key."""

    service_account_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[-0-9a-zA-Z]+$",
        description="The service account that owns the key (its user ID). Default: the "
        "operator's own service account in the org (status.clientOrg.serviceAccount.id of "
        "the DatadogClientOrg); the object waits (reason ServiceAccountMissing) until it "
        "exists.",
    )
    scopes: list[str] | None = Field(
        default=None, max_length=100,
        description="Permission names the key is limited to, e.g. `dashboards_read`, "
        "`monitors_write` (Datadog's scoped application keys). Unset: the key has all of its "
        "service account's permissions, which for the operator's own account is the Datadog "
        "Admin Role: set scopes.",
        json_schema_extra={"items": {"type": "string", "minLength": 1, "maxLength": 128},
                           "x-kubernetes-list-type": "set"},
    )


class DatadogAPIKeySpec(KubeModel):
    """Desired state of one rotated Datadog API key."""

    org_ref: OrgReference = Field(
        description="The DatadogClientOrg (same namespace) whose org the key belongs to; its "
        "credentials Secret is used to create and revoke keys.",
    )
    key_name: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$",
        description="The key's name in Datadog (default `<namespace>/<name>`). Each key "
        "gets a suffix with its creation time, so the keys of one object are told apart.",
    )
    secret_ref: KeySecretReference = Field(
        description="The Secret the current key is written to. It carries the annotation "
        "ddmsp.io/content-hash (a hash of its data) and ddmsp.io/api-key-id; stakater "
        "Reloader and Argo CD pick up a rotation from it (docs/keys.md).",
    )
    application_key: ApplicationKeySpec | None = Field(
        default=None,
        description="Also keep an application key (owned by a service account of the org) "
        "in the Secret under spec.secretRef.appKeyKey, rotated and revoked together with "
        "the API key.",
    )
    rotation: Rotation = Field(
        default_factory=Rotation,
        description="The rotation schedule and grace period. "
        "`kubectl annotate ddkey NAME ddmsp.io/rotate-now=$(date -u +%FT%TZ)` rotates at "
        "once, whatever the schedule.",
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="Delete (default): deleting this resource revokes its keys in Datadog "
        "(only the key IDs in status) and removes them from the Secret. Orphan: the keys "
        "stay valid and the Secret keeps them.",
    )


class DatadogAPIKeyStatus(ManagedStatus):
    """Observed state; written by the operator only. Never holds a key value."""

    phase: ApiKeyPhase | None = Field(default=None, description="A one-word summary.")
    org: str | None = Field(default=None, description="The DatadogClientOrg name.")
    org_public_id: str | None = Field(default=None, description="That org's public_id.")
    key_id: str | None = Field(
        default=None, description="The ID of the current key (the one in the Secret).")
    key_name: str | None = Field(default=None, description="The current key's name in Datadog.")
    key_created_at: str | None = Field(
        default=None, description="When the current key was created (RFC 3339).")
    previous_key_id: str | None = Field(
        default=None, description="The replaced key, still valid until previousRevokeAt.")
    previous_revoke_at: str | None = Field(
        default=None, description="When the replaced key is revoked (RFC 3339).")
    app_key_id: str | None = Field(
        default=None, description="The ID of the current application key (with "
        "spec.applicationKey).")
    previous_app_key_id: str | None = Field(
        default=None, description="The replaced application key, valid until "
        "previousRevokeAt.")
    service_account_id: str | None = Field(
        default=None, description="The service account owning the application keys.")
    last_rotation: str | None = Field(
        default=None, description="When the key was last replaced (RFC 3339).")
    next_rotation: str | None = Field(
        default=None, description="When the next scheduled rotation is due (RFC 3339); "
        "unset without spec.rotation.every.")
    rotate_now_handled: str | None = Field(
        default=None, description="The value of the ddmsp.io/rotate-now annotation last "
        "acted on: a new value rotates once.")
    secret: str | None = Field(default=None, description="The Secret holding the key.")
    rotating: list[str] | None = Field(
        default=None, description="The keys (`api-key`, `app-key`) a rotation in progress "
        "still has to make; a rotation interrupted by a crash is finished from here.")


API_KEY = KindInfo(
    kind="DatadogAPIKey",
    plural="datadogapikeys",
    short_names=("ddkey",),
    spec_model=DatadogAPIKeySpec,
    status_model=DatadogAPIKeyStatus,
    description="A Datadog API key of a client org, written to a Secret and rotated on a "
    "schedule (or on demand) with a grace period during which the old and new keys both "
    "work. Status names key IDs, never a key value.",
    printer_columns=(
        {"name": "Org", "type": "string", "jsonPath": ".status.org"},
        {"name": "Key ID", "type": "string", "jsonPath": ".status.keyId"},
        {"name": "Next rotation", "type": "string", "jsonPath": ".status.nextRotation"},
    ),
)
