"""How an external client tells the engine that it cannot finish now.

Two kinds of "not yet": ``Waiting`` clears by itself (an org not ready, a rate limit, a
human step the operator polls for) and is retried after ``delay``; ``Blocked`` needs a
human or a spec change (``Stalled=True``) and is not retried until the object changes.
"""

from __future__ import annotations


class ReconcileOutcome(Exception):
    """Base of the non-error outcomes; ``message`` goes to conditions and events."""

    def __init__(self, reason: str, message: str, *, phase: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.phase = phase


class Waiting(ReconcileOutcome):
    """Not there yet: retry after ``delay`` seconds, or, with ``delay=None``, when the
    object itself changes (a human step recorded in the spec)."""

    def __init__(
        self, reason: str, message: str, *, delay: float | None = 10.0, phase: str | None = None,
        event: bool = False,
    ) -> None:
        super().__init__(reason, message, phase=phase)
        self.delay = delay
        self.event = event


class Blocked(ReconcileOutcome):
    """Only a human or a spec change can unblock this (sets ``Stalled=True``)."""
