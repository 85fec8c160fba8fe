"""TCP ports: is one free, who holds it, wait until free.

``holder`` reads ``/proc`` (Linux) to name the process listening on a port, so an error can say
"port 6379 is taken by redis-server (pid 812)" instead of just "in use".
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


@dataclass(frozen=True)
class PortHolder:
    port: int
    pid: int | None
    command: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "another process"
        return f"{self.command or 'pid'} (pid {self.pid})"


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listening socket could bind ``host:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: a port left in TIME_WAIT by a stopped server counts as free, as it will
        # for the server we are about to start.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    # A listener on the wildcard or another loopback address also makes ``port`` unusable.
    return _listening_inode(port) is None


def taken(ports: Iterable[int], host: str = "127.0.0.1") -> list[int]:
    return [p for p in ports if not is_free(p, host)]


def holder(port: int) -> PortHolder:
    """Who listens on ``port`` (best effort: pid and command are None when /proc says nothing)."""
    inode = _listening_inode(port)
    if inode is None:
        return PortHolder(port, None, None)
    target = f"socket:[{inode}]"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == target:
                        return PortHolder(port, int(entry.name), _command(entry))
    return PortHolder(port, None, None)


def wait_free(ports: Iterable[int], *, timeout_s: float, host: str = "127.0.0.1") -> list[int]:
    """Wait until every port is free; return those still taken after ``timeout_s``."""
    wanted = list(ports)
    deadline = time.monotonic() + timeout_s
    while True:
        busy = taken(wanted, host)
        if not busy or time.monotonic() >= deadline:
            return busy
        time.sleep(0.1)


def _listening_inode(port: int) -> str | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                return fields[9]
    return None


def _command(proc_dir: Path) -> str | None:
    try:
        argv = (proc_dir / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return os.path.basename(argv[0].decode(errors="replace")) if argv and argv[0] else None
