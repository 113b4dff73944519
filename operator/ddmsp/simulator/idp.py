"""IdP metadata checks, as Datadog applies them to uploaded SAML metadata.

This is deliberately an independent reading of the rules, not a copy of the operator's
parser (``ddmsp.saml.metadata``, which builds an ElementTree and queries it): here a SAX
handler walks the document as a stream of (namespace, local name) events, so a mistake in
the operator's parsing cannot hide behind the same mistake in the simulator.

The rules, and where each comes from:

- A UTF-8 (or UTF-16) byte order mark is refused: Datadog's API rejects the BOM that Azure
  AD metadata exports carry (DESIGN.md, "IdP metadata"). The operator must strip it.
- The XML is untrusted: DTDs, entity declarations and external references are refused
  (defusedxml), as any SAML metadata consumer should (OASIS saml-metadata-2.0-os needs none).
- The document is SAML 2.0 metadata: its root is ``md:EntityDescriptor`` or
  ``md:EntitiesDescriptor`` (namespace ``urn:oasis:names:tc:SAML:2.0:metadata``,
  saml-metadata-2.0-os section 2.3), with an ``entityID`` on the entity.
- It describes an identity provider: an ``md:IDPSSODescriptor`` (section 2.4.3) with at
  least one ``md:SingleSignOnService`` carrying a ``Location``.
- It carries the IdP's signing certificate: a ``md:KeyDescriptor`` of that
  IDPSSODescriptor whose ``use`` is ``signing`` or absent (section 2.4.1.1: absent means
  the key serves both uses) holding ``ds:KeyInfo/ds:X509Data/ds:X509Certificate`` with a
  base64 DER X.509 certificate. Datadog verifies the IdP's signed SAML responses with it;
  the metadata Datadog's own API test suite uploads (recorded exchange
  ``upload_idp_metadata_returns_ok_response`` in tests/contract/reference, answered 200)
  has one. Where Datadog's documentation is silent (an encryption-only key), the stricter
  reading is taken: no signing certificate, no upload.
- An expired certificate is accepted: that same recorded upload's signing certificate
  expired in 2010 and Datadog answered 200.
- A refusal is a 400 with the API's error body shape ``{"errors": [...]}`` (Datadog's API
  reference, "Upload IdP metadata": Bad Request, "A list of errors").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from dataclasses import dataclass, field
from xml.sax import InputSource, SAXException
from xml.sax.handler import ContentHandler, feature_namespaces
from xml.sax.xmlreader import AttributesNSImpl

from cryptography import x509
from defusedxml import sax as safe_sax
from defusedxml.common import DefusedXmlException

from ddmsp.simulator.store import SimError, now_iso

SAML_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"
MAX_METADATA_BYTES = 1024 * 1024
_BYTE_ORDER_MARKS = {
    b"\xef\xbb\xbf": "UTF-8",
    b"\xff\xfe": "UTF-16 (little-endian)",
    b"\xfe\xff": "UTF-16 (big-endian)",
}
_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
# The path from a KeyDescriptor down to the certificate text (local names, xmldsig namespace).
_CERT_PATH = ((XMLDSIG, "KeyInfo"), (XMLDSIG, "X509Data"), (XMLDSIG, "X509Certificate"))


@dataclass
class IdpMetadata:
    """What the simulator keeps of an uploaded IdP metadata file."""

    sha256: str
    entity_id: str
    sso_url: str | None
    uploaded_at: str


@dataclass
class _Idp:
    """One IDPSSODescriptor as the stream showed it."""

    services: list[tuple[str, str]] = field(default_factory=list)  # (binding, location)
    signing_certs: list[str] = field(default_factory=list)  # base64 text as written


@dataclass
class _Entity:
    entity_id: str
    idps: list[_Idp] = field(default_factory=list)


class _Walker(ContentHandler):
    """Collects entities, their IdP descriptors, SSO services and signing certificates."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str | None, str]] = []
        self.root: tuple[str | None, str] | None = None
        self.entities: list[_Entity] = []
        self._idp: _Idp | None = None  # the open IDPSSODescriptor of an entity
        self._idp_depth = -1  # its index in the stack
        self._key_is_signing = False
        self._key_depth = -1  # index of the open KeyDescriptor's first child, -1 when none
        self._cert_text: list[str] | None = None

    def _inside(self, ns: str, local: str) -> bool:
        return bool(self.stack) and self.stack[-1] == (ns, local)

    def _in_idp(self) -> bool:
        """True for a direct child of an entity's IDPSSODescriptor."""
        return self._idp is not None and len(self.stack) == self._idp_depth + 1

    def startElementNS(self, name: tuple[str | None, str], qname: str | None,
                       attrs: AttributesNSImpl) -> None:
        ns, local = name
        if self.root is None:
            self.root = name
        if name == (SAML_MD, "EntityDescriptor"):
            self.entities.append(_Entity(entity_id=attrs.get((None, "entityID"), "")))
        elif name == (SAML_MD, "IDPSSODescriptor") and self._inside(SAML_MD, "EntityDescriptor"):
            self._idp, self._idp_depth = _Idp(), len(self.stack)
            self.entities[-1].idps.append(self._idp)
        elif self._in_idp():
            idp = self._idp
            assert idp is not None
            if name == (SAML_MD, "SingleSignOnService"):
                location = attrs.get((None, "Location"), "").strip()
                if location:
                    idp.services.append((attrs.get((None, "Binding"), ""), location))
            elif name == (SAML_MD, "KeyDescriptor"):
                self._key_depth = len(self.stack) + 1
                self._key_is_signing = attrs.get((None, "use"), "signing") == "signing"
        below_key = (*self.stack[self._key_depth:], (ns, local))
        if self._key_depth > 0 and self._key_is_signing and below_key == _CERT_PATH:
            self._cert_text = []
        self.stack.append(name)

    def characters(self, content: str) -> None:
        if self._cert_text is not None:
            self._cert_text.append(content)

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:
        if self._cert_text is not None and name == (XMLDSIG, "X509Certificate"):
            assert self._idp is not None
            self._idp.signing_certs.append("".join(self._cert_text))
            self._cert_text = None
        self.stack.pop()
        if len(self.stack) + 1 == self._key_depth:
            self._key_depth = -1
        if len(self.stack) == self._idp_depth:
            self._idp, self._idp_depth = None, -1


