"""Argo CD health checks in the resource_customizations layout, run by gopher-lua (the Lua
interpreter Argo CD embeds, built by hack/build-binaries into `ddmsp-health`)."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ddmsp.resources import ALL_KINDS
from tests.support.kube import REPO_ROOT, build_binaries

ARGO = REPO_ROOT / "deploy" / "argocd"
LAYOUT = ARGO / "resource_customizations" / "ddmsp.io"
SCRIPT = (ARGO / "health.lua").read_text()


@functools.cache
def tool() -> Path:
    return build_binaries() / "ddmsp-health"


def lua_test(directory: Path) -> list[dict[str, Any]]:
    out = subprocess.run([str(tool()), "lua-test", str(directory)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


@pytest.mark.parametrize("kind", [k.kind for k in ALL_KINDS])
def test_every_kind_has_the_shared_script_and_passing_tests(kind: str) -> None:
    directory = LAYOUT / kind
    assert (directory / "health.lua").read_text() == SCRIPT
    results = lua_test(directory)
    assert results and all(r["pass"] for r in results), [r for r in results if not r["pass"]]
    statuses = {r["want"]["status"] for r in results}
    assert statuses == {"Healthy", "Progressing", "Degraded", "Suspended"}


def test_every_directory_is_a_kind_the_operator_serves() -> None:
    assert {p.name for p in LAYOUT.iterdir()} == {k.kind for k in ALL_KINDS}


def test_the_runner_fails_a_wrong_expectation(tmp_path: Path) -> None:
    copy = tmp_path / "DatadogRole"
    shutil.copytree(LAYOUT / "DatadogRole", copy)
    spec = yaml.safe_load((copy / "health_test.yaml").read_text())
    spec["tests"][0]["healthStatus"]["status"] = "Healthy"
    spec["tests"][1]["healthStatus"]["message"] = "not what the script says"
    (copy / "health_test.yaml").write_text(yaml.safe_dump(spec))
    results = lua_test(copy)
    assert [r["pass"] for r in results[:2]] == [False, False]
    assert all(r["pass"] for r in results[2:])


def test_healthy_needs_the_observed_generation_and_ready(tmp_path: Path) -> None:
    ready = yaml.safe_load((LAYOUT / "DatadogClientOrg" / "testdata" / "org-ready.yaml")
                           .read_text())
    cases = {
        "ok": ready,
        "behind": {**ready, "metadata": {**ready["metadata"], "generation": 7}},
        "not-ready": {**ready, "status": {**ready["status"], "conditions": [
            {**c, "status": "False", "message": "waiting for Datadog"} if c["type"] == "Ready"
            else {**c, "status": "False"} for c in ready["status"]["conditions"]]}},
        "no-status": {k: v for k, v in ready.items() if k != "status"},
    }
    paths = []
    for name, obj in cases.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(obj))
        paths.append(str(tmp_path / f"{name}.yaml"))
    out = subprocess.run([str(tool()), "lua", str(ARGO / "health.lua"), *paths],
                         capture_output=True, text=True, check=True)
    got = [r["status"] for r in json.loads(out.stdout)]
    assert got == ["Healthy", "Progressing", "Progressing", "Progressing"]
    assert json.loads(out.stdout)[2]["message"] == "waiting for Datadog"


def test_the_argocd_cm_snippet_in_the_docs_is_the_script() -> None:
    doc = (REPO_ROOT / "docs" / "argocd.md").read_text()
    for info in ALL_KINDS:
        match = re.search(
            rf"  resource\.customizations\.health\.ddmsp\.io_{info.kind}: \|\n((?:    .*\n|\n)+)",
            doc)
        assert match, info.kind
        body = "".join(line[4:] if line.strip() else "\n"
                       for line in match.group(1).splitlines(keepends=True))
        assert body.strip() == SCRIPT.strip(), info.kind
