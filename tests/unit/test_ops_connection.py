"""controllers/opsconnection.py: which owned-object specs count as changed, and its name."""

from __future__ import annotations

from ddmsp.controllers.opsconnection import differs, owned_by
from ddmsp.resources.opsconnection import ops_connection_name

WANT = {"sourceOrgRef": {"name": "acme"}, "sinkPartner": True,
        "connectionTypes": ["logs", "metrics"], "deletionPolicy": "Delete",
        "managementPolicy": "Full"}


def test_the_same_spec_in_another_type_order_or_with_adopt_is_not_rewritten() -> None:
    have = {**WANT, "connectionTypes": ["metrics", "logs"],
            "adopt": {"connectionId": "c0ffee00-1d2e-4c3b-8a9f-0123456789ab"}}
    assert not differs(have, WANT)


def test_changed_types_policy_or_an_extra_sink_is_rewritten() -> None:
    assert differs({**WANT, "connectionTypes": ["metrics"]}, WANT)
    assert differs({**WANT, "deletionPolicy": "Orphan"}, WANT)
    assert differs({**WANT, "sinkOrgRef": {"name": "beta"}}, WANT)
    assert differs({k: v for k, v in WANT.items() if k != "sinkPartner"}, WANT)


def test_ownership_is_by_uid_not_by_name() -> None:
    body = {"metadata": {"ownerReferences": [{"kind": "DatadogClientOrg", "name": "acme",
                                              "uid": "u1"}]}}
    assert owned_by(body, "u1") and not owned_by(body, "u2") and not owned_by({}, "u1")


def test_name_stays_a_valid_dns_subdomain_for_the_longest_client_names() -> None:
    assert ops_connection_name("acme") == "acme-ops-connection"
    long = ops_connection_name("a" * 250 + "-b")
    assert len(long) <= 253 and long.endswith("-ops-connection") and "--" not in long
