"""The chaos suite uses the integration fixtures (CRDs, simulator, partner Secret)."""

from tests.integration.conftest import crds, partner_secret, sim

__all__ = ["crds", "partner_secret", "sim"]
