"""The cancel token: how Ctrl-C reaches every wait of a run.

The pipeline runner makes one per run and cancels it on Ctrl-C; each step gets it
(``StepContext.cancel``) and hands it to what waits on its behalf — a ``Deadline``, a poll of a
load balancer, a Cloud Build, a rollout. Waits sleep on the token, so they wake at once and raise
``Interrupted`` (exit 130) instead of sleeping out their interval. It is a core module, like
``events``: the pipeline and the tools both use it without importing each other.
"""

from __future__ import annotations

import threading

from sreplat.errors import Interrupted


class CancelToken:
    """Set when the run must stop (Ctrl-C)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(max(seconds, 0.0))

    def raise_if_cancelled(self, what: str) -> None:
        if self.cancelled:
            raise Interrupted(f"interrupted while {what}")

    def sleep(self, seconds: float, what: str) -> None:
        """Sleep ``seconds``; Interrupted as soon as the run is cancelled."""
        if self.wait(seconds):
            raise Interrupted(f"interrupted while {what}")
