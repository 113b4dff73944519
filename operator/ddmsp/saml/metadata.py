"""Parse untrusted SAML IdP metadata: defusedxml only, BOM stripped, facts extracted.

Customers export metadata from their IdP (Azure AD files start with a UTF-8 BOM, which
Datadog rejects). The XML is untrusted: any DTD is refused before the parser expands a
single entity, so billion-laughs and external-entity (XXE) payloads fail fast without
memory growth and without touching the network or the filesystem.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

from cryptography import x509
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException, DTDForbidden, EntitiesForbidden

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
MAX_METADATA_BYTES = 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_PREFERRED_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


class MetadataError(ValueError):
    """The metadata cannot be used; ``reason`` is a CamelCase word, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Certificate:
    subject: str
    not_after: datetime


@dataclass(frozen=True)
class IdpMetadata:
    """What the operator uploads (``content``) and reports about the IdP."""

    content: bytes
    sha256: str
    entity_id: str
    sso_url: str
    certificates: tuple[Certificate, ...] = field(default=())
    bom_stripped: bool = False

    @property
    def earliest_expiry(self) -> datetime | None:
        return min((c.not_after for c in self.certificates), default=None)


def _invalid(message: str) -> MetadataError:
    return MetadataError("InvalidMetadata", f"IdP metadata is not usable: {message}")


def clean(data: bytes | str) -> tuple[bytes, bool]:
    """The bytes to upload (UTF-8, BOM removed) and whether a BOM was removed."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if raw.startswith(UTF8_BOM):
        return raw[len(UTF8_BOM):], True
    if isinstance(data, str) and data.startswith("\ufeff"):
        return data[1:].encode("utf-8"), True
    return raw, False


def parse(data: bytes | str) -> IdpMetadata:
    """Validate IdP metadata and extract its facts; raises ``MetadataError``."""
    content, stripped = clean(data)
    if not content.strip():
        raise _invalid("it is empty")
    if len(content) > MAX_METADATA_BYTES:
        raise _invalid(f"it is larger than {MAX_METADATA_BYTES // 1024} KiB")
    if content.startswith(_UTF16_BOMS):
        raise _invalid("it is UTF-16 encoded; export it as UTF-8")
    try:
        root = SafeET.fromstring(
            content, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (DTDForbidden, EntitiesForbidden):
        raise MetadataError(
            "UnsafeMetadata",
            "IdP metadata refused: it contains a DTD or entity declarations (as in "
            "entity-expansion or external-entity attacks); SAML metadata never needs them. "
            "Export the metadata from the IdP again",
        ) from None
    except DefusedXmlException as exc:
        raise MetadataError(
            "UnsafeMetadata", f"IdP metadata refused: forbidden XML construct "
            f"({type(exc).__name__})",
        ) from None
    except (ParseError, ValueError, LookupError, UnicodeError, RecursionError) as exc:
        where = ""
        position = getattr(exc, "position", None)
        if position:
            where = f" at line {position[0]}, column {position[1]}"
        raise _invalid(f"malformed XML{where}") from None
    entity = _entity(root)
    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id:
        raise _invalid("the EntityDescriptor has no entityID")
    idp = entity.find(f"{{{MD_NS}}}IDPSSODescriptor")
    if idp is None:
        raise _invalid("it describes no identity provider (no IDPSSODescriptor)")
    services = [s for s in idp.findall(f"{{{MD_NS}}}SingleSignOnService") if s.get("Location")]
    if not services:
        raise _invalid("the IDPSSODescriptor has no SingleSignOnService with a Location")
    preferred = [s for s in services if s.get("Binding") == _PREFERRED_BINDING]
    sso_url = str((preferred or services)[0].get("Location")).strip()
    certificates = tuple(_signing_certificates(idp))
    if not certificates:
        # Datadog verifies the IdP's signed SAML responses with this certificate; without
        # it no login can ever succeed (an encryption-only key does not count).
        raise _invalid("the IDPSSODescriptor has no signing certificate (an "
                       'md:KeyDescriptor use="signing", or without use, holding a '
                       "ds:X509Certificate); export the metadata again with the IdP's "
                       "signing certificate")
    return IdpMetadata(
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        entity_id=entity_id,
        sso_url=sso_url,
        certificates=certificates,
        bom_stripped=stripped,
    )


def _entity(root: Element) -> Element:
    if root.tag == f"{{{MD_NS}}}EntityDescriptor":
        return root
    if root.tag == f"{{{MD_NS}}}EntitiesDescriptor":
        for child in root.iter(f"{{{MD_NS}}}EntityDescriptor"):
            if child.find(f"{{{MD_NS}}}IDPSSODescriptor") is not None:
                return child
        raise _invalid("the EntitiesDescriptor holds no identity provider")
    raise _invalid("the root element is not a SAML 2.0 md:EntityDescriptor")


def _signing_certificates(idp: Element) -> list[Certificate]:
    out: list[Certificate] = []
    for key in idp.findall(f"{{{MD_NS}}}KeyDescriptor"):
        if key.get("use") not in (None, "signing"):
            continue
        for node in key.iter(f"{{{DS_NS}}}X509Certificate"):
            text = "".join((node.text or "").split())
            try:
                cert = x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
            except (binascii.Error, ValueError):
                raise _invalid("a signing certificate (ds:X509Certificate) cannot be "
                               "decoded") from None
            out.append(Certificate(subject=cert.subject.rfc4514_string(),
                                   not_after=cert.not_valid_after_utc))
    return out


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
