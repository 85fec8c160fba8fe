"""The record of a rollout in progress, so that one a dead deploy left half-done is found.

A deploy writes it (into the release state) before it switches ``current`` or touches a process,
and removes it once the processes run the release, or run the previous one again after a
rollback. A record whose deploy is gone (``kill -9``, a Ctrl-C, a machine that went down) means
some processes may still run the old release or be stopped: ``status`` says so and names the
command that finishes it (``deploy --sha`` of the same commit) or rolls it back, and the next
``bootstrap`` or ``deploy`` finishes it. The deploy is identified by its pid and the kernel's
start time of that pid, so a reused pid is not mistaken for it.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from sreplat.tools.local import processes
from sreplat.tools.local.release_dirs import ReleaseDirs

KEY = "rollout"


@dataclass(frozen=True)
class Rollout:
    release: str  # what the processes are being moved to
    previous: str | None  # what they ran before (a deploy of it rolls back)
    pid: int
    pid_started: int  # the kernel's start time of ``pid`` (clock ticks since boot)
    started_at: float
    rollback_of: str | None = None  # set while rolling back from a failed release

    @property
    def alive(self) -> bool:
        """Whether the deploy that wrote this still runs."""
        return processes.start_ticks(self.pid) == self.pid_started

    def what(self) -> str:
        if self.rollback_of:
            return f"rollback to {self.release[:12]} (after {self.rollback_of[:12]} failed)"
        return f"deploy of {self.release[:12]}"


def begin(store: ReleaseDirs, *, release: str, previous: str | None, rollback_of: str | None = None) -> None:

    pid = os.getpid()
    record = Rollout(
        release, previous, pid, processes.start_ticks(pid) or 0, round(time.time(), 3), rollback_of
    )
    store.save_state(**{KEY: asdict(record)})


def end(store: ReleaseDirs) -> None:
    store.save_state(**{KEY: None})


def read(store: ReleaseDirs) -> Rollout | None:
    data: Any = store.state().get(KEY)
    if not isinstance(data, dict):
        return None
    try:
        return Rollout(**data)
    except TypeError:
        return None
