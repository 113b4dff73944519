"""IdP metadata checks, as Datadog applies them to uploaded SAML metadata.

Why: the operator uploads metadata exported by customers' IdPs (Azure AD files carry a UTF-8
BOM, which Datadog rejects). The file is untrusted XML, so only defusedxml parses it, with
DTDs, entity declarations and external references refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from ddmsp.simulator.store import SimError, now_iso

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
MAX_METADATA_BYTES = 1024 * 1024
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_PREFERRED_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


@dataclass
class IdpMetadata:
    """What the simulator keeps of an uploaded IdP metadata file."""

    sha256: str
    entity_id: str
    sso_url: str | None
    uploaded_at: str


def _invalid(reason: str) -> SimError:
    return SimError(400, f"Invalid IdP metadata file: {reason}")


def _find_entity(root: Element) -> Element:
    if root.tag == f"{{{MD_NS}}}EntityDescriptor":
        return root
    if root.tag == f"{{{MD_NS}}}EntitiesDescriptor":
        for child in root.iter(f"{{{MD_NS}}}EntityDescriptor"):
            if child.find(f"{{{MD_NS}}}IDPSSODescriptor") is not None:
                return child
    raise _invalid("root element must be a SAML 2.0 md:EntityDescriptor")


def parse_idp_metadata(data: bytes) -> IdpMetadata:
    """Validate SAML IdP metadata and extract what the org settings show."""
    if not data or not data.strip():
        raise _invalid("file is empty")
    if len(data) > MAX_METADATA_BYTES:
        raise _invalid("file is too large")
    if data.startswith(_BOMS):
        raise _invalid("file starts with a byte order mark (BOM); save it as UTF-8 without BOM")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise _invalid(f"forbidden XML construct ({type(exc).__name__})") from None
    except (ParseError, ValueError, LookupError, UnicodeError, RecursionError):
        raise _invalid("malformed XML") from None
    entity = _find_entity(root)
    entity_id = entity.get("entityID")
    if not entity_id:
        raise _invalid("EntityDescriptor has no entityID")
    idp = entity.find(f"{{{MD_NS}}}IDPSSODescriptor")
    if idp is None:
        raise _invalid("no IDPSSODescriptor")
    services = [s for s in idp.findall(f"{{{MD_NS}}}SingleSignOnService") if s.get("Location")]
    if not services:
        raise _invalid("no SingleSignOnService with a Location")
    preferred = [s for s in services if s.get("Binding") == _PREFERRED_BINDING]
    sso_url = (preferred or services)[0].get("Location")
    return IdpMetadata(
        sha256=hashlib.sha256(data).hexdigest(),
        entity_id=entity_id,
        sso_url=sso_url,
        uploaded_at=now_iso(),
    )
