"""Logs for people: one INFO line per meaningful change, routine at DEBUG, text or JSON.

Why: an operator's log is read when something went wrong. kopf logs every handler and timer
success at INFO ("Timer 'saml-metadata-poll' succeeded." was 557 of 678 lines over a few
minutes of use) and every planned wait as an ERROR; neither says anything. Here kopf's own
formatters are used (its per-object lines carry the object: ``[namespace/name]`` in text,
an ``object`` field in JSON), routine successes go to DEBUG, planned waits to INFO, and the
engine adds one line per event it posts and per change of an object's Ready condition
(reconcile/engine.py), naming kind, namespace/name and org.
"""

from __future__ import annotations

import logging
import re
from typing import Literal

import kopf

LogFormat = Literal["text", "json"]
ROUTINE = re.compile(r"^(Handler|Timer|Daemon) '[^']+' succeeded\.?$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RoutineToDebug(logging.Filter):
    """kopf's routine successes at DEBUG (per-object handlers, timers, daemons: startup and
    cleanup activities stay, once per process, they show a clean start and stop); its
    TemporaryError reports (planned waits in
    ddmsp: DPN registration, an org not Ready yet, a rate-limit reset) at INFO."""

    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if record.levelno <= logging.INFO and ROUTINE.match(message):  # another handler's
            # filter may have demoted this very record already
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.verbose
        if record.levelno == logging.ERROR and "failed temporarily" in message:
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def configure(log_format: LogFormat = "text", *, verbose: bool = False) -> None:
    """Root logging for ``ddmsp run``: kopf's object-aware formatter, our filter."""
    kopf.configure(
        verbose=verbose,
        log_format=kopf.LogFormat.JSON if log_format == "json" else TEXT_FORMAT,  # type: ignore[arg-type]
        log_prefix=log_format != "json",
        log_refkey="object",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RoutineToDebug(verbose))
