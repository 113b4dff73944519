"""Run the real operator (`python -m ddmsp run`) as a subprocess against a test cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.kube import REPO_ROOT


class OperatorProcess:
    """One operator process watching given namespaces; its log is kept for assertions."""

    def __init__(
        self,
        kubeconfig: Path,
        datadog_url: str,
        namespaces: list[str],
        log_path: Path,
        extra_env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        command: list[str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.datadog_url = datadog_url
        self.namespaces = namespaces
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.extra_args = extra_args or []
        # Default: this interpreter running the repo's code; else e.g. an installed `ddmsp`.
        self.command = command
        self.cwd = cwd or REPO_ROOT
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_offset = 0

    def start(self, crash_at: str | None = None) -> OperatorProcess:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            **({} if self.command else {"PYTHONPATH": str(REPO_ROOT / "operator")}),
            # Environment variables, not flags, so that an older version of the code (the
            # upgrade test runs the previous release) ignores what it does not know:
            # plain HTTP on 127.0.0.1 where a test scrapes metrics (--metrics-port N);
            "DDMSP_METRICS_SECURE": "false",
            # production waits 30 s before asking Datadog again about a refused permission
            "DDMSP_PERMISSION_RECHECK": "2",
            **self.extra_env,
        }
        env.pop("DDMSP_CRASH_AT", None)
        if crash_at:
            env["DDMSP_CRASH_AT"] = crash_at
        args = [
            *(self.command or [sys.executable, "-m", "ddmsp"]), "run",
            "--datadog-url", self.datadog_url,
            "--liveness", "", "--metrics-port", "0",
            "--wait-poll", "1", "--drift-interval", "600", "--backoff-cap", "10",
            *[a for ns in self.namespaces for a in ("--namespace", ns)],
            *self.extra_args,
        ]
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     cwd=self.cwd)
        log.close()
        return self

    def wait_exit(self, timeout: float = 60) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_started(self, timeout: float = 180) -> None:
        """Until this start's process has logged in to Kubernetes and begins watching (kopf
        logs it after the Lease is held) or has exited (a crash point): a test's own waits
        then measure the operator's work, not an interpreter starting on a loaded machine."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[self.log_offset:] if self.log_path.exists() \
                else b""
            if b"Initial authentication has finished" in text:
                return
            if self.proc is None or self.proc.poll() is not None:
                return
            time.sleep(0.2)
        raise AssertionError(f"the operator did not start within {timeout}s; log tail:\n"
                             f"{self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# What an operator log shows when Datadog refused its keys: the reasons, and an API error
# as rendered ("[METHOD /path -> 403]"). A bare "403" also occurs in random key IDs and
# millisecond timestamps, so it is not searched for.
REFUSAL_MARKS = ("CredentialsMissing", "MissingPermission", "KeysInvalid", "-> 403]")


def refusals_in(log: str) -> list[str]:
    """The refusal marks found in an operator log (empty when Datadog refused nothing)."""
    return [mark for mark in REFUSAL_MARKS if mark in log]


def wait_for(predicate, timeout: float = 60, interval: float = 0.3, what: Any = "condition"):  # type: ignore[no-untyped-def]
    """Poll until predicate() is truthy; returns its value or fails naming ``what`` (a
    string, or a callable read at the failure, e.g. for the log as it is then)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    said = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout}s waiting for {said} (last: {last!r})")


def reconciles_total(port: int) -> float:
    """ddmsp_reconciles_total summed over kinds and outcomes, from the operator's metrics
    endpoint (0 while it is not serving)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("ddmsp_reconciles_total{"))
