"""IdP metadata checks: defusedxml only, BOM refused, malformed and hostile XML refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddmsp.simulator.idp import parse_idp_metadata
from ddmsp.simulator.state import SimError

VALID = (
    Path(__file__).resolve().parents[1] / "contract" / "data" / "idp_metadata.xml"
).read_bytes()


def test_valid_metadata_is_parsed() -> None:
    meta = parse_idp_metadata(VALID)
    assert meta.entity_id == "https://idp.example.com/metadata"
    assert meta.sso_url == "https://idp.example.com/sso/redirect"
    assert len(meta.sha256) == 64


def test_recorded_metadata_from_the_cassette_is_accepted() -> None:
    import yaml

    cassette = Path(
        "/work/shared/datadog-api/cassettes/upload_idp_metadata_returns_ok_response.yaml"
    )
    if not cassette.exists():
        pytest.skip("reference data not present")
    body = yaml.safe_load(cassette.read_text())["interactions"][0]["request"]["body"]
    xml = body.split("\r\n\r\n", 1)[1].rsplit("\r\n--", 1)[0].encode()
    assert parse_idp_metadata(xml).entity_id == "http://localhost:8088/idp.xml"


@pytest.mark.parametrize(
    "payload",
    [
        b"\xef\xbb\xbf" + VALID,
        b"",
        b"   ",
        b"<md:EntityDescriptor",
        b"<x/>",
        b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        b"<!ENTITY lol2 '&lol;&lol;&lol;'>]><lolz>&lol2;</lolz>",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]><x>&xxe;</x>",
        b"<!DOCTYPE x SYSTEM 'http://example.com/x.dtd'><x/>",
        VALID.replace(b'entityID="https://idp.example.com/metadata"', b""),
        VALID.replace(b"SingleSignOnService", b"ArtifactResolutionService"),
        "<?xml version='1.0' encoding='utf-16'?><x/>".encode("utf-16"),
    ],
)
def test_bad_metadata_is_a_400(payload: bytes) -> None:
    with pytest.raises(SimError) as err:
        parse_idp_metadata(payload)
    assert err.value.status == 400
    assert err.value.message.startswith("Invalid IdP metadata file")
