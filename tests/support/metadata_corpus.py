"""One corpus of IdP metadata documents that both parsers (operator and simulator) are judged on.

Each entry: a name, the document bytes, and whether it is usable once a UTF-8 BOM is
stripped (the operator strips it; the simulator, like Datadog's API, refuses it raw).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.samlmeta import BILLION_LAUGHS, BOM, MALFORMED, XXE, certificate_b64, metadata

CASSETTE = (Path(__file__).resolve().parents[1] / "contract" / "reference" / "datadog-api"
            / "cassettes" / "upload_idp_metadata_returns_ok_response.yaml")
MD = 'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
DS = 'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


@dataclass(frozen=True)
class Doc:
    name: str
    data: bytes
    usable: bool  # after BOM removal
    unsafe: bool = False  # refused as hostile XML (operator reason UnsafeMetadata)


def recorded_upload() -> bytes:
    """The metadata Datadog's API test suite uploaded and Datadog accepted (200)."""
    body = yaml.safe_load(CASSETTE.read_text())["interactions"][0]["request"]["body"]
    return str(body).split("\r\n\r\n", 1)[1].rsplit("\r\n--", 1)[0].encode()


def _key(use: str | None, cert: str) -> str:
    attr = f' use="{use}"' if use else ""
    return (f"<md:KeyDescriptor{attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}"
            "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>")


def _idp(keys: str, sso: str = f'<md:SingleSignOnService Binding="{REDIRECT}" '
                               'Location="https://idp.example.com/sso"/>',
         root: str = "md:EntityDescriptor", extra: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><{root} {MD} {DS} '
            f'entityID="https://idp.example.com/e"><md:IDPSSODescriptor '
            f'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}{sso}'
            f"</md:IDPSSODescriptor>{extra}</{root}>").encode()


def corpus() -> list[Doc]:
    cert = certificate_b64()
    expired = certificate_b64(days_valid=-30, cn="expired.example.com")
    valid = metadata().encode()
    return [
        Doc("valid", valid, usable=True),
        Doc("recorded-upload", recorded_upload(), usable=True),
        Doc("use-absent-means-both", _idp(_key(None, cert)), usable=True),
        Doc("expired-certificate", _idp(_key("signing", expired)), usable=True),
        Doc("no-signing-certificate", _idp(""), usable=False),
        Doc("only-encryption-certificate", _idp(_key("encryption", cert)), usable=False),
        Doc("signing-key-without-certificate",
            _idp('<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:KeyName>k</ds:KeyName>'
                 "</ds:KeyInfo></md:KeyDescriptor>"), usable=False),
        Doc("certificate-not-base64", _idp(_key("signing", "not*base64")), usable=False),
        Doc("certificate-base64-not-der", _idp(_key("signing", "aGVsbG8=")), usable=False),
        Doc("signing-certificate-of-another-role-only",
            _idp("", extra='<md:AttributeAuthorityDescriptor protocolSupportEnumeration='
                 '"urn:oasis:names:tc:SAML:2.0:protocol">' + _key("signing", cert)
                 + "</md:AttributeAuthorityDescriptor>"), usable=False),
        Doc("no-sso-service", _idp(_key("signing", cert), sso=""), usable=False),
        Doc("bom", BOM + valid, usable=True),
        Doc("bom-without-signing-certificate", BOM + _idp(""), usable=False),
        Doc("billion-laughs", BILLION_LAUGHS.encode(), usable=False, unsafe=True),
        Doc("external-entity", XXE.encode(), usable=False, unsafe=True),
        Doc("external-dtd", b'<!DOCTYPE x SYSTEM "http://example.com/x.dtd"><x/>',
            usable=False, unsafe=True),
        Doc("wrong-root", b"<root/>", usable=False),
        Doc("wrong-namespace", valid.replace(b"urn:oasis:names:tc:SAML:2.0:metadata",
                                             b"urn:example:not-saml"), usable=False),
        Doc("sp-metadata", valid.replace(b"IDPSSODescriptor", b"SPSSODescriptor"),
            usable=False),
        Doc("malformed", MALFORMED.encode(), usable=False),
        Doc("empty", b"", usable=False),
        Doc("utf-16", '<?xml version="1.0" encoding="utf-16"?><x/>'.encode("utf-16"),
            usable=False),
    ]
