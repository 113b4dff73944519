"""`ddmsp demo` (`make demo`): the whole product on one machine, nothing to configure.

Starts a local control plane (built from Go modules), the Datadog API simulator and the
operator; applies examples/; shows `kubectl get ddmsp` converging; does the partner's
manual DPN registration step for the demo; prints the org tree the simulator now holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ddmsp.localcluster.controlplane import ControlPlane, default_home

NAMESPACE = "ddmsp-demo"
# The operator's own namespace (a chart install's release namespace): its Lease and the key
# escrow live apart from the clients, so deleting the clients' namespace keeps the keys.
SYSTEM_NAMESPACE = "ddmsp-system"
PARTNER_SECRET = "datadog-partner"


def _repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "hack" / "build-binaries").exists():
            return parent
    raise SystemExit("ddmsp demo runs from a source checkout (hack/ and examples/ needed)")


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


class Demo:
    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.hint_keep = True  # the stop message suggests --keep (not after its Ctrl-C)
        self.root = _repo_root()
        self.home = default_home() / "demo"
        self.plane: ControlPlane | None = None
        self.operator: subprocess.Popen[bytes] | None = None
        self.kubeconfig = ""
        self.kubectl_bin = ""

    def kubectl(self, *args: str, check: bool = True, quiet: bool = False) -> str:
        out = subprocess.run([self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *args],
                             capture_output=True, text=True, check=False)
        if check and out.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed: {out.stderr.strip()}")
        if not quiet and out.stdout:
            print(out.stdout, end="", flush=True)
        return out.stdout

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", plural, name, "-n", NAMESPACE, "-o", "json",
                                            quiet=True)))

    def ready(self, plural: str, name: str) -> dict[str, Any] | None:
        try:
            conds = self.get(plural, name).get("status", {}).get("conditions", [])
        except SystemExit:
            return None
        return next((c for c in conds if c["type"] == "Ready"), None)

    def run(self) -> int:
        from ddmsp.simulator.server import running_simulator

        say("building the local control plane binaries (cached after the first run)")
        bin_dir = Path(subprocess.run([str(self.root / "hack" / "build-binaries")],
                                      check=True, capture_output=True, text=True)
                       .stdout.strip().splitlines()[-1])
        self.kubectl_bin = str(bin_dir / "kubectl")
        say("starting etcd, kube-apiserver and kube-controller-manager")
        self.plane = ControlPlane(home=self.home, bin_dir=bin_dir)
        started = time.monotonic()
        state = self.plane.up()
        self.kubeconfig = state.kubeconfig
        print(f"control plane ready in {time.monotonic() - started:.1f}s; "
              f"export KUBECONFIG={self.kubeconfig}")
        with running_simulator() as sim:
            say(f"Datadog API simulator at {sim.base_url} (partner org {sim.partner_public_id})")
            try:
                return self._scenario(sim)
            finally:
                self._stop_operator()
                if not self.keep:
                    say("stopping the control plane"
                        + (" (run with --keep to leave it up)" if self.hint_keep else ""))
                    self.plane.down()

    def _scenario(self, sim: Any) -> int:
        self.kubectl("apply", "--server-side", "-f", str(self.root / "crds"))
        for crd in sorted((self.root / "crds").glob("*.yaml")):
            self.kubectl("wait", "--for=condition=Established",
                         f"crd/{crd.name.removesuffix('.yaml')}", "--timeout=60s", quiet=True)
        for namespace in (NAMESPACE, SYSTEM_NAMESPACE):
            self.kubectl("create", "namespace", namespace, check=False, quiet=True)
        self.kubectl("create", "secret", "generic", PARTNER_SECRET, "-n", NAMESPACE,
                     f"--from-literal=api-key={sim.partner_api_key}",
                     f"--from-literal=app-key={sim.partner_app_key}", check=False, quiet=True)
        print(f"partner keys stored in Secret {NAMESPACE}/{PARTNER_SECRET}")

        say("starting the operator (ddmsp run)")
        log_path = self.home / "operator.log"
        env = {**os.environ, "KUBECONFIG": self.kubeconfig}
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "ddmsp", "run", "--namespace", NAMESPACE,
             "--partner-secret", f"{NAMESPACE}/{PARTNER_SECRET}",  # the examples' default
             "--leader-election-namespace", SYSTEM_NAMESPACE,
             "--escrow-namespace", SYSTEM_NAMESPACE,
             "--datadog-url", sim.base_url, "--liveness", "", "--metrics-port", "0",
             "--wait-poll", "2", "--cost-refresh-interval", "10"],
            stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, env=env)  # noqa: SIM115
        print(f"operator log: {log_path}")
        print(f"its Lease and key escrow: namespace {SYSTEM_NAMESPACE}, apart from the clients")

        say("kubectl apply -f examples/")
        applied = time.monotonic()
        self.kubectl("apply", "-n", NAMESPACE, "-f", str(self.root / "examples"))
        orgs = self._names("datadogclientorgs")
        others = [(p, n) for p in ("datadogroles", "datadogsamlconfigs", "datadogusers")
                  for n in self._names(p)]
        times: dict[str, float] = {}
        registered = False
        deadline = time.monotonic() + 180
        last = ""
        while time.monotonic() < deadline:
            table = self.kubectl("get", "ddmsp", "-n", NAMESPACE, quiet=True)
            if table != last:
                say("kubectl get ddmsp -n " + NAMESPACE)
                print(table, end="", flush=True)
                last = table
            for name in orgs:
                cond = self.ready("datadogclientorgs", name)
                if cond and cond["status"] == "True" and name not in times:
                    times[name] = time.monotonic() - applied
                if cond and cond.get("reason") == "AwaitingRegistration" and not registered:
                    say(f"{name} waits for the partner's manual DPN registration step")
                    print(f"the operator says: {cond['message']}")
                    print("(a human registers the org in the DPN portal; the demo does it now)")
                    say(f"kubectl ddmsp confirm-registration {name} --deal-id DEMO-1")
                    subprocess.run([sys.executable, "-m", "ddmsp", "confirm-registration", name,
                                    "--deal-id", "DEMO-1", "--namespace", NAMESPACE,
                                    "--kubeconfig", str(self.kubeconfig)], check=True)
                    registered = True
            if len(times) == len(orgs) and all(
                (c := self.ready(p, n)) and c["status"] == "True" for p, n in others
            ):
                break
            time.sleep(1)
        else:
            say("the demo did not converge in 180s; operator log tail:")
            print(log_path.read_text(errors="replace")[-3000:])
            return 1
        say("every resource is Ready; waiting for the partner's cost view")
        cost_deadline = time.monotonic() + 60
        while time.monotonic() < cost_deadline and not all(
            (self.get("datadogclientorgs", n).get("status") or {}).get("cost") for n in orgs
        ):
            time.sleep(1)
        self.kubectl("get", "ddmsp", "-n", NAMESPACE, "-o", "wide")
        say(f"ddmsp report -n {NAMESPACE}  (read from the cluster: no Datadog keys needed)")
        subprocess.run([sys.executable, "-m", "ddmsp", "report", "-n", NAMESPACE], env=env,
                       check=False)
        for name, seconds in times.items():
            mode = self.get("datadogclientorgs", name)["spec"].get("provisioning", "ChildOrg")
            print(f"{name} ({mode}) reached Ready {seconds:.1f}s after kubectl apply"
                  + (" (including the demo's registration step)" if mode == "SpinOff" else ""))
        say("the org tree in the Datadog simulator")
        self._print_tree(sim.snapshot())
        say("Secrets holding each org's keys (never printed)")
        self.kubectl("get", "secrets", "-n", NAMESPACE, "-l", "app.kubernetes.io/managed-by=ddmsp")
        if self.keep:
            say(f"left running: export KUBECONFIG={self.kubeconfig}; Ctrl-C stops everything")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                self.keep = False  # as promised: Ctrl-C stops the control plane too
                self.hint_keep = False
        return 0

    def _names(self, plural: str) -> list[str]:
        out = self.kubectl("get", plural, "-n", NAMESPACE, "-o", "name", check=False, quiet=True)
        return [line.split("/", 1)[1] for line in out.split() if "/" in line]

    @staticmethod
    def _print_tree(snapshot: dict[str, Any]) -> None:
        orgs = {o["public_id"]: o for o in snapshot["orgs"]}

        def show(public_id: str, depth: int) -> None:
            o = orgs[public_id]
            roles = [r["name"] for r in o.get("roles", []) if not r.get("managed")]
            users = [f"{u['email']} ({u['status']})" for u in o.get("users", [])
                     if u.get("created_by") == "api"]
            saml = o.get("settings", {}).get("saml", {}).get("enabled")
            extra = []
            if o.get("spun_off"):
                extra.append("spun off")
            if roles:
                extra.append(f"roles: {', '.join(roles)}")
            if users:
                extra.append(f"users: {', '.join(users)}")
            if saml:
                extra.append("SAML on")
            print(f"{'    ' * depth}- {o['name']} ({public_id})"
                  + (f"  [{'; '.join(extra)}]" if extra else ""))
            for child in o.get("children", []):
                show(child, depth + 1)

        for public_id, o in orgs.items():
            if o.get("parent") is None:
                show(public_id, 0)

    def _stop_operator(self) -> None:
        if self.operator and self.operator.poll() is None:
            self.operator.terminate()
            try:
                self.operator.wait(15)
            except subprocess.TimeoutExpired:
                self.operator.kill()


def main(keep: bool = False) -> int:
    return Demo(keep).run()
