"""``ddmsp simulator``: run the local Datadog API simulator in the foreground.

Why: demos and manual tests need the same simulator the test suite uses, on a fixed port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os


def build_parser() -> argparse.ArgumentParser:
    """The simulator's command-line options."""
    p = argparse.ArgumentParser(prog="ddmsp simulator", description="Local Datadog API simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--latency-ms", type=int, default=0, help="delay added to every API call")
    p.add_argument("--state-file", default=None, help="persist state to this JSON file")
    p.add_argument("--api-key", default=None, help="partner API key (or DDMSP_SIM_API_KEY)")
    p.add_argument("--app-key", default=None, help="partner app key (or DDMSP_SIM_APP_KEY)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    from ddmsp.simulator.server import serve_forever

    args = build_parser().parse_args(argv)
    if args.latency_ms < 0 or not 0 <= args.port <= 65535:
        print("invalid --latency-ms or --port")
        return 2
    api_key = args.api_key or os.environ.get("DDMSP_SIM_API_KEY")
    app_key = args.app_key or os.environ.get("DDMSP_SIM_APP_KEY")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve_forever(args.host, args.port, api_key, app_key, args.latency_ms, args.state_file)
        )
    return 0
