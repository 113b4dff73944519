"""Prometheus metrics of the operator (reconciles by kind and outcome, phases)."""

from __future__ import annotations

from prometheus_client import Counter, start_http_server

RECONCILES = Counter(
    "ddmsp_reconciles_total", "Reconcile passes by kind and outcome", ["kind", "outcome"]
)


def start_metrics_server(port: int) -> None:
    start_http_server(port)
