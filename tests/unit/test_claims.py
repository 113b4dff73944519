"""Conflict messages name claims in words a user knows (issue 19), keys stay exact."""

from __future__ import annotations

import pickle
from typing import Any, cast

import pytest

from ddmsp.reconcile.claims import Claim, describe, fix_for, org_words


def test_a_claim_is_its_key_for_the_index_and_words_for_people() -> None:
    claim = Claim("role/orgRef:ns/acme/sre", "the role named 'SRE' in the org of X")
    assert claim == "role/orgRef:ns/acme/sre" and hash(claim) == hash("role/orgRef:ns/acme/sre")
    assert {claim: 1}["role/orgRef:ns/acme/sre"] == 1
    assert describe(claim) == "the role named 'SRE' in the org of X"
    again = pickle.loads(pickle.dumps(claim))
    assert again == claim and describe(again) == claim.what
    assert fix_for(claim) == "Delete one of the two, or point this one elsewhere"
    advised = pickle.loads(pickle.dumps(Claim("org c1", "Datadog org c1", "Delete that one")))
    assert fix_for(advised) == "Delete that one" and describe(advised) == "Datadog org c1"


def test_plain_keys_are_read_from_the_shared_format() -> None:
    assert describe("saml/orgRef:ns/acme") == \
        "the SAML configuration of the org of DatadogClientOrg ns/acme"
    assert describe("saml/orgRef:ns/acme/parent") == \
        "the SAML configuration of the parent org of DatadogClientOrg ns/acme"
    assert describe("saml/secret:ns/keys") == \
        "the SAML configuration of the org whose keys are in Secret ns/keys"
    assert describe("user/orgRef:ns/acme/a@b.example") == \
        "user 'a@b.example' in the org of DatadogClientOrg ns/acme"
    assert describe("Secret ns/acme-datadog-credentials") == "Secret ns/acme-datadog-credentials"
    assert org_words("elsewhere") == "elsewhere"


def test_role_and_user_claims_carry_words() -> None:
    from ddmsp.controllers.role import RoleConnector
    from ddmsp.controllers.user import UserConnector
    from ddmsp.reconcile.managed import ManagedObject
    from ddmsp.resources import ROLE, USER

    roles = RoleConnector.__new__(RoleConnector)  # claims() needs no settings or clients
    users = UserConnector.__new__(UserConnector)
    body = {"metadata": {"name": "sre", "namespace": "ns", "uid": "u", "generation": 1},
            "spec": {"orgRef": {"name": "acme"}, "roleName": "SRE",
                     "adopt": {"roleId": "abc-1"}}}
    claims = roles.claims(ManagedObject.from_body(ROLE, body))
    assert claims == ["role/orgRef:ns/acme/sre", "role/orgRef:ns/acme/id:abc-1"]
    assert [describe(c) for c in claims] == [
        "the role named 'SRE' in the org of DatadogClientOrg ns/acme",
        "the role with ID abc-1 in the org of DatadogClientOrg ns/acme"]
    body = {"metadata": {"name": "ann", "namespace": "ns", "uid": "v", "generation": 1},
            "spec": {"credentialsSecretRef": {"name": "keys"}, "email": "Ann@X.example"}}
    (claim,) = users.claims(ManagedObject.from_body(USER, body))
    assert claim == "user/secret:ns/keys/ann@x.example"
    assert describe(claim) == "the user ann@x.example in the org whose keys are in Secret ns/keys"


def _client_org(name: str, created: str, status: dict[str, Any] | None = None,
                **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                         "generation": 1, "creationTimestamp": created},
            "spec": {"displayName": f"Org {name}", **spec}, "status": status or {}}


def _client_org_connector() -> Any:
    from ddmsp.controllers.clientorg import ClientOrgConnector

    return ClientOrgConnector.__new__(ClientOrgConnector)  # claims() needs nothing else


