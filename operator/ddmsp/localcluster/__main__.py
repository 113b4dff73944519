"""``python -m ddmsp.localcluster up|down|status [--bin-dir DIR]`` (see hack/controlplane)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ddmsp.localcluster.controlplane import ControlPlane, ControlPlaneError, default_home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="controlplane", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--bin-dir", type=Path, help="where hack/build-binaries put the binaries")
    parser.add_argument("--home", type=Path, default=None, help="state directory ($DDMSP_HOME)")
    args = parser.parse_args(argv)
    cp = ControlPlane(home=args.home or default_home(), bin_dir=args.bin_dir)

    if args.command == "up":
        started = time.monotonic()
        try:
            started_state = cp.up()
        except ControlPlaneError as exc:
            print(f"controlplane: {exc}", file=sys.stderr)
            return 1
        print(f"controlplane: ready at {started_state.apiserver_url} in "
              f"{time.monotonic() - started:.1f}s", file=sys.stderr)
        print(started_state.kubeconfig)
        return 0
    if args.command == "down":
        stopped = cp.down()
        print(f"controlplane: stopped {', '.join(stopped) or 'nothing'}", file=sys.stderr)
        return 0
    running = cp.running()
    st = cp.state()
    for name, alive in running.items():
        pid = st.pids.get(name) if st else None
        print(f"{name:26} {'running' if alive else 'stopped'}{f' (pid {pid})' if pid else ''}")
    ready = cp.ready()
    print(f"{'ready':26} {ready}" + (f" at {st.apiserver_url}" if st and ready else ""))
    if st and ready:
        print(f"{'kubeconfig':26} {st.kubeconfig}")
    return 0 if ready else 3


if __name__ == "__main__":
    sys.exit(main())
