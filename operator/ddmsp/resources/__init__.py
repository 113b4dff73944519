"""The CRD kinds: pydantic models of each spec and status, and their kind facts."""

from ddmsp.resources.clientorg import CLIENT_ORG
from ddmsp.resources.kinds import KindInfo

ALL_KINDS: tuple[KindInfo, ...] = (CLIENT_ORG,)

__all__ = ["ALL_KINDS", "CLIENT_ORG", "KindInfo"]