def test_a_created_org_is_claimed_once_its_status_records_it() -> None:
    from ddmsp.reconcile.managed import ManagedObject
    from ddmsp.resources import CLIENT_ORG

    connector = _client_org_connector()
    fresh = connector.claims(ManagedObject.from_body(CLIENT_ORG, _client_org("a", "t1")))
    assert fresh == ["Secret ns/a-datadog-credentials"]  # no org known yet
    made = _client_org("a", "t1", {"clientOrg": {"publicId": "c1"},
                                   "parentOrg": {"publicId": "p1"}}, provisioning="SpinOff")
    claims = connector.claims(ManagedObject.from_body(CLIENT_ORG, made))
    assert claims == ["Secret ns/a-datadog-credentials",
                      "Secret ns/a-datadog-credentials-parent", "org c1", "org p1"]
    assert describe(claims[2]) == "Datadog org c1"
    adopted = _client_org("b", "t2", {"clientOrg": {"publicId": "c1", "adopted": True}},
                          adopt={"publicId": "c1", "credentialsSecretRef": {"name": "k"}})
    # and the Secret its service account's key goes to (controllers/adoptedkeys.py)
    assert connector.claims(ManagedObject.from_body(CLIENT_ORG, adopted)) == \
        ["org c1", "Secret ns/b-datadog-credentials"]
    adopted["spec"]["managementPolicy"] = "ObserveOnly"  # writes nothing: may watch it
    assert connector.claims(ManagedObject.from_body(CLIENT_ORG, adopted)) == []


class Woken:
    """Stands in for a kind's work queue: records the keys put on it."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []

    def add(self, key: tuple[str, str], delay: float = 0.0) -> None:
        self.keys.append(key)


def test_the_younger_of_two_client_orgs_over_one_org_waits_naming_the_older() -> None:
    """The claims index re-reads a DatadogClientOrg's claims when its status records an org
    (they are not parsed once per generation only), and the conflict is said in words."""
    from ddmsp.reconcile.engine import Reconciler
    from ddmsp.reconcile.handlers import Runtime
    from ddmsp.reconcile.managed import ManagedObject
    from ddmsp.reconcile.outcomes import Waiting
    from ddmsp.resources import CLIENT_ORG

    reconciler = Reconciler(CLIENT_ORG, _client_org_connector(), cast(Any, None))
    runtime = Runtime(worker_limit=1)
    runtime.reconcilers[CLIENT_ORG.plural] = reconciler
    reconciler.runtime = runtime
    older, plural = _client_org("a", "2026-01-01T00:00:00Z"), CLIENT_ORG.plural
    younger = _client_org("b", "2026-01-01T00:00:05Z",
                          adopt={"publicId": "c1", "credentialsSecretRef": {"name": "k"}})
    runtime.index(plural, older)
    runtime.index(plural, younger)
    assert [h.name for h in runtime.holders(plural, "org c1")] == ["b"]  # not known yet
    reconciler._check_claims(ManagedObject.from_body(CLIENT_ORG, younger))  # no conflict

    woken = Woken()
    runtime.queues[plural] = cast(Any, woken)
    older["status"] = {"clientOrg": {"publicId": "c1"}}  # same generation: a status write
    runtime.index(plural, older)
    assert [h.name for h in runtime.holders(plural, "org c1")] == ["a", "b"]
    assert woken.keys == [("ns", "b")]  # the younger one re-checks at once
    with pytest.raises(Waiting) as waited:
        reconciler._check_claims(ManagedObject.from_body(CLIENT_ORG, younger))
    message = waited.value.message
    assert waited.value.reason == "Conflict"
    assert message.startswith("DatadogClientOrg ns/a already manages Datadog org c1 (it is "
                              "older)")
    assert "delete the older one" in message and "point this one elsewhere" not in message
    reconciler._check_claims(ManagedObject.from_body(CLIENT_ORG, older))  # the owner acts

    runtime.unindex(plural, older)  # the older one deleted: the younger one takes over
    reconciler._check_claims(ManagedObject.from_body(CLIENT_ORG, younger))
