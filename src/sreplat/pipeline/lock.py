"""The per-environment lock: one mutating run (bootstrap, deploy, destroy) per environment.

``RunLock`` is what the CLI session takes around a run; each target supplies its own
(``Target.run_lock``). ``EnvironmentLock`` is the one for an environment that lives on this
machine: an advisory ``flock`` on ``<state dir>/lock``; the holder writes who it is into the file,
so a second run fails at once with ``LockHeld`` (exit 4) naming the holder. The kernel drops the
lock when the holder dies, so a crashed run never leaves a stale lock behind. (The gcp target's
lock is an object in its state bucket: ``tools/gcp/gcs_lock.py``.)
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from sreplat.errors import LockHeld

LOCK_FILE_NAME = "lock"


class RunLock(Protocol):
    """One mutating run per environment: ``acquire`` raises ``LockHeld`` (exit 4, naming the
    holder) when another run has it, and may return a note for the user (a stale lock it took
    over); ``watch`` names what to call, with the reason, if the lock is lost while held (the
    session stops the run there); ``release`` gives it back and never raises."""

    def acquire(self, purpose: str) -> str | None: ...

    def watch(self, on_lost: Callable[[str], None]) -> None: ...

    def release(self) -> None: ...


class EnvironmentLock:
    def __init__(self, state_dir: Path, env: str):
        self.path = state_dir / LOCK_FILE_NAME
        self.env = env
        self._fd: int | None = None

    def acquire(self, purpose: str) -> None:
        """Take the lock or raise LockHeld. Creates the state dir if needed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise LockHeld(
                    f"environment {self.env!r} is locked by {describe_holder(read_holder(self.path))}",
                    hint="wait for that run to finish (the lock goes when it exits)",
                ) from None
            # ``destroy`` removes the file while holding it: make sure we locked the live one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user": _user(),
            "purpose": purpose,
            "since": round(time.time(), 3),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd

    def watch(self, on_lost: Callable[[str], None]) -> None:
        """Nothing to watch: the kernel holds a flock until this process lets go or dies."""

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> EnvironmentLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def read_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder:
        return "another sreplat run"
    since = time.strftime("%H:%M:%S", time.localtime(float(holder.get("since", 0))))
    return (
        f"pid {holder.get('pid', '?')} ({holder.get('purpose', 'sreplat')}, "
        f"user {holder.get('user', '?')} on {holder.get('host', '?')}, since {since})"
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
