"""Wait until the operator has provably done N passes, instead of sleeping and hoping.

Why: a negative assertion ("N drift passes changed nothing") after a fixed sleep passes
without a single pass having happened on a slow machine, and wastes time on a fast one.
These helpers wait on something the passes leave behind: the simulator's count of one
concrete request (a drift pass of a role reads ``GET /api/v2/roles/<id>``), or the operator's
``ddmsp_reconciles_total`` metric (a waiting object's passes make no Datadog request).
"""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

from ddmsp.simulator.server import RunningSimulator
from tests.support.operator import wait_for


def requests_seen(sim: RunningSimulator, *requests: str) -> dict[str, int]:
    """The simulator's answered count of each ``"METHOD /concrete/path"`` now."""
    return {r: sim.request_count(r) for r in requests}


def wait_requests(sim: RunningSimulator, *requests: str, n: int = 2, timeout: float = 90,
                  since: dict[str, int] | None = None) -> dict[str, int]:
    """Wait until each request was answered ``n`` more times than at ``since`` (default: now),
    i.e. ``n`` passes that make it have happened; returns the counts reached."""
    base = since if since is not None else requests_seen(sim, *requests)

    def done() -> dict[str, int] | None:
        now = requests_seen(sim, *base)
        return now if all(now[r] >= base[r] + n for r in base) else None

    return wait_for(done, timeout=timeout, interval=0.2,  # type: ignore[no-any-return]
                    what=f"{n} more answers to each of {sorted(base)} (from {base})")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for the operator's --metrics-port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Outcome = str | tuple[str, ...] | None


def reconciles(port: int, kind: str | None = None, outcome: Outcome = None) -> float:
    """``ddmsp_reconciles_total`` from the operator's metrics endpoint, summed over the
    series matching ``kind`` and ``outcome`` (one or several; all if None); 0 while it is
    not serving."""
    outcomes = (outcome,) if isinstance(outcome, str) else outcome
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if not line.startswith("ddmsp_reconciles_total{"):
            continue
        labels, value = line.rsplit(" ", 1)
        if kind is not None and f'kind="{kind}"' not in labels:
            continue
        if outcomes is not None and not any(f'outcome="{o}"' in labels for o in outcomes):
            continue
        total += float(value)
    return total


def wait_reconciles(port: int, n: int = 2, kind: str | None = None,
                    outcome: Outcome = None, timeout: float = 90,
                    since: float | None = None) -> None:
    """Wait until ``n`` more passes (of ``kind``, ending in ``outcome``) than at ``since``
    (a ``reconciles`` reading; default: now) have finished. A pass is counted after its
    status write, so its verdict is visible by then."""
    base = reconciles(port, kind, outcome) if since is None else since
    wait_for(lambda: reconciles(port, kind, outcome) >= base + n, timeout=timeout,
             interval=0.2, what=f"{n} more {kind or 'any'} passes "
                                f"({outcome or 'any outcome'}) than {base}")


def passes(port: int, kind: str) -> float:
    """Every finished pass of ``kind`` (``ddmsp_reconcile_duration_seconds_count``): deletion
    passes too, which ``ddmsp_reconciles_total`` does not count (it counts verdicts); 0
    while the operator is not serving."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    series = f'ddmsp_reconcile_duration_seconds_count{{kind="{kind}"}} '
    return sum(float(line[len(series):]) for line in text.splitlines()
               if line.startswith(series))


def wait_passes(port: int, n: int, kind: str, since: float, timeout: float = 90) -> float:
    """Wait until ``n`` more passes of ``kind`` than ``since`` (a ``passes`` reading) have
    finished; passes of one object are serialized, so the ``n``-th began after the
    ``n-1``-th ended. Returns the count reached."""
    found: float = wait_for(lambda: (c := passes(port, kind)) >= since + n and c,
                            timeout=timeout, interval=0.2,
                            what=f"{n} more {kind} passes than {since}")
    return found


def metered(operator: Any) -> int:
    """Give a not yet started operator (the integration ``Operator``, or anything with a
    ``process.extra_args`` list) a plain-HTTP metrics port; returns the port."""
    port = free_port()
    operator.process.extra_args += ["--metrics-port", str(port)]
    return port


WITNESS_KIND = "DatadogRole"


def add_waiting_witness(operator: Any, name: str = "witness") -> None:
    """Apply a DatadogRole whose org does not exist: it waits (OrgNotReady) and is polled
    every --wait-poll (with backoff), without a Datadog call. A stalled object has no pass
    to wait for; this one's passes (``wait_reconciles(port, n, WITNESS_KIND, "waiting")``)
    show that the operator went on working while the stalled one stayed still."""
    operator.apply("datadogroles", {
        "kind": "DatadogRole", "metadata": {"name": name},
        "spec": {"orgRef": {"name": f"{name}-no-such-org"}, "permissions": []}})
