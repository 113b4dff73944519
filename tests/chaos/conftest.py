"""The chaos suite uses the integration fixtures (CRDs, simulator, partner Secret, operator)."""

from tests.integration.conftest import crds, operator, partner_secret, sim

__all__ = ["crds", "operator", "partner_secret", "sim"]
