"""The simulator in its own process, steered over its ``/_sim/`` HTTP surface.

Why: a benchmark that runs the simulator in a thread of its own process shares one GIL
between the simulator and whatever the benchmark does meanwhile (applying thousands of
objects, watching them): the simulator's answers then come late for reasons that are not
the operator's. In its own process it answers at the latency it was given.
The methods mirror ``RunningSimulator``'s, so a benchmark can take either.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx

from ddmsp.simulator.state import new_api_key, new_app_key

ROOT = Path(__file__).resolve().parents[2]


class SimulatorProcess:
    """``ddmsp simulator`` on a free port; ``stop()`` (or leaving the ``with``) ends it."""

    def __init__(self, latency_ms: int = 0, log: Path | None = None) -> None:
        self.partner_api_key = new_api_key()
        self.partner_app_key = new_app_key()
        env = {**os.environ, "DDMSP_SIM_API_KEY": self.partner_api_key,
               "DDMSP_SIM_APP_KEY": self.partner_app_key,
               "PYTHONPATH": os.pathsep.join(filter(None, [
                   str(ROOT / "operator"), os.environ.get("PYTHONPATH", "")]))}
        self._log: IO[bytes] | int = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ddmsp", "simulator", "--port", "0",
             "--latency-ms", str(latency_ms)],
            env=env, stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.base_url = ""
        self.partner_public_id = ""
        try:
            self._read_banner()
        except BaseException:
            self.stop()
            raise
        self._http = httpx.Client(base_url=self.base_url, timeout=60)

    def _read_banner(self) -> None:
        """The listening address and the partner's public id, from the first lines."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while not (self.base_url and self.partner_public_id):
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"simulator exited ({self.proc.poll()}) before serving")
            if line.startswith("ddmsp simulator listening on "):
                self.base_url = line.rsplit(" ", 1)[1].strip()
            elif line.startswith("partner public id: "):
                self.partner_public_id = line.rsplit(" ", 1)[1].strip()
            if time.monotonic() > deadline:
                raise RuntimeError("simulator did not start in 60 s")
        self.proc.stdout.close()  # nothing else of interest is printed (never keys: set here)

    # ----------------------------------------------------------------- the RunningSimulator API
    def set_rate_limit(self, name: str, limit: int, period: int = 60) -> None:
        self._http.put("/_sim/rate_limits",
                       json={name: {"limit": limit, "period": period}}).raise_for_status()

    def calls(self) -> dict[str, dict[int, int]]:
        """Counts per ``"METHOD /route/template"`` and status (0 = response dropped)."""
        got = self._http.get("/_sim/calls")
        got.raise_for_status()
        return {route: {int(s): n for s, n in by.items()}
                for route, by in got.json()["calls"].items()}

    def reset_calls(self) -> None:
        self._http.delete("/_sim/calls").raise_for_status()

    def clear_faults(self) -> None:
        self._http.delete("/_sim/faults").raise_for_status()

    def snapshot(self) -> dict[str, Any]:
        got = self._http.get("/_sim/state")
        got.raise_for_status()
        return dict(got.json())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if hasattr(self, "_http"):
            self._http.close()
        if not isinstance(self._log, int):
            self._log.close()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
