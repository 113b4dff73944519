"""The CRD kinds: pydantic models of each spec and status, and their kind facts."""

from ddmsp.resources.apikey import API_KEY
from ddmsp.resources.clientorg import CLIENT_ORG
from ddmsp.resources.kinds import KindInfo
from ddmsp.resources.orgconnection import ORG_CONNECTION
from ddmsp.resources.partner import PARTNER
from ddmsp.resources.role import ROLE
from ddmsp.resources.samlconfig import SAML_CONFIG
from ddmsp.resources.user import USER

ALL_KINDS: tuple[KindInfo, ...] = (CLIENT_ORG, ROLE, SAML_CONFIG, PARTNER, USER, API_KEY,
                                   ORG_CONNECTION)

__all__ = ["ALL_KINDS", "API_KEY", "CLIENT_ORG", "ORG_CONNECTION", "PARTNER", "ROLE",
           "SAML_CONFIG", "USER", "KindInfo"]
