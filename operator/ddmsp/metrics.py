"""Prometheus metrics of the operator: what it did, how long it took, where objects stand."""

from __future__ import annotations

import contextlib
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

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

DISPATCHER_RESTARTS = Counter(
    "ddmsp_dispatcher_restarts_total",
    "Restarts of a kind's work-queue dispatcher after it crashed (the kind is not "
    "reconciled, and /readyz fails, until it is back)",
    ["plural"],
)

# Keys (controllers/keycheck.py): a key refused by Datadog is found by the pass that uses
# it, named in the KeysInvalid condition, and counted here; the chart alerts on the gauge.
KEYS_INVALID = Gauge(
    "ddmsp_keys_invalid",
    "Keys of an object that Datadog refused at its last pass (1 per refused key), by key "
    "kind (api, application)",
    ["kind", "namespace", "name", "key"],
)
KEY_VALIDATION_FAILURES = Counter(
    "ddmsp_key_validation_failures_total",
    "Passes that found a key refused by Datadog, by object kind and key kind",
    ["kind", "key"],
)
# When each rotated key is next due (a timestamp, so that "seconds to the next rotation" is
# `ddmsp_key_next_rotation_timestamp_seconds - time()` at any moment, not at the last pass):
# DatadogAPIKey keys and the operator's own service-account key of each DatadogClientOrg.
# No series for a key without a schedule. The chart alerts when one is overdue.
KEY_NEXT_ROTATION = Gauge(
    "ddmsp_key_next_rotation_timestamp_seconds",
    "When the key's next scheduled rotation is due (Unix time), by object and key kind "
    "(api, application); absent for a key rotated only on demand",
    ["kind", "namespace", "name", "key"],
)


def set_next_rotation(kind: str, namespace: str, name: str, key: str,
                      when: datetime | None) -> None:
    """Set the series, or drop it when the key has no schedule (any more)."""
    if when is not None:
        KEY_NEXT_ROTATION.labels(kind, namespace, name, key).set(when.timestamp())
        return
    with contextlib.suppress(KeyError):
        KEY_NEXT_ROTATION.remove(kind, namespace, name, key)


# Cost, usage and budgets (written by controllers/costrefresh.py; the chart's Grafana
# dashboard and budget alerts are built on these).
CLIENT_LABELS = ["namespace", "name", "org_public_id", "client"]

CLIENT_ESTIMATED = Gauge(
    "ddmsp_client_estimated_cost_usd",
    "Estimated month-to-date Datadog cost of a client org (partner's cost view)",
    CLIENT_LABELS,
)
CLIENT_PROJECTED = Gauge(
    "ddmsp_client_projected_cost_usd",
    "Projected month-end Datadog cost of a client org", CLIENT_LABELS,
)
CLIENT_LAST_MONTH = Gauge(
    "ddmsp_client_last_month_cost_usd",
    "Last month's historical Datadog cost of a client org", CLIENT_LABELS,
)
CLIENT_BUDGET = Gauge(
    "ddmsp_client_budget_usd", "The client's monthly budget (spec.budget.monthlyLimit)",
    CLIENT_LABELS,
)
CLIENT_BUDGET_RATIO = Gauge(
    "ddmsp_client_budget_ratio",
    "Cost as a fraction of the client's monthly budget, by basis (estimated, projected)",
    [*CLIENT_LABELS, "basis"],
)
CLIENT_PRODUCT = Gauge(
    "ddmsp_client_product_cost_usd",
    "Estimated month-to-date cost of a client org's top products", [*CLIENT_LABELS, "product"],
)
PARTNER_ESTIMATED = Gauge(
    "ddmsp_partner_estimated_cost_usd",
    "Estimated month-to-date cost over all of a partner's customer orgs", ["partner"],
)
PARTNER_PROJECTED = Gauge(
    "ddmsp_partner_projected_cost_usd",
    "Projected month-end cost over all of a partner's customer orgs", ["partner"],
)
PARTNER_REFRESHED = Gauge(
    "ddmsp_cost_refresh_timestamp_seconds",
    "Unix time of the last successful cost read for a partner (stale-data alerts)",
    ["partner"],
)
PARTNER_CALLS = Gauge(
    "ddmsp_cost_refresh_api_calls",
    "Datadog API calls the last cost refresh of a partner made", ["partner"],
)


def forget(kind: str, namespace: str, name: str) -> None:
    """Drop every series of a deleted object, so dashboards do not show ghosts.

    Any gauge with ``namespace`` and ``name`` labels (and ``kind``, when it has one) is
    per-object; new per-object gauges are covered without being listed here.
    """
    from prometheus_client import REGISTRY

    for collector in list(REGISTRY._collector_to_names):  # no public API for this
        if not isinstance(collector, Gauge):
            continue
        labels = tuple(getattr(collector, "_labelnames", ()))
        if "namespace" not in labels or "name" not in labels:
            continue
        for values in list(getattr(collector, "_metrics", {})):
            series = dict(zip(labels, values, strict=True))
            if series["namespace"] == namespace and series["name"] == name and \
                    series.get("kind", kind) == kind:
                collector.remove(*values)
