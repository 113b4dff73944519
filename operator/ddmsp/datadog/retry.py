"""Which calls may be retried, and how long to wait between attempts.

Rules:
- 429 means "not executed": any call waits for the reset and goes again.
- 5xx and lost responses are retried only for idempotent calls (GET, PUT, PATCH,
  DELETE, and POSTs declared idempotent such as granting a permission).
- A connection that was never established sent nothing: any call may go again,
  except the routes in NEVER_RETRY.
- `POST /api/v1/org` (create a child org) is NEVER retried automatically: a duplicate
  org, or keys shown once and lost, is the worst failure this product has.
"""

from __future__ import annotations

import contextvars
import random
from dataclasses import dataclass

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})

# Routes never sent twice by the client, whatever happens (429 aside).
NEVER_RETRY = frozenset({"POST /api/v1/org"})

# POSTs whose repetition has the same effect as one call.
IDEMPOTENT_POSTS = frozenset(
    {
        "POST /api/v2/roles/{role_id}/permissions",  # grant: a set union
        "POST /api/v1/org/{public_id}/idp_metadata",  # replaces the metadata
        "POST /api/v2/saml_configurations/idp_metadata",  # replaces the metadata
        "POST /api/v2/roles/{role_id}/users",  # role membership: a set union
        "POST /api/v2/users",  # a repeat answers 409 for the email, which is adopted
    }
)

# Calls that are not repeated blindly, but whose effect the next observe of the object
# sees: a lost answer (OutcomeUnknownError) there is a wait, settled by the next pass,
# not a stall for a human. The next pass either finds the result or asks again:
# - an authn mapping create: the SAML config's observe lists the org's mappings, and
#   plans a create only for a mapping that is missing;
# - a spin-off: the request time is recorded before the call; asked again, Datadog either
#   spins the org off or refuses, and a refusal is resolved by the org's own answer
#   (controllers/clientorg.py ``_spin_off``).
# Never the org create (POST /api/v1/org): its lost answer stays CreationResultUnknown.
SETTLED_BY_OBSERVE = frozenset(
    {
        "POST /api/v2/authn_mappings",
        "POST /api/v1/org/{public_id}/downgrade",
    }
)


def route_key(method: str, template: str) -> str:
    return f"{method.upper()} {template}"


def is_idempotent(route: str) -> bool:
    """Whether a route (`"METHOD /path/{template}"`) may be repeated safely."""
    if route in NEVER_RETRY:
        return False
    method = route.split(" ", 1)[0]
    return method in IDEMPOTENT_METHODS or route in IDEMPOTENT_POSTS


@dataclass(frozen=True)
class RetryPolicy:
    """Retry budget and backoff shape.

    max_attempts: attempts for 5xx / transport failures of retryable calls (1 = no retry).
    backoff_base, backoff_max: exponential backoff with equal jitter, seconds.
    max_rate_limit_waits: 429 answers waited out per call before raising RateLimitedError.
    max_rate_limit_wait: the longest single wait for a reset inside a call; a longer one
      raises RateLimitedError at once. Short on purpose: a call waits while holding one
      of the operator's shared workers, and a reset can be a minute away; the engine
      requeues the object at the reset instead (one org's limit must not starve the
      other orgs' passes). Sub-second waits (a window about to roll over) stay inside.
    """

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    max_rate_limit_waits: int = 3
    max_rate_limit_wait: float = 2.0
    default_rate_limit_wait: float = 1.0

    def rate_limit_patience(self) -> float:
        """The longest reset waited out inside a call, for the calling task."""
        override = RATE_LIMIT_PATIENCE.get()
        return self.max_rate_limit_wait if override is None else override

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1-based), in [ceiling/2, ceiling]."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** max(0, attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)

    def can_retry(self, attempt: int) -> bool:
        return attempt < self.max_attempts


NO_RETRY = RetryPolicy(max_attempts=1, max_rate_limit_waits=0)


# A background loop that holds no reconcile worker (the cost refresher) may wait longer for
# a reset than a reconcile pass: it sets this for its own task (contextvars are per task).
RATE_LIMIT_PATIENCE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "ddmsp_rate_limit_patience", default=None)
