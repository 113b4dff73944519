"""The operator image's runtime promise (issue 11), checked without Docker: nothing is
compiled or written at runtime, so a read-only root filesystem works.

No Docker engine or registry here, so the two stages of the Dockerfile are reproduced:
- build stage: a fresh ``python -m venv`` (the /opt/ddmsp stand-in), ``pip install
  --no-compile .`` from a copy of what the Dockerfile COPYs (pyproject.toml, README.md,
  operator/), then ``python -m compileall -q`` on the venv: the full pinned dependency
  install from the package index, as in the image.
- runtime stage: the runtime ENV read from the Dockerfile (/opt/ddmsp and /tmp mapped to
  the stand-ins), ``<venv>/bin/ddmsp run`` against the real control plane and simulator.

What differs from the real image: the interpreter is the host's CPython 3.11 (not the
pinned python:3.11.x-slim base) and its stdlib lives outside the venv; pip's own cache
is allowed; the operator runs as root, not uid 10001 -- so the read-only root is made
with a private mount namespace (``/`` remounted read-only, only the HOME stand-in
writable, as the chart's /tmp emptyDir) or, where mounts are not permitted, by
``chmod -R a-w`` with the root's DAC override capabilities dropped (mode bits bind, as
for uid 10001); TMPDIR points at the HOME stand-in (in the image HOME and the default
temp dir are both /tmp); the operator authenticates with the test kubeconfig (not a
service account) and runs with the test flags of tests/support/operator.py.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import Operator
from tests.support.kube import REPO_ROOT
from tests.support.operator import OperatorProcess

pytestmark = pytest.mark.kube
PLURAL = "datadogclientorgs"
# The build stage's commands this module reproduces; a changed Dockerfile fails here first.
BUILD_STEPS = ("python -m venv /opt/ddmsp",
               "/opt/ddmsp/bin/pip install --no-compile .",
               "/opt/ddmsp/bin/python -m compileall -q /opt/ddmsp")
COPIED = ("pyproject.toml", "README.md", "operator")

Snapshot = dict[str, tuple[int, int, int]]


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    return [" ".join(part.split()) for part in "\n".join(lines).replace("\\\n", " ").split("\n")
            if part.strip()]


def runtime_env(venv: Path, home: Path) -> dict[str, str]:
    """The runtime stage's ENV, with the image's /opt/ddmsp and /tmp mapped to stand-ins."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, ins in enumerate(instructions) if ins.startswith("FROM "))
    env: dict[str, str] = {}
    for ins in instructions[last_from:]:
        if ins.startswith("ENV "):
            for pair in shlex.split(ins.removeprefix("ENV ")):
                key, _, value = pair.partition("=")
                env[key] = value
    env["PATH"] = env["PATH"].replace("/opt/ddmsp", str(venv)).replace(
        "$PATH", os.environ["PATH"])
    assert env.get("HOME") == "/tmp", "the emulation maps HOME=/tmp to the emptyDir stand-in"
    env["HOME"] = str(home)
    return env


def snapshot(root: Path) -> Snapshot:
    """Every entry under root with type, mtime and size (a new entry changes its parent's)."""
    found: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            st = path.lstat()
            found[str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), st.st_mtime_ns,
                                                  st.st_size)
    return found


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """Added (+), removed (-) and modified (~) entries, sorted."""
    return sorted(f"{'+' if k not in before else '-' if k not in after else '~'} {k}"
                  for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def set_writable(root: Path, writable: bool) -> None:
    subprocess.run(["chmod", "-R", "u+w" if writable else "a-w", str(root)], check=True)


def clean_env(**overrides: str) -> dict[str, str]:
    """This environment without what would point Python at the test venv or the repo."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, **overrides}


@dataclass
class ImageVenv:
    root: Path  # stands in for /opt/ddmsp
    uncompiled_writes: list[str]  # what one `ddmsp run --help` wrote before compileall
    build_seconds: float


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageVenv]:
    """The build stage: venv, pinned install without bytecode, then compileall."""
    instructions = dockerfile_instructions()
    for step in BUILD_STEPS:
        assert any(step in ins for ins in instructions), f"Dockerfile no longer runs {step!r}"
    started = time.monotonic()
    base = tmp_path_factory.mktemp("image")
    src, venv = base / "src", base / "opt-ddmsp"
    src.mkdir()
    for name in COPIED:  # what the Dockerfile COPYs, minus local build leftovers
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO_ROOT / name, src / name)
    env = clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    try:
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-compile", "."],
                       cwd=src, env=env, check=True, timeout=600)
        pristine = snapshot(venv)
        # The control: run from the venv as pip left it, bytecode writes allowed.
        subprocess.run([str(venv / "bin" / "ddmsp"), "run", "--help"], cwd=base, env=env,
                       check=True, capture_output=True, timeout=120)
        uncompiled_writes = changes(pristine, snapshot(venv))
        for entry in sorted(uncompiled_writes, reverse=True):  # files before their dirs
            kind, rel = entry.split(" ", 1)
            if kind == "+":
                path = venv / rel
                path.rmdir() if path.is_dir() else path.unlink()
        assert snapshot(venv).keys() == pristine.keys()
        subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-q", str(venv)],
                       env=env, check=True, capture_output=True, timeout=300)
        yield ImageVenv(venv, uncompiled_writes, time.monotonic() - started)
    finally:
        set_writable(venv, True)


def operator_from(op: Operator, venv: Path, cwd: Path, log: Path, env: dict[str, str],
                  prefix: list[str] | None = None) -> OperatorProcess:
    """Run `<venv>/bin/ddmsp run` instead of the repo's code; the fixture stops it."""
    op.process = OperatorProcess(op.cluster.kubeconfig, op.sim.base_url, [op.namespace], log,
                                 extra_env={**op.process.extra_env, **env},
                                 command=[*(prefix or []), str(venv / "bin" / "ddmsp")],
                                 cwd=cwd)
    return op.process


def client_org(name: str) -> dict[str, object]:
    return {"kind": "DatadogClientOrg", "metadata": {"name": name},
            "spec": {"displayName": name.title()}}


def read_only_prefixes(home: Path) -> list[tuple[str, list[str]]]:
    """Ways to run a command where only ``home`` is writable, most faithful first."""
    mount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro / && exec "$@"'
    ways = [("read-only root (mount namespace)",
             ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", mount,
              str(home)])]
    if os.geteuid() == 0:
        caps = "-dac_override,-dac_read_search"
        ways.append(("chmod a-w, root without DAC override",
                     ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]))
    else:
        ways.append(("chmod a-w (non-root)", []))
    return ways


