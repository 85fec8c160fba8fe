"""supervisord (the ``supervisor`` package): its config, its start, and its XML-RPC interface.

We talk to supervisord over its unix socket with XML-RPC (supervisor's own ``supervisor.*``
methods), through a small transport with timeouts so a hung daemon cannot hang a run.
supervisord is started with ``proc.run([python, -m, supervisor.supervisord, -c, conf])``; it
daemonises itself (closing our pipes), and we wait for its socket to answer.

``restarts(name)`` counts the unexpected exits supervisord logged for a program: supervisord
restarts a crashed process, and ``status`` shows that it did.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shlex
import signal
import socket
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sreplat import proc
from sreplat.errors import OperationFailed
from sreplat.tools.local.processes import alive as _alive

# Unix socket paths are limited to 108 bytes on Linux.
_MAX_SOCKET_PATH = 100
RPC_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Program:
    """One ``[program:x]`` section. Defaults: started by us (not autostart), restarted on any
    unexpected exit, stopped with its whole process group (gunicorn workers, RQ work horses)."""

    name: str
    command: Sequence[str]
    stdout_log: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    directory: Path | None = None
    stopsignal: str = "TERM"
    stopwaitsecs: int = 30
    startsecs: int = 1
    startretries: int = 20
    priority: int = 100
    group: str | None = None

    def render(self) -> str:
        if any("\n" in part for part in (*self.command, *self.environment.values())):
            raise ValueError(f"program {self.name}: supervisord config values cannot span lines")
        lines = [
            f"[program:{self.name}]",
            f"command={_escape(shlex.join(self.command))}",
            "autostart=false",
            "autorestart=true",
            f"startsecs={self.startsecs}",
            f"startretries={self.startretries}",
            f"stopsignal={self.stopsignal}",
            f"stopwaitsecs={self.stopwaitsecs}",
            "stopasgroup=true",
            "killasgroup=true",
            f"priority={self.priority}",
            "redirect_stderr=true",
            f"stdout_logfile={_escape(str(self.stdout_log))}",
            "stdout_logfile_maxbytes=10MB",
            "stdout_logfile_backups=3",
        ]
        if self.directory is not None:
            lines.append(f"directory={_escape(str(self.directory))}")
        if self.environment:
            pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in self.environment.items())
            lines.append(f"environment={pairs}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SupervisorConfig:
    """A whole supervisord.conf: the daemon's files live in ``run_dir``, its log in ``log_dir``."""

    run_dir: Path
    log_dir: Path
    identifier: str
    programs: tuple[Program, ...]
    socket_path: Path

    @property
    def conf_path(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "supervisord.pid"

    @property
    def logfile(self) -> Path:
        return self.log_dir / "supervisord.log"

    def render(self) -> str:
        head = f"""\
; written by sreplat: changes are overwritten
[unix_http_server]
file={_escape(str(self.socket_path))}
chmod=0700

[supervisord]
logfile={_escape(str(self.logfile))}
logfile_maxbytes=10MB
logfile_backups=3
loglevel=info
pidfile={_escape(str(self.pidfile))}
directory={_escape(str(self.run_dir))}
childlogdir={_escape(str(self.log_dir))}
identifier={self.identifier}
nodaemon=false
minfds=1024
umask=022

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{_escape(str(self.socket_path))}
"""
        groups: dict[str, list[str]] = {}
        for program in self.programs:
            if program.group:
                groups.setdefault(program.group, []).append(program.name)
        body = "\n".join(p.render() for p in self.programs)
        group_sections = "".join(
            f"\n[group:{g}]\nprograms={','.join(names)}\n" for g, names in groups.items()
        )
        return head + "\n" + body + group_sections


def socket_path_for(run_dir: Path) -> Path:
    """``run_dir/supervisor.sock``, or a short path under the temp dir when that is too long."""
    preferred = run_dir / "supervisor.sock"
    if len(os.fsencode(preferred)) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(os.fsencode(run_dir.resolve())).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"sreplat-{os.getuid()}" / f"{digest}.sock"


def _escape(value: str) -> str:
    # supervisord expands %(name)s in values: a literal % must be doubled.
    return value.replace("%", "%%")


# --- XML-RPC over the unix socket ------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float):
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path, self._timeout)


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    group: str
    state: str  # STOPPED STARTING RUNNING BACKOFF STOPPING EXITED FATAL UNKNOWN
    pid: int
    started_at: float
    uptime_s: float
    exit_status: int
    spawn_error: str
    description: str

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"

    @classmethod
    def from_rpc(cls, info: Mapping[str, Any]) -> ProcessInfo:
        start = float(info.get("start") or 0)
        now = float(info.get("now") or time.time())
        return cls(
            name=str(info["name"]),
            group=str(info.get("group", info["name"])),
            state=str(info.get("statename", "UNKNOWN")),
            pid=int(info.get("pid") or 0),
            started_at=start,
            uptime_s=max(0.0, now - start) if start and info.get("statename") == "RUNNING" else 0.0,
            exit_status=int(info.get("exitstatus") or 0),
            spawn_error=str(info.get("spawnerr") or ""),
            description=str(info.get("description") or ""),
        )

    @property
    def full_name(self) -> str:
        """The name supervisord's RPC wants: ``group:name`` for grouped programs."""
        return self.name if self.group == self.name else f"{self.group}:{self.name}"


