"""`helm template` of helm/ddmsp-client: spec.settings and spec.opsOrgConnection from values,
and the chart's settings schema kept to the CRD's field names."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import yaml

from tests.support.kube import REPO_ROOT, build_binaries

CHART = REPO_ROOT / "helm" / "ddmsp-client"
BASE = ("client.name=acme", "client.displayName=Acme", "saml.enabled=false")


def helm_template(*sets: str) -> subprocess.CompletedProcess[str]:
    args = [str(build_binaries() / "helm"), "template", "acme", str(CHART)]
    for s in (*BASE, *sets):
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def org_spec(*sets: str) -> dict[str, Any]:
    out = helm_template(*sets)
    assert out.returncode == 0, out.stderr
    (org,) = [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "DatadogClientOrg"]
    return dict(org["spec"])


def test_defaults_set_neither_settings_nor_a_connection() -> None:
    spec = org_spec()
    assert "settings" not in spec and "opsOrgConnection" not in spec


def test_settings_are_passed_as_is_and_the_connection_when_enabled() -> None:
    spec = org_spec("settings.monitorTimezone=Europe/Paris",
                    "settings.securityContacts={soc@msp.example}",
                    "settings.privateWidgetShare=false",
                    "opsOrgConnection.enabled=true",
                    "opsOrgConnection.connectionTypes={metrics,logs}")
    assert spec["settings"] == {"monitorTimezone": "Europe/Paris",
                                "securityContacts": ["soc@msp.example"],
                                "privateWidgetShare": False}
    assert spec["opsOrgConnection"] == {"connectionTypes": ["metrics", "logs"],
                                        "deletionPolicy": "Delete"}


def test_typos_and_bad_values_fail_before_anything_is_applied() -> None:
    for bad in ("settings.monitorTimzone=UTC", "opsOrgConnection.connectionTypes={traces}",
                "opsOrgConnection.deletionPolicy=Keep", "opsOrgConnection.enable=true",
                "settings.teamsProvisioningSources=sometimes"):
        out = helm_template(bad)
        assert out.returncode != 0 and "values don't meet the specifications" in out.stderr, bad


def test_the_settings_schema_names_exactly_the_crd_fields() -> None:
    chart = json.loads((CHART / "values.schema.json").read_text())["properties"]["settings"]
    crd = yaml.safe_load((REPO_ROOT / "crds" / "datadogclientorgs.ddmsp.io.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    crd_settings = spec["properties"]["settings"]["properties"]
    assert set(chart["properties"]) == set(crd_settings)
    for name, field in chart["properties"].items():
        assert field["type"] == crd_settings[name]["type"], name
        assert field.get("enum") == crd_settings[name].get("enum"), name
