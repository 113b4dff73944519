"""Keys refused by Datadog are found and named, not discovered by failing writes.

Why: an application key stops working when its owner is disabled or it is revoked, and an
API key when it is revoked; without this, the first sign is a pile of unrelated failures.
Every pass that uses an org's keys reports the verdict in a ``KeysInvalid`` condition
naming the key (kind, Secret and data key, key ID: never the value) with the recovery
steps, and in the ``ddmsp_keys_invalid`` gauge the chart alerts on.

Which key: Datadog answers 403 for a bad API key and for a bad application key alike.
``GET /api/v1/validate`` checks the API key alone (Datadog's v1 spec: "Check if the API key
(not the APP key) is valid"), so a refused pass asks it: a refused API key is named as
such, otherwise the application key is the one refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from ddmsp import metrics
from ddmsp.controllers.datadog_access import API_KEY, APP_KEY
from ddmsp.datadog import DatadogClient, DatadogError
from ddmsp.reconcile import conditions as cond
from ddmsp.reconcile.managed import ManagedObject
from ddmsp.reconcile.outcomes import Waiting

KEYS_INVALID = "KeysInvalid"


@dataclass(frozen=True)
class KeyInUse:
    """Where the keys of one org live and what is known about them (IDs, never values)."""

    secret: str  # the Secret's name, in the object's namespace
    app_key_id: str | None = None
    app_key_owner: str | None = None  # "service account <id>", "the bootstrap user", ...


def keys_valid(obj: ManagedObject) -> None:
    """Record that this pass's keys were accepted."""
    cond.set_condition(obj.conditions, KEYS_INVALID, False, "KeysAccepted",
                       "Datadog accepted the keys this object uses", obj.generation)
    for key in ("api", "application"):
        metrics.KEYS_INVALID.labels(obj.info.kind, obj.namespace, obj.name, key).set(0)


async def keys_refused(obj: ManagedObject, dd: DatadogClient, used: KeyInUse,
                       exc: DatadogError, poll: float) -> Waiting:
    """Name the refused key in ``KeysInvalid`` and the metrics; the Waiting to raise."""
    try:
        api_ok = await dd.validate()
    except DatadogError:
        api_ok = True  # could not tell: the application key is the likelier one
    ns, kind = obj.namespace, obj.info.kind
    where = f"Secret {ns}/{used.secret}"
    if not api_ok:
        reason, key = "APIKeyRefused", "api"
        what = f"the API key in {where} (data key `{API_KEY}`)"
        fix = (f"create an API key in the org (Organization Settings > API Keys) and put it "
               f"in {where} under `{API_KEY}`")
    else:
        reason, key = "ApplicationKeyRefused", "application"
        ident = f"ID {used.app_key_id}" if used.app_key_id else "ID not recorded"
        owner = f", owned by {used.app_key_owner}" if used.app_key_owner else ""
        what = f"the application key in {where} (data key `{APP_KEY}`, {ident}{owner})"
        fix = (f"create an application key for the operator's service account in the org "
               f"(Organization Settings > Service Accounts), put it in {where} under "
               f"`{APP_KEY}` (and its ID under `app-key-id`); docs/credentials.md, Recovery")
    message = (f"Datadog refused {what} with {exc.status} at "
               f"{exc.route or exc.path or 'Datadog'}: it was revoked, or its owner was "
               f"disabled. To recover, {fix}; the operator retries by itself every "
               f"{poll:.0f}s")
    cond.set_condition(obj.conditions, KEYS_INVALID, True, reason, message, obj.generation)
    metrics.KEYS_INVALID.labels(kind, ns, obj.name, key).set(1)
    other = "application" if key == "api" else "api"
    metrics.KEYS_INVALID.labels(kind, ns, obj.name, other).set(0)
    metrics.KEY_VALIDATION_FAILURES.labels(kind, key).inc()
    return Waiting(KEYS_INVALID, message, delay=poll)
