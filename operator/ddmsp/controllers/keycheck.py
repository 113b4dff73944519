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

The kinds that act in an org through its keys (roles, users, SAML, connections, API keys:
``DatadogConnector.explain``) also get 403 for a missing permission, which is no refused key.
So ``explain_refusal`` asks one more thing first: ``GET /api/v2/current_user`` reads the
caller's own user, which any accepted key pair may (the simulator names no permission for
it, ``simulator/permissions.py``); refused there, the application key is refused; accepted,
the 403 was a missing permission and the shared translation names it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ddmsp import metrics
from ddmsp.controllers.datadog_access import API_KEY, APP_KEY
from ddmsp.controllers.serviceaccount import APP_KEY_ID_KEY, BOOTSTRAP_ID_KEY, SA_ID_KEY
from ddmsp.datadog import AuthenticationError, DatadogClient, DatadogError
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


def key_in_use(secret: str, data: dict[str, str] | None) -> KeyInUse:
    """What an org's credentials Secret records about its application key (IDs only)."""
    data = data or {}
    if data.get(APP_KEY_ID_KEY):
        owner = f"service account {data[SA_ID_KEY]}" if data.get(SA_ID_KEY) else None
        return KeyInUse(secret, data[APP_KEY_ID_KEY], owner)
    if data.get(BOOTSTRAP_ID_KEY):
        return KeyInUse(secret, data[BOOTSTRAP_ID_KEY],
                        "the person whose keys created the org (bootstrap key)")
    return KeyInUse(secret)


async def _api_key_accepted(dd: DatadogClient) -> bool:
    try:
        return await dd.validate()
    except DatadogError:
        return True  # could not tell: the application key is the likelier one


async def keys_refused(obj: ManagedObject, dd: DatadogClient, used: KeyInUse,
                       exc: DatadogError, poll: float) -> Waiting:
    """Name the refused key in ``KeysInvalid`` and the metrics; the Waiting to raise."""
    api_ok = await _api_key_accepted(dd)
    return refused(obj, used, exc, poll, "application" if api_ok else "api")


async def explain_refusal(obj: ManagedObject, dd: DatadogClient, used: KeyInUse,
                          exc: DatadogError, poll: float) -> Waiting | None:
    """A 401/403 of a kind acting in an org: the refused key named as ``keys_refused``
    does, or None when both keys are accepted (a missing permission) or it cannot tell."""
    if not await _api_key_accepted(dd):
        return refused(obj, used, exc, poll, "api")
    try:
        await dd.current_org_v2_id()
    except AuthenticationError:
        return refused(obj, used, exc, poll, "application")
    except DatadogError:
        return None  # could not tell: the shared translation stands
    return None


def refused(obj: ManagedObject, used: KeyInUse, exc: DatadogError, poll: float,
            key: str) -> Waiting:
    """``KeysInvalid`` naming the refused ``key`` ("api" or "application"), the metrics,
    and the Waiting to raise."""
    ns, kind = obj.namespace, obj.info.kind
    where = f"Secret {ns}/{used.secret}"
    if key == "api":
        reason = "APIKeyRefused"
        what = f"the API key in {where} (data key `{API_KEY}`)"
        fix = (f"create an API key in the org (Organization Settings > API Keys) and put it "
               f"in {where} under `{API_KEY}`")
    else:
        reason = "ApplicationKeyRefused"
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
