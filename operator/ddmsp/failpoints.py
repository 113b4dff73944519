"""Named crash points for the crash-safety tests (``DDMSP_CRASH_AT=<name>``).

A process started with ``DDMSP_CRASH_AT=after-create-call`` SIGKILLs itself the first
time it reaches that point, exactly like a node dying there. Unset in production.
"""

from __future__ import annotations

import os
import signal

ENV = "DDMSP_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
