"""Prometheus metrics of the operator: what it did, how long it took, where objects stand."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "ddmsp_reconciles_total",
    "Reconcile passes by kind and outcome (ready, waiting, stalled, error, paused, drifted)",
    ["kind", "outcome"],
)
RECONCILE_SECONDS = Histogram(
    "ddmsp_reconcile_duration_seconds", "Duration of one reconcile pass", ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
READY = Gauge(
    "ddmsp_object_ready",
    "1 when the object's Ready condition is True, else 0",
    ["kind", "namespace", "name"],
)

RATE_LIMIT_WAITS = Counter(
    "ddmsp_datadog_rate_limit_waits_total",
    "Datadog calls that waited for a rate-limit window (before sending, or after a 429)",
    ["limit"],
)


def start_metrics_server(port: int) -> None:
    start_http_server(port)
