"""Cost gauges per client org and per partner (defined in ddmsp.metrics): their lifecycle.

Series of a client are removed when its object goes (a delete handler) or is no longer
listed at a refresh, so dashboards never show clients that are gone.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ddmsp.metrics import (
    CLIENT_BUDGET,
    CLIENT_BUDGET_RATIO,
    CLIENT_ESTIMATED,
    CLIENT_LAST_MONTH,
    CLIENT_PRODUCT,
    CLIENT_PROJECTED,
    PARTNER_CALLS,
    PARTNER_ESTIMATED,
    PARTNER_PROJECTED,
    PARTNER_REFRESHED,
)

EXPORTED = (CLIENT_ESTIMATED, CLIENT_PROJECTED, CLIENT_LAST_MONTH, CLIENT_BUDGET,
            CLIENT_BUDGET_RATIO, CLIENT_PRODUCT, PARTNER_ESTIMATED, PARTNER_PROJECTED,
            PARTNER_REFRESHED, PARTNER_CALLS)
"""Every gauge of this module (the dashboard test checks queries against these names)."""

_CLIENT_GAUGES = (CLIENT_ESTIMATED, CLIENT_PROJECTED, CLIENT_LAST_MONTH, CLIENT_BUDGET)


class ClientSeries:
    """Remembers the label values each client was exported with, to remove them later."""

    def __init__(self) -> None:
        self._labels: dict[tuple[str, str], tuple[str, ...]] = {}
        self._products: dict[tuple[str, str], set[str]] = {}

    def set(self, namespace: str, name: str, public_id: str, client: str,
            cost: dict[str, Any] | None, budget: float | None,
            ratios: dict[str, float]) -> None:
        key = (namespace, name)
        labels = (namespace, name, public_id, client)
        if self._labels.get(key) not in (None, labels):
            self.remove(namespace, name)
        self._labels[key] = labels
        values = {
            CLIENT_ESTIMATED: (cost or {}).get("estimatedTotal"),
            CLIENT_PROJECTED: (cost or {}).get("projectedTotal"),
            CLIENT_LAST_MONTH: (cost or {}).get("lastMonthTotal"),
            CLIENT_BUDGET: budget,
        }
        for gauge, value in values.items():
            if value is None:
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
            else:
                gauge.labels(*labels).set(float(value))
        for basis in ("estimated", "projected"):
            if basis in ratios:
                CLIENT_BUDGET_RATIO.labels(*labels, basis).set(ratios[basis])
            else:
                with contextlib.suppress(KeyError):
                    CLIENT_BUDGET_RATIO.remove(*labels, basis)
        products = {p["product"]: float(p["cost"]) for p in (cost or {}).get("topProducts") or []}
        for gone in self._products.get(key, set()) - set(products):
            with contextlib.suppress(KeyError):
                CLIENT_PRODUCT.remove(*labels, gone)
        for product, value in products.items():
            CLIENT_PRODUCT.labels(*labels, product).set(value)
        self._products[key] = set(products)

    def remove(self, namespace: str, name: str) -> None:
        labels = self._labels.pop((namespace, name), None)
        if labels is None:
            return
        for gauge in _CLIENT_GAUGES:
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)
        for basis in ("estimated", "projected"):
            with contextlib.suppress(KeyError):
                CLIENT_BUDGET_RATIO.remove(*labels, basis)
        for product in self._products.pop((namespace, name), set()):
            with contextlib.suppress(KeyError):
                CLIENT_PRODUCT.remove(*labels, product)

    def known(self) -> list[tuple[str, str]]:
        return list(self._labels)