@dataclass(frozen=True)
class Restarts:
    count: int
    last_reason: str | None


_EXITED = re.compile(r"exited: (?P<name>\S+) \((?P<reason>[^;)]*); not expected\)")


class Supervisor:
    """A handle on one supervisord (which may not be running)."""

    def __init__(self, config: SupervisorConfig):
        self.config = config

    def _rpc(self, timeout: float = RPC_TIMEOUT_S) -> Any:
        transport = _UnixTransport(str(self.config.socket_path), timeout)
        return xmlrpc.client.ServerProxy("http://localhost", transport=transport, allow_none=True).supervisor

    def call(self, method: str, *args: Any, timeout: float = RPC_TIMEOUT_S) -> Any:
        """Call ``supervisor.<method>``; OperationFailed if supervisord does not answer properly."""
        try:
            return getattr(self._rpc(timeout), method)(*args)
        except xmlrpc.client.Fault as fault:
            raise OperationFailed(f"supervisord refused {method}{args!r}: {fault.faultString}") from None
        except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as exc:
            raise OperationFailed(f"supervisord did not answer {method}: {exc}") from None

    # --- lifecycle ---------------------------------------------------------------------------

    def running(self) -> bool:
        """Whether supervisord answers on its socket and is RUNNING."""
        if not self.config.socket_path.exists():
            return False
        try:
            state = self._rpc(timeout=5).getState()
        except (OSError, http.client.HTTPException, xmlrpc.client.Error):
            return False
        return isinstance(state, dict) and state.get("statename") == "RUNNING"

    def pid(self) -> int | None:
        """supervisord's pid from its pidfile, if that process is alive."""
        try:
            pid = int(self.config.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def write_config(self) -> bool:
        """Write supervisord.conf; True if its content changed."""
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        self.config.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = self.config.render()
        path = self.config.conf_path
        if path.exists() and path.read_text(encoding="utf-8") == text:
            return False
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return True

    def start(self, *, timeout_s: float = 30.0) -> None:
        """Start supervisord (it daemonises) and wait until its socket answers."""
        if self.running():
            return
        stale = self.config.socket_path
        if stale.exists() and self.pid() is None:
            stale.unlink()  # left by a killed supervisord; it refuses to start otherwise
        proc.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.config.conf_path)],
            timeout=timeout_s,
            install_hint="pip install supervisor",
        )
        deadline = time.monotonic() + timeout_s
        while not self.running():
            if time.monotonic() > deadline:
                raise OperationFailed(
                    f"supervisord did not answer within {timeout_s:.0f}s", hint=f"see {self.config.logfile}"
                )
            time.sleep(0.05)

    def shutdown(self, *, timeout_s: float = 120.0) -> None:
        """Stop every program (gracefully, in reverse priority) and supervisord itself; wait."""
        pid = self.pid()
        if self.running():
            with contextlib.suppress(OperationFailed):
                self.call("stopAllProcesses", True, timeout=timeout_s)
            with contextlib.suppress(OperationFailed):
                self.call("shutdown")
        elif pid is not None:
            os.kill(pid, signal.SIGTERM)  # not answering but alive: ask it the classic way
        if pid is not None and not _wait_gone(pid, timeout_s):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        with contextlib.suppress(FileNotFoundError):
            self.config.socket_path.unlink()

    def add_new_programs(self) -> list[str]:
        """Make a running supervisord re-read its config and manage the programs added there
        (``reloadConfig`` + ``addProcessGroup``; changed or removed ones are left as they are).
        Returns the groups added."""
        added, _changed, _removed = self.call("reloadConfig")[0]
        for group in added:
            self.call("addProcessGroup", group)
        return list(added)

    # --- programs --------------------------------------------------------------------------------

    def processes(self) -> list[ProcessInfo]:
        return [ProcessInfo.from_rpc(info) for info in self.call("getAllProcessInfo")]

    def process(self, name: str) -> ProcessInfo:
        return ProcessInfo.from_rpc(self.call("getProcessInfo", self.full_name(name)))

    def full_name(self, name: str) -> str:
        for program in self.config.programs:
            if program.name == name and program.group:
                return f"{program.group}:{name}"
        return name

    def start_process(self, name: str, *, wait: bool = False, timeout_s: float = 120.0) -> ProcessInfo:
        """Start ``name`` unless it is running or starting.

        ``wait``: return only once supervisord calls it RUNNING (alive ``startsecs``); without it,
        callers check readiness their own way (a PING, ``/readyz``), which is what matters.
        """
        info = self.process(name)
        if info.state in ("RUNNING", "STARTING", "BACKOFF"):
            # BACKOFF: restarting on its own after a crash; supervisord retries by itself.
            return info
        try:
            self.call("startProcess", self.full_name(name), wait, timeout=timeout_s)
        except OperationFailed as exc:
            raise OperationFailed(
                f"{name} did not start: {exc.message}",
                hint=f"see {self._log_of(name)}",
                detail=self._tail(name),
            ) from None
        return self.process(name)

    def stop_process(self, name: str, *, timeout_s: float = 180.0) -> None:
        """Stop ``name`` and wait until it stopped. One already STOPPING (a stop asked by a run
        that died meanwhile) is waited for: supervisord refuses to stop it again."""
        deadline = time.monotonic() + timeout_s
        info = self.process(name)
        while info.state == "STOPPING" and time.monotonic() < deadline:
            time.sleep(0.2)
            info = self.process(name)
        if info.state in ("STOPPED", "EXITED", "FATAL", "STOPPING"):
            return
        self.call("stopProcess", self.full_name(name), True, timeout=timeout_s)

    def log_tail(self, name: str, lines: int = 20) -> str:
        """The last ``lines`` of the log supervisord writes for ``name``."""
        return self._tail(name, lines)

    def signal(self, name: str, sig: str) -> None:
        self.call("signalProcess", self.full_name(name), sig)

    def restarts(self, name: str) -> Restarts:
        """Unexpected exits supervisord logged for ``name`` (each one was followed by a restart)."""
        try:
            text = self.config.logfile.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return Restarts(0, None)
        count, last = 0, None
        for match in _EXITED.finditer(text):
            if match["name"] == name:
                count += 1
                last = match["reason"]
        return Restarts(count, last)

    def _log_of(self, name: str) -> Path:
        program = next((p for p in self.config.programs if p.name == name), None)
        return program.stdout_log if program else self.config.logfile

    def _tail(self, name: str, lines: int = 20) -> str:
        try:
            text = self._log_of(name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
