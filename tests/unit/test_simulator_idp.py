"""The simulator's IdP metadata rules (its own SAX reading, not the operator's parser).

Both parsers are judged on one corpus (tests/support/metadata_corpus.py); the simulator
additionally refuses a BOM, as Datadog's API does, where the operator strips it first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ddmsp.saml import metadata as operator_md
from ddmsp.simulator.idp import parse_idp_metadata
from ddmsp.simulator.state import SimError
from tests.support.metadata_corpus import Doc, corpus, recorded_upload

VALID = (
    Path(__file__).resolve().parents[1] / "contract" / "data" / "idp_metadata.xml"
).read_bytes()
BOM = b"\xef\xbb\xbf"
# An IDPSSODescriptor that is not a direct child of its entity does not count.
NESTED_IDP = VALID.replace(b"<md:IDPSSODescriptor", b"<md:Extensions><md:IDPSSODescriptor").replace(
    b"</md:IDPSSODescriptor>", b"</md:IDPSSODescriptor></md:Extensions>")


def test_valid_metadata_is_parsed() -> None:
    meta = parse_idp_metadata(VALID)
    assert meta.entity_id == "https://idp.example.com/metadata"
    assert meta.sso_url == "https://idp.example.com/sso/redirect"  # HTTP-Redirect wins
    assert len(meta.sha256) == 64


def test_recorded_metadata_from_the_cassette_is_accepted() -> None:
    """The document Datadog answered 200 to (vendored in tests/contract/reference)."""
    meta = parse_idp_metadata(recorded_upload())
    assert meta.entity_id == "http://localhost:8088/idp.xml"
    assert meta.sso_url == "http://localhost:8088/sso/redirect"


@pytest.mark.parametrize("doc", corpus(), ids=lambda d: d.name)
def test_corpus_verdicts(doc: Doc) -> None:
    raw_usable = doc.usable and not doc.data.startswith(BOM)
    if raw_usable:
        assert parse_idp_metadata(doc.data).entity_id
    else:
        with pytest.raises(SimError) as err:
            parse_idp_metadata(doc.data)
        assert err.value.status == 400
        assert err.value.message.startswith("Invalid IdP metadata file")


@pytest.mark.parametrize("doc", corpus(), ids=lambda d: d.name)
def test_operator_and_simulator_agree(doc: Doc) -> None:
    """What the operator would upload (BOM stripped) the simulator accepts, with the same
    entityID and SSO URL; what the operator refuses the simulator refuses too."""
    try:
        facts = operator_md.parse(doc.data)
    except operator_md.MetadataError:
        with pytest.raises(SimError):
            parse_idp_metadata(operator_md.clean(doc.data)[0])
        return
    meta = parse_idp_metadata(facts.content)
    assert (meta.entity_id, meta.sso_url) == (facts.entity_id, facts.sso_url)
    assert meta.sha256 == facts.sha256


@pytest.mark.parametrize("mark", [BOM, b"\xff\xfe", b"\xfe\xff"])
def test_a_byte_order_mark_is_refused(mark: bytes) -> None:
    """DESIGN.md: Datadog's API rejects the BOM that Azure AD metadata carries."""
    with pytest.raises(SimError, match="byte order mark"):
        parse_idp_metadata(mark + VALID)


def test_no_signing_certificate_is_named() -> None:
    with pytest.raises(SimError, match="no signing certificate"):
        parse_idp_metadata(VALID.replace(b'use="signing"', b'use="encryption"'))


@pytest.mark.parametrize(
    "payload",
    [
        b"   ",
        b"<md:EntityDescriptor",
        b"<x/>",
        b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        b"<!ENTITY lol2 '&lol;&lol;&lol;'>]><lolz>&lol2;</lolz>",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]><x>&xxe;</x>",
        VALID.replace(b'entityID="https://idp.example.com/metadata"', b""),
        VALID.replace(b"SingleSignOnService", b"ArtifactResolutionService"),
        NESTED_IDP,
    ],
)
def test_bad_metadata_is_a_400(payload: bytes) -> None:
    with pytest.raises(SimError) as err:
        parse_idp_metadata(payload)
    assert err.value.status == 400
    assert err.value.message.startswith("Invalid IdP metadata file")
