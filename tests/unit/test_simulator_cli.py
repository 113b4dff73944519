"""The ``ddmsp simulator`` command: flags, key printing and serving."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import requests

from ddmsp.simulator.cli import build_parser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_parser_defaults_and_flags() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.latency_ms, args.state_file) == ("127.0.0.1", 8080, 0, None)
    args = build_parser().parse_args(
        ["--port", "9", "--latency-ms", "5", "--state-file", "s.json", "--api-key", "k"]
    )
    assert (args.port, args.latency_ms, args.state_file, args.api_key) == (9, 5, "s.json", "k")


def _start(port: int, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    code = "import sys; from ddmsp.simulator.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _read_lines(proc: subprocess.Popen[str], want: int) -> dict[str, str]:
    assert proc.stdout is not None
    lines: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while len(lines) < want and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if ": " in line:
            name, value = line.rstrip("\n").split(": ", 1)
            lines[name] = value
    return lines


def test_cli_generates_prints_and_serves() -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDMSP_SIM_")}
    proc = _start(port, env)
    try:
        lines = _read_lines(proc, 3)
        assert set(lines) >= {"partner public id", "partner api key", "partner app key"}
        headers = {
            "DD-API-KEY": lines["partner api key"],
            "DD-APPLICATION-KEY": lines["partner app key"],
        }
        orgs = requests.get(f"http://127.0.0.1:{port}/api/v1/org", headers=headers, timeout=5)
        assert orgs.json()["orgs"][0]["public_id"] == lines["partner public id"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_keys_from_env_are_not_printed() -> None:
    port = _free_port()
    env = {**os.environ, "DDMSP_SIM_API_KEY": "e" * 32, "DDMSP_SIM_APP_KEY": "d" * 40}
    proc = _start(port, env)
    try:
        lines = _read_lines(proc, 1)
        assert "partner public id" in lines
        ok = requests.get(
            f"http://127.0.0.1:{port}/api/v1/validate", headers={"DD-API-KEY": "e" * 32}, timeout=5
        )
        assert ok.status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "e" * 32 not in out and "d" * 40 not in out
