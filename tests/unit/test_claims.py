"""Conflict messages name claims in words a user knows (issue 19), keys stay exact."""

from __future__ import annotations

import pickle

from ddmsp.reconcile.claims import Claim, describe, org_words


def test_a_claim_is_its_key_for_the_index_and_words_for_people() -> None:
    claim = Claim("role/orgRef:ns/acme/sre", "the role named 'SRE' in the org of X")
    assert claim == "role/orgRef:ns/acme/sre" and hash(claim) == hash("role/orgRef:ns/acme/sre")
    assert {claim: 1}["role/orgRef:ns/acme/sre"] == 1
    assert describe(claim) == "the role named 'SRE' in the org of X"
    again = pickle.loads(pickle.dumps(claim))
    assert again == claim and describe(again) == claim.what


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
