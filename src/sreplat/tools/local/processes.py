"""Find and stop processes that belong to an environment, by a marker in their command line or
environment (Linux ``/proc``). ``destroy`` uses it to make sure nothing of an environment runs
afterwards, even a process that escaped its supervisor."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Found:
    pid: int
    command: str


def find(marker: str) -> list[Found]:
    """Processes (other than this one) whose argv or environment contains ``marker``."""
    needle = os.fsencode(marker)
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if not cmdline:
                continue  # kernel thread or zombie
            environ = b""
            with contextlib.suppress(OSError):
                environ = (entry / "environ").read_bytes()
            if needle in cmdline or needle in environ:
                command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
                found.append(Found(int(entry.name), command))
    return found


def stop(pids: list[int], *, grace_s: float = 10.0) -> list[int]:
    """SIGTERM ``pids``, SIGKILL what is left after ``grace_s``; return the pids that needed it."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    remaining = list(pids)
    while remaining and time.monotonic() < deadline:
        remaining = [p for p in remaining if alive(p)]
        time.sleep(0.05)
    for pid in remaining:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return remaining


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, exited but not reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if Path("/proc/self").exists():
            return False
        try:  # no /proc: ask the kernel the portable way
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
