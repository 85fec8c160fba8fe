"""tools.supervisor against a real supervisord running small Python programs."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sreplat.tools.local import processes
from sreplat.tools.local.supervisor import Program, Supervisor, SupervisorConfig, socket_path_for

# Writes "hup" to a file on SIGHUP, otherwise sleeps.
SLEEPER = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGHUP, lambda *a: open(sys.argv[1], 'a').write('hup\\n'))\n"
    "open(sys.argv[1] + '.ready', 'w').close()\n"
    "while True: time.sleep(0.1)\n"
)


def wait_for(predicate: object, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    run_dir = tmp_path / "run"
    logs = tmp_path / "logs"
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    programs = (
        Program(
            name="sleeper",
            command=(sys.executable, str(script), str(tmp_path / "hups.txt")),
            stdout_log=logs / "sleeper.log",
            environment={"MARKER": "100%"},  # a % must survive supervisord's expansion
            startsecs=0,
        ),
        Program(
            name="pool-1",
            command=(sys.executable, str(script), str(tmp_path / "pool.txt")),
            stdout_log=logs / "pool-1.log",
            group="pool",
            startsecs=0,
        ),
    )
    sup = Supervisor(SupervisorConfig(run_dir, logs, "sreplat-test", programs, socket_path_for(run_dir)))
    sup.write_config()
    try:
        yield sup
    finally:
        pid = sup.pid()
        with contextlib.suppress(Exception):
            sup.shutdown(timeout_s=30)
        if pid and processes.alive(pid):
            os.kill(pid, signal.SIGKILL)
        processes.stop([f.pid for f in processes.find(str(tmp_path) + os.sep)])


def test_config_renders_programs_groups_and_escapes_percent(supervisor: Supervisor) -> None:
    text = supervisor.config.conf_path.read_text()
    assert "[program:sleeper]" in text and "[group:pool]\nprograms=pool-1" in text
    assert 'MARKER="100%%"' in text
    assert "autostart=false" in text and "stopasgroup=true" in text
    assert supervisor.write_config() is False  # unchanged content is not rewritten


def test_lifecycle_restart_on_crash_signal_and_shutdown(supervisor: Supervisor, tmp_path: Path) -> None:
    assert not supervisor.running()
    supervisor.start()
    assert supervisor.running()
    daemon = supervisor.pid()
    assert daemon is not None

    supervisor.start_process("sleeper", wait=True)
    supervisor.start_process("pool-1", wait=True)
    first = supervisor.process("sleeper")
    assert first.running and first.pid > 0
    assert supervisor.process("pool-1").group == "pool"
    assert supervisor.restarts("sleeper").count == 0

    wait_for((tmp_path / "hups.txt.ready").exists, "the handler to be installed")
    supervisor.signal("sleeper", "HUP")
    wait_for((tmp_path / "hups.txt").exists, "the HUP to arrive")

    os.kill(first.pid, signal.SIGKILL)  # a crash: supervisord must start it again
    wait_for(
        lambda: supervisor.process("sleeper").running and supervisor.process("sleeper").pid != first.pid,
        "the restart",
    )
    restarts = supervisor.restarts("sleeper")
    assert restarts.count == 1
    assert restarts.last_reason is not None and "SIGKILL" in restarts.last_reason

    supervisor.stop_process("pool-1")
    assert supervisor.process("pool-1").state == "STOPPED"

    supervisor.shutdown(timeout_s=60)
    assert not processes.alive(daemon)
    assert not supervisor.running()
    assert not supervisor.config.socket_path.exists()
    assert processes.find(str(tmp_path) + os.sep) == []


def test_start_is_idempotent_and_recovers_a_stale_socket(supervisor: Supervisor) -> None:
    supervisor.start()
    pid = supervisor.pid()
    supervisor.start()
    assert supervisor.pid() == pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # leaves its socket file behind
    wait_for(lambda: not processes.alive(pid), "supervisord to die")
    assert supervisor.config.socket_path.exists()
    supervisor.start()
    assert supervisor.running() and supervisor.pid() != pid


def test_multi_line_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot span lines"):
        Program("x", ("python", "-c", "a\nb"), tmp_path / "x.log").render()


def test_long_state_paths_get_a_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    path = socket_path_for(deep)
    assert len(str(path)) <= 100
    assert socket_path_for(deep) == path  # stable
    assert socket_path_for(tmp_path / "run") == tmp_path / "run" / "supervisor.sock"
