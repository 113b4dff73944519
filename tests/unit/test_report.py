"""`ddmsp report` renders what the cluster holds: three formats, sorting, totals.

The lister (the one call to the Kubernetes API) is replaced by a list of objects: the
faked function is named so in the tests that use it."""

from __future__ import annotations

import argparse
import csv
import io
import json
from typing import Any

import pytest

from ddmsp.__main__ import main as cli_main
from ddmsp.report import add_arguments, main


def client_org(ns: str, name: str, est: str | None, proj: str | None = None,
               budget: str | None = None, top: str = "infra_host") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Ready", "clientOrg": {"publicId": f"id-{name}"}}
    if est is not None:
        status["cost"] = {"month": "2026-11", "estimatedTotal": est, "estimatedAt": "t",
                          "topProducts": [{"product": top, "cost": "1.00"}],
                          **({"projectedTotal": proj} if proj else {}), "updatedAt": "t"}
    if budget:
        status["budget"] = {"month": "2026-11", "projectedPercent": budget}
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"displayName": name.title(), "provisioning": "ChildOrg"}, "status": status}


OBJECTS = [client_org("a", "acme", "120.50", "300.00", "75.0"),
           client_org("b", "globex", "990.10", "1500.00", "150.0", top="apm_host"),
           client_org("a", "new", None)]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args(list(argv)), lister=lambda *_: OBJECTS) == 0  # faked lister
    return capsys.readouterr().out


def test_table_sorted_by_estimate_with_totals_faked_lister(capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    out = run(capsys).splitlines()
    assert out[0].split()[:4] == ["NAMESPACE", "CLIENT", "MODE", "PHASE"]
    assert [line.split()[1] for line in out[1:4]] == ["globex", "acme", "new"]
    assert "1110.60" in out[-1] and "1800.00" in out[-1] and "TOTAL" in out[-1]


def test_json_and_csv_carry_every_column_faked_lister(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    data = json.loads(run(capsys, "-o", "json", "--sort-by", "client", "--ascending"))
    assert [r["client"] for r in data["clients"]] == ["acme", "globex", "new"]
    assert data["clients"][1]["top_product"] == "apm_host"
    assert data["clients"][0]["budget_percent"] == 75.0
    assert data["totals"]["projected"] == 1800.0
    rows = list(csv.DictReader(io.StringIO(run(capsys, "-o", "csv", "--sort-by", "projected"))))
    assert [r["client"] for r in rows] == ["globex", "acme", "new"]
    assert rows[0]["org_id"] == "id-globex" and rows[2]["estimated"] == ""


def test_unreadable_cluster_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["report", "--kubeconfig", "/nonexistent/kubeconfig"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("ddmsp report: no Kubernetes credentials")
    assert err.count("\n") == 1 and "KUBECONFIG or --kubeconfig" in err