def enforcement(home: Path, read_only: list[Path]) -> tuple[str, list[str]]:
    """The first way under which a write into ``read_only`` fails and one into home works."""
    check = ('for d in "$@"; do touch "$d/.w" 2>/dev/null && exit 1; done; '
             'touch "$HOME/.w" && rm "$HOME/.w"')
    for name, prefix in read_only_prefixes(home):
        if shutil.which((prefix or ["sh"])[0]) is None:
            continue
        probe = subprocess.run([*prefix, "sh", "-c", check, "sh", *map(str, read_only)],
                               env=clean_env(HOME=str(home)), capture_output=True, timeout=30)
        if probe.returncode == 0:
            return name, prefix
    pytest.fail("no way to make the venv read-only for the operator on this host")


def test_dockerfile_env_is_what_the_emulation_maps(tmp_path: Path) -> None:
    env = runtime_env(tmp_path / "venv", tmp_path / "home")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith(f"{tmp_path / 'venv'}/bin:")
    assert env["HOME"] == str(tmp_path / "home")


def test_bytecode_is_precompiled_nothing_compiles_at_runtime(
        image_venv: ImageVenv, operator: Operator, tmp_path: Path) -> None:
    """Bytecode writes allowed (PYTHONDONTWRITEBYTECODE unset, venv writable): a full
    operator run to Ready writes nothing into the venv, because compileall did it all."""
    # Not vacuous: without compileall, merely parsing `run --help` wrote bytecode.
    written = image_venv.uncompiled_writes
    assert any(e.startswith("+ ") and "/ddmsp/__pycache__/__main__.cpython-" in e
               for e in written), written
    venv = image_venv.root
    missing = [str(py.relative_to(venv)) for py in venv.rglob("*.py")
               if not Path(importlib.util.cache_from_source(str(py))).exists()]
    assert missing == []
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    env = {**runtime_env(venv, home), "PYTHONDONTWRITEBYTECODE": "", "TMPDIR": str(home),
           "PYTHONPATH": ""}  # an empty value is "unset" for Python
    before = snapshot(venv)
    operator_from(operator, venv, cwd, tmp_path / "operator.log", env).start()
    operator.apply(PLURAL, client_org("acme"))
    operator.wait_condition(PLURAL, "acme", "Ready")
    operator.process.stop()
    assert changes(before, snapshot(venv)) == []


def test_operator_reaches_ready_on_a_read_only_root(
        image_venv: ImageVenv, operator: Operator, tmp_path: Path,
        record_property: pytest.RecordProperty) -> None:
    """The image's runtime: its ENV, a read-only venv and cwd, only HOME (/tmp) writable.
    A client org reaches Ready and nothing under the venv or cwd changes."""
    venv, home, cwd = image_venv.root, tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    set_writable(venv, False)
    set_writable(cwd, False)
    try:
        how, prefix = enforcement(home, [venv, venv / "lib", cwd])
        record_property("read_only_by", how)
        record_property("venv_build_seconds", round(image_venv.build_seconds, 1))
        env = {**runtime_env(venv, home), "TMPDIR": str(home), "PYTHONPATH": ""}
        before = {root: snapshot(root) for root in (venv, cwd)}
        operator_from(operator, venv, cwd, tmp_path / "operator.log", env, prefix).start()
        operator.apply(PLURAL, client_org("acme"))
        operator.wait_condition(PLURAL, "acme", "Ready")
        operator.process.stop()
        for root, seen in before.items():
            assert changes(seen, snapshot(root)) == [], f"written under {root} ({how})"
        log = operator.process.log()
        for refusal in ("[Errno 30] Read-only file system", "[Errno 13] Permission denied"):
            assert refusal not in log, f"the operator tried to write ({how}): {refusal}"
        written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
        record_property("home_writes", written)
        print(f"read-only by: {how}; written under HOME: {written or 'nothing'}")
        assert not [w for w in written if w.endswith(".pyc")]
    finally:
        set_writable(cwd, True)
        set_writable(venv, True)
