"""The `ddmsp` command (also the kubectl plugin `kubectl ddmsp`): run (the operator),
simulator, crds, report, confirm-registration, demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _crds(args: argparse.Namespace) -> int:
    from ddmsp.resources import ALL_KINDS
    from ddmsp.resources.crdgen import render

    if args.output is None:
        print("---\n".join(render(info) for info in ALL_KINDS), end="")
        return 0
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stale = []
    for info in ALL_KINDS:
        path = out / f"{info.crd_name}.yaml"
        text = render(info)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print("stale CRD files (run `make crds`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    # Installed as `kubectl-ddmsp` too: kubectl runs it for `kubectl ddmsp ...`.
    plugin = Path(sys.argv[0]).name.startswith("kubectl-")
    parser = argparse.ArgumentParser(prog="kubectl ddmsp" if plugin else "ddmsp",
                                     description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator")
    from ddmsp.config import add_arguments

    add_arguments(run)

    sub.add_parser("simulator", help="run the local Datadog API simulator", add_help=False)

    crds = sub.add_parser("crds", help="print or write the generated CRD YAML")
    crds.add_argument("--output", "-o", help="directory to write one file per CRD into")
    crds.add_argument("--check", action="store_true", help="fail when files are stale")

    report = sub.add_parser("report", help="cost of every client org, from the cluster")
    from ddmsp.report import add_arguments as add_report_arguments

    add_report_arguments(report)

    confirm = sub.add_parser("confirm-registration",
                             help="confirm a SpinOff org's DPN registration (sets "
                             "spec.registration.confirmed)")
    from ddmsp.cli_registration import add_arguments as add_confirm_arguments

    add_confirm_arguments(confirm)

    demo = sub.add_parser("demo", help="local control plane + simulator + operator + examples")
    demo.add_argument("--keep", action="store_true", help="leave everything running at the end")

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulator":
        from ddmsp.simulator.cli import main as simulator_main

        return simulator_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "run":
        from pydantic import ValidationError

        from ddmsp.config import describe_setting, from_env_and_args
        from ddmsp.runner import main as run_main

        try:
            settings = from_env_and_args(args)
        except ValidationError as exc:
            for err in exc.errors():
                print(f"ddmsp run: {describe_setting(str(err['loc'][0]))}: {err['msg']}",
                      file=sys.stderr)
            return 2
        return run_main(settings)
    if args.command == "crds":
        return _crds(args)
    if args.command == "report":
        from ddmsp.report import main as report_main

        return report_main(args)
    if args.command == "confirm-registration":
        from ddmsp.cli_registration import main as confirm_main

        return confirm_main(args)
    if args.command == "demo":
        from ddmsp.demo import main as demo_main

        return demo_main(keep=args.keep)
    return 2


if __name__ == "__main__":
    sys.exit(main())
