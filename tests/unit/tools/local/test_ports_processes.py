"""tools.ports and tools.processes against real sockets and processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from sreplat.tools.local import ports, processes


def test_a_listening_port_is_taken_and_its_holder_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not ports.is_free(port)
        assert ports.taken([port]) == [port]
        holder = ports.holder(port)
        assert holder.pid == os.getpid()
        assert holder.command is not None and "python" in holder.command
    assert ports.is_free(port)
    assert ports.wait_free([port], timeout_s=5) == []


def test_a_wildcard_listener_blocks_loopback_too() -> None:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        assert not ports.is_free(sock.getsockname()[1])


def test_wait_free_returns_what_stays_taken() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert ports.wait_free([port], timeout_s=0.2) == [port]


def test_find_and_stop_by_marker_in_argv_or_environment(tmp_path: Path) -> None:
    marker = str(tmp_path / "env") + os.sep
    # Each child says so once it runs: until the exec, /proc shows the parent's argv and environment.
    sleeper = ["-c", "import time; print('up', flush=True); time.sleep(60)"]
    by_argv = subprocess.Popen([sys.executable, *sleeper, marker + "x"], stdout=subprocess.PIPE, text=True)
    by_env = subprocess.Popen(
        [sys.executable, *sleeper],
        env={**os.environ, "PYTHONPATH": marker + "src"},
        stdout=subprocess.PIPE,
        text=True,
    )
    other = subprocess.Popen([sys.executable, *sleeper], stdout=subprocess.PIPE, text=True)
    for child in (by_argv, by_env, other):
        assert child.stdout is not None and child.stdout.readline().strip() == "up"
    try:
        found = {f.pid for f in processes.find(marker)}
        assert found == {by_argv.pid, by_env.pid}
        processes.stop(sorted(found), grace_s=10)
        assert by_argv.wait(timeout=30) is not None and by_env.wait(timeout=30) is not None
        assert processes.find(marker) == []
        assert processes.alive(other.pid)
    finally:
        for child in (by_argv, by_env, other):
            child.kill()
            child.wait()
    assert not processes.alive(other.pid)


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ok', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ok"
    needed_kill = processes.stop([child.pid], grace_s=0.3)
    assert needed_kill == [child.pid]
    child.wait(timeout=30)
    assert child.returncode == -9
    time.sleep(0)
