"""Find and stop processes that belong to an environment, by what they run from (Linux
``/proc``): the state dir in their command line, their environment or their working directory.
``destroy`` uses it to make sure nothing of an environment runs afterwards, and ``bootstrap`` to
find the processes an environment's dead supervisord left behind.

The working directory matters: redis-server rewrites its command line ("redis-server
127.0.0.1:6379") and has no state path in its environment, but runs in its data dir. Never by
name: two environments run the same programs. A process this one runs under (a shell cd'd into
the state dir) is never one of them.
"""

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
    cwd: str = ""


def find(marker: str) -> list[Found]:
    """Processes (other than this one and those it runs under) whose argv or environment contains
    ``marker`` (a path ending with a separator), or whose working directory is under it."""
    needle = os.fsencode(marker)
    found = []
    exclude = {os.getpid(), *_ancestors()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if not cmdline:
                continue  # kernel thread or zombie
            environ = b""
            with contextlib.suppress(OSError):
                environ = (entry / "environ").read_bytes()
            cwd = ""
            with contextlib.suppress(OSError):
                cwd = os.readlink(entry / "cwd")
            if needle in cmdline or needle in environ or (cwd + os.sep).startswith(marker):
                command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
                found.append(Found(int(entry.name), command, cwd))
    return found


def _ancestors() -> set[int]:
    pids, pid = set(), os.getppid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[-1].split()[1])
    return pids


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


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, ``/proc/<pid>/stat``), None if it is gone:
    with the pid, it names one process even after the pid is reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return int(fields[19]) if fields[0] != "Z" else None  # field 22 of stat(5): starttime


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