def _invalid(reason: str) -> SimError:
    return SimError(400, f"Invalid IdP metadata file: {reason}")


def _walk(data: bytes) -> _Walker:
    """Stream the document through the walker with namespaces on and DTDs refused."""
    walker = _Walker()
    parser = safe_sax.make_parser()
    parser.setFeature(feature_namespaces, True)
    parser.setContentHandler(walker)
    parser.forbid_dtd = True
    parser.forbid_entities = True
    parser.forbid_external = True
    source = InputSource()
    source.setByteStream(io.BytesIO(data))
    try:
        parser.parse(source)
    except DefusedXmlException as exc:
        raise _invalid(f"forbidden XML construct ({type(exc).__name__})") from None
    except (SAXException, ValueError, LookupError, UnicodeError, RecursionError):
        raise _invalid("malformed XML") from None
    return walker


def _is_certificate(text: str) -> bool:
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        return False
    return True


def parse_idp_metadata(data: bytes) -> IdpMetadata:
    """Validate SAML IdP metadata and extract what the org settings show; 400 otherwise."""
    if not data or not data.strip():
        raise _invalid("file is empty")
    if len(data) > MAX_METADATA_BYTES:
        raise _invalid("file is too large")
    for mark, encoding in _BYTE_ORDER_MARKS.items():
        if data.startswith(mark):
            raise _invalid(f"file starts with a {encoding} byte order mark (BOM); save it "
                           "as UTF-8 without BOM")
    walker = _walk(data)
    if walker.root not in ((SAML_MD, "EntityDescriptor"), (SAML_MD, "EntitiesDescriptor")):
        raise _invalid("root element must be a SAML 2.0 md:EntityDescriptor")
    candidates = [e for e in walker.entities if e.idps]
    if not candidates:
        raise _invalid("no IDPSSODescriptor")
    entity = candidates[0]
    if not entity.entity_id.strip():
        raise _invalid("EntityDescriptor has no entityID")
    services = [s for idp in entity.idps for s in idp.services]
    if not services:
        raise _invalid("no SingleSignOnService with a Location")
    certs = [c for idp in entity.idps for c in idp.signing_certs]
    if not certs:
        raise _invalid("no signing certificate (md:KeyDescriptor use=\"signing\" with a "
                       "ds:X509Certificate) in the IDPSSODescriptor")
    if not all(_is_certificate(c) for c in certs):
        raise _invalid("a signing certificate is not a base64 DER X.509 certificate")
    redirect = [loc for binding, loc in services if binding == _REDIRECT]
    return IdpMetadata(
        sha256=hashlib.sha256(data).hexdigest(),
        entity_id=entity.entity_id,
        sso_url=(redirect or [services[0][1]])[0],
        uploaded_at=now_iso(),
    )
