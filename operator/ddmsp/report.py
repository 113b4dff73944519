"""`ddmsp report`: one table of every client org's cost, read from the cluster only.

It needs kubectl-level read access to DatadogClientOrgs and no Datadog keys: the operator
already wrote each client's cost, usage and budget into its status.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable
from typing import Any, cast

from ddmsp.cli_errors import describe

COLUMNS = ("namespace", "client", "display_name", "mode", "phase", "org_id", "estimated",
           "projected", "last_month", "budget_percent", "top_product", "cost_read_at")
HEADERS = {"namespace": "NAMESPACE", "client": "CLIENT", "display_name": "DISPLAY NAME",
           "mode": "MODE", "phase": "PHASE", "org_id": "ORG ID", "estimated": "ESTIMATED",
           "projected": "PROJECTED", "last_month": "LAST MONTH", "budget_percent": "BUDGET %",
           "top_product": "TOP PRODUCT", "cost_read_at": "COST READ AT"}
NUMERIC = {"estimated", "projected", "last_month", "budget_percent"}
TABLE_COLUMNS = tuple(c for c in COLUMNS if c not in ("display_name", "cost_read_at"))


def row_of(body: dict[str, Any]) -> dict[str, Any]:
    """One report row from a DatadogClientOrg object."""
    meta, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
    cost = status.get("cost") or {}
    budget = status.get("budget") or {}
    top = (cost.get("topProducts") or [{}])[0]
    # the figure `kubectl get -o wide` shows too (status.budget.percent); older statuses
    # without it: the same rule, projected if known, else estimated
    percent = budget.get("percent") or budget.get("projectedPercent") \
        or budget.get("estimatedPercent")
    return {
        "namespace": meta.get("namespace", ""),
        "client": meta["name"],
        "display_name": spec.get("displayName", ""),
        "mode": spec.get("provisioning", "ChildOrg"),
        "phase": status.get("phase", ""),
        "org_id": (status.get("clientOrg") or {}).get("publicId", ""),
        "estimated": _num(cost.get("estimatedTotal")),
        "projected": _num(cost.get("projectedTotal")),
        "last_month": _num(cost.get("lastMonthTotal")),
        "budget_percent": _num(percent),
        "top_product": top.get("product", ""),
        "cost_read_at": cost.get("estimatedAt", ""),
    }


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Sort by a column; rows without a value go last whatever the direction."""
    present = [r for r in rows if r.get(key) not in (None, "")]
    missing = [r for r in rows if r.get(key) in (None, "")]
    present.sort(key=lambda r: (r[key], r["namespace"], r["client"]), reverse=descending)
    return present + sorted(missing, key=lambda r: (r["namespace"], r["client"]))


def _text(value: Any, column: str) -> str:
    if value is None:
        return ""
    if column in NUMERIC:
        return f"{value:.1f}" if column == "budget_percent" else f"{value:.2f}"
    return str(value)


def render(rows: list[dict[str, Any]], output: str) -> str:
    if output == "json":
        return json.dumps({"clients": rows, "totals": totals(rows)}, indent=2) + "\n"
    if output == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([_text(r[c], c) for c in COLUMNS])
        return buf.getvalue()
    table = [[HEADERS[c] for c in TABLE_COLUMNS]]
    table += [[_text(r[c], c) for c in TABLE_COLUMNS] for r in rows]
    sums = totals(rows)
    table.append(["", "TOTAL", "", "", "", _text(sums["estimated"], "estimated"),
                  _text(sums["projected"], "projected"), _text(sums["last_month"], "last_month"),
                  "", ""])
    widths = [max(len(line[i]) for line in table) for i in range(len(TABLE_COLUMNS))]
    return "".join("   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                   .rstrip() + "\n" for line in table)


def totals(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {c: round(sum(r[c] or 0.0 for r in rows), 2)
            for c in ("estimated", "projected", "last_month")}


def list_client_orgs(kubeconfig: str | None, namespaces: list[str]) -> list[dict[str, Any]]:
    from kubernetes import client, config

    from ddmsp.resources import CLIENT_ORG

    try:
        api = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        api = client.ApiClient()
    custom = client.CustomObjectsApi(api)
    info = CLIENT_ORG
    if not namespaces:
        found = custom.list_cluster_custom_object(info.group, info.version, info.plural)
        return list(cast(dict[str, Any], found).get("items") or [])
    items: list[dict[str, Any]] = []
    for ns in namespaces:
        found = custom.list_namespaced_custom_object(info.group, info.version, ns, info.plural)
        items += cast(dict[str, Any], found).get("items") or []
    return items


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", "-n", action="append", dest="namespaces", default=[],
                        help="only this namespace (repeatable); default: all namespaces")
    parser.add_argument("--output", "-o", choices=("table", "json", "csv"), default="table")
    parser.add_argument("--sort-by", choices=COLUMNS, default="estimated",
                        help="column to sort by (default: estimated)")
    parser.add_argument("--ascending", action="store_true",
                        help="sort ascending (numbers sort descending by default)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")


def main(args: argparse.Namespace,
         lister: Callable[[str | None, list[str]], list[dict[str, Any]]] = list_client_orgs
         ) -> int:
    try:
        bodies = lister(args.kubeconfig, list(args.namespaces or []))
    except Exception as exc:  # one line, not a trace: this is a user command
        namespaces = list(args.namespaces or [])
        print("ddmsp report: " + describe(exc, "list", "datadogclientorgs.ddmsp.io",
                                          ",".join(namespaces) or None), file=sys.stderr)
        return 2
    rows = [row_of(b) for b in bodies]
    descending = args.sort_by in NUMERIC and not args.ascending
    sys.stdout.write(render(sort_rows(rows, args.sort_by, descending), args.output))
    return 0
