"""What an object claims in Datadog, as a key for the engine and in words for people.

A connector's ``claims(obj)`` returns strings that two objects claiming the same Datadog
thing share (``role/orgRef:ns/acme/sre``): exact, case-folded keys, good for an index and
meaningless to a user. A ``Claim`` is such a key that also carries a description
(``role "SRE" in the org of DatadogClientOrg ns/acme``), which conflict messages show.
Plain strings still work: ``describe`` reads the key format the connectors share.
A claim may also carry its own way out (``fix``), for the conflict message.

Claims follow the spec and, where a kind says so (``claim_status_keys`` on its
connector), parts of the status: an org a DatadogClientOrg created is known only once its
status records it (reconcile/handlers.py re-reads claims when those parts change).
"""

from __future__ import annotations


class Claim(str):
    """A claim key (compared, hashed and indexed as the plain string) with its words."""

    what: str
    fix: str

    def __new__(cls, key: str, what: str, fix: str = "") -> Claim:
        claim = super().__new__(cls, key)
        claim.what = what
        claim.fix = fix
        return claim

    def __reduce__(self) -> tuple[type[Claim], tuple[str, str, str]]:
        return (Claim, (str(self), self.what, self.fix))


_THINGS = {"role": "role", "user": "user", "saml": "the SAML configuration"}


def org_words(org: str) -> str:
    """An org identity (``orgRef:ns/name[/parent]`` or ``secret:ns/name``) in words."""
    kind, _, ref = org.partition(":")
    if kind == "orgRef":
        if ref.endswith("/parent"):
            return f"the parent org of DatadogClientOrg {ref.removesuffix('/parent')}"
        return f"the org of DatadogClientOrg {ref}"
    if kind == "secret":
        return f"the org whose keys are in Secret {ref}"
    return org


def fix_for(claim: str) -> str:
    """What the younger of two claimants can do, in words: the claim's own advice, else
    the general one."""
    fix = getattr(claim, "fix", None)
    if isinstance(fix, str) and fix:
        return fix
    return "Delete one of the two, or point this one elsewhere"


def describe(claim: str) -> str:
    """A claim in words: its own description, else read from the shared key format
    ``<thing>/<org identity>[/<name>]``; an unknown format is shown as it is."""
    what = getattr(claim, "what", None)
    if isinstance(what, str) and what:
        return what
    thing, _, rest = claim.partition("/")
    if thing not in _THINGS or ":" not in rest:
        return claim
    kind, _, ref = rest.partition(":")
    parts = ref.split("/")
    org_len = 3 if kind == "orgRef" and len(parts) > 2 and parts[2] == "parent" else 2
    org = f"{kind}:{'/'.join(parts[:org_len])}"
    name = "/".join(parts[org_len:])
    label = _THINGS[thing]
    if not name:
        return f"{label} of {org_words(org)}"
    return f"{label} {name!r} in {org_words(org)}"
