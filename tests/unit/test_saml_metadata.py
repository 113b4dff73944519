"""IdP metadata parsing: facts, BOM, malformed and hostile documents."""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from ddmsp.saml import metadata as md
from tests.support.metadata_corpus import Doc, corpus
from tests.support.samlmeta import BILLION_LAUGHS, BOM, MALFORMED, XXE, metadata


def test_facts_from_valid_metadata() -> None:
    doc = metadata("https://idp.example.com/e1", "https://idp.example.com/sso", days_valid=90)
    facts = md.parse(doc)
    assert facts.entity_id == "https://idp.example.com/e1"
    assert facts.sso_url == "https://idp.example.com/sso"  # the HTTP-Redirect binding wins
    assert facts.sha256 == hashlib.sha256(doc.encode()).hexdigest()
    assert not facts.bom_stripped
    (cert,) = facts.certificates
    assert "CN=idp.example.com" in cert.subject
    expected = datetime.now(UTC) + timedelta(days=90)
    assert abs((cert.not_after - expected).total_seconds()) < 120
    assert facts.earliest_expiry == cert.not_after


def test_bom_is_stripped_and_hash_is_of_the_uploaded_bytes() -> None:
    doc = metadata().encode()
    facts = md.parse(BOM + doc)
    assert facts.bom_stripped
    assert facts.content == doc
    assert facts.sha256 == md.parse(doc).sha256


def test_bom_in_a_decoded_string_is_stripped() -> None:
    facts = md.parse("\ufeff" + metadata())
    assert facts.bom_stripped and not facts.content.startswith(BOM)


@pytest.mark.parametrize("doc,needle", [
    (MALFORMED, "malformed XML"),
    ("", "empty"),
    ("<root/>", "not a SAML 2.0"),
    ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>',
     "no identity provider"),
    ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
     "<md:IDPSSODescriptor/></md:EntityDescriptor>", "no entityID"),
    ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">'
     "<md:IDPSSODescriptor/></md:EntityDescriptor>", "SingleSignOnService"),
])
def test_unusable_metadata_says_why(doc: str, needle: str) -> None:
    with pytest.raises(md.MetadataError) as err:
        md.parse(doc)
    assert err.value.reason == "InvalidMetadata"
    assert needle in err.value.message


def test_malformed_reports_position() -> None:
    with pytest.raises(md.MetadataError) as err:
        md.parse(MALFORMED)
    assert "line" in err.value.message


def test_undecodable_certificate() -> None:
    doc = metadata().replace("<ds:X509Certificate>", "<ds:X509Certificate>!!notbase64")
    with pytest.raises(md.MetadataError, match="certificate"):
        md.parse(doc)


def test_utf16_is_refused() -> None:
    with pytest.raises(md.MetadataError, match="UTF-16"):
        md.parse(b"\xff\xfe" + metadata().encode("utf-16-le"))


def test_too_large() -> None:
    with pytest.raises(md.MetadataError, match="larger"):
        md.parse(b"<x>" + b" " * (md.MAX_METADATA_BYTES + 1) + b"</x>")


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE])
def test_entity_payloads_are_refused_fast_and_small(doc: str) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(md.MetadataError) as err:
        md.parse(doc)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert err.value.reason == "UnsafeMetadata"
    assert "DTD" in err.value.message
    assert elapsed < 0.5
    assert peak < 2 * 1024 * 1024
    assert "passwd" not in err.value.message


def test_entities_descriptor_picks_the_idp() -> None:
    inner = metadata("https://idp.example.com/inner").split("?>", 1)[1]
    doc = ('<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
           '<md:EntityDescriptor entityID="sp"><md:SPSSODescriptor/></md:EntityDescriptor>'
           f"{inner}</md:EntitiesDescriptor>")
    assert md.parse(doc).entity_id == "https://idp.example.com/inner"


@pytest.mark.parametrize("doc", corpus(), ids=lambda d: d.name)
def test_corpus_verdicts(doc: Doc) -> None:
    """The shared corpus (tests/support/metadata_corpus.py), also run on the simulator's
    independent parser: usable documents parse; the others fail with a reason."""
    if doc.usable:
        facts = md.parse(doc.data)
        assert facts.certificates, "a usable document has a signing certificate"
        assert not facts.content.startswith(BOM)
        return
    with pytest.raises(md.MetadataError) as err:
        md.parse(doc.data)
    assert err.value.reason == ("UnsafeMetadata" if doc.unsafe else "InvalidMetadata")


def test_no_signing_certificate_says_what_to_do() -> None:
    doc = metadata().replace('use="signing"', 'use="encryption"')
    with pytest.raises(md.MetadataError) as err:
        md.parse(doc)
    assert err.value.reason == "InvalidMetadata"
    assert "no signing certificate" in err.value.message
    assert "export the metadata again" in err.value.message
