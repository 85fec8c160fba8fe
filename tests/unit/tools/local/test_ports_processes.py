"""tools.ports and tools.processes against real sockets and processes."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sreplat.tools.local import ports, processes
from tests.support.redis_server import free_port


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


def test_stop_kills_what_ignores_sigterm() -> None:
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


@pytest.mark.redis
def test_a_redis_server_is_found_by_the_directory_it_runs_in(tmp_path: Path) -> None:
    """Issue 15: destroy left an orphaned redis-server running. Under supervisord it is started
    as ``redis-server <state>/redis/redis.conf`` in ``<state>/redis/data``, but it rewrites its
    argv ("redis-server 127.0.0.1:PORT") and has no state path in its environment: only its
    working directory still says which environment it belongs to."""
    state = tmp_path / "state" / "env"
    data = state / "redis" / "data"
    data.mkdir(parents=True)
    conf = state / "redis" / "redis.conf"
    port = free_port()
    conf.write_text(f'port {port}\nbind 127.0.0.1\ndir {data}\nappendonly yes\nsave ""\n')
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", str(conf)],
        cwd=data,
        env={"PATH": os.environ["PATH"]},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while ports.is_free(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert str(conf).encode() not in argv  # the title rewrite this test is about
        found = processes.find(str(state) + os.sep)
        assert [f.pid for f in found] == [server.pid]
        assert found[0].cwd == str(data)
        processes.stop([server.pid], grace_s=30)  # SIGTERM: redis shuts down cleanly
        assert server.wait(timeout=30) == 0
    finally:
        server.kill()
        server.wait()


def test_a_process_we_run_under_is_never_found(tmp_path: Path) -> None:
    """A shell cd'd into the state dir that runs sreplat is not the environment's process."""
    state = tmp_path / "state" / "env"
    state.mkdir(parents=True)
    # The marker is the working directory: neither the shell's argv nor its environment has it.
    inner = (
        "import os; from sreplat.tools.local import processes; "
        "print([f.pid for f in processes.find(os.getcwd() + os.sep)])"
    )
    shell = subprocess.run(
        ["sh", "-c", f'echo "$$"; {shlex.quote(sys.executable)} -c {shlex.quote(inner)}'],
        cwd=state,
        capture_output=True,
        text=True,
        check=True,
    )
    shell_pid, found = shell.stdout.splitlines()
    assert found == "[]", f"the shell {shell_pid} running the lookup was found"
