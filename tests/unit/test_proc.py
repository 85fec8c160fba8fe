"""proc.run against real child processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sreplat import proc
from sreplat.errors import ExitCode, ProcessFailed, ProcessTimeout, ToolMissing

PY = sys.executable


def test_captures_output_and_streams_lines() -> None:
    seen: list[str] = []
    result = proc.run([PY, "-c", "print('a'); print('b')"], on_stdout=seen.append)
    assert result.returncode == 0
    assert result.stdout == "a\nb"
    assert seen == ["a", "b"]


def test_env_is_added_to_the_environment() -> None:
    result = proc.run(
        [PY, "-c", "import os; print(os.environ['X_SREPLAT'], 'HOME' in os.environ)"], env={"X_SREPLAT": "42"}
    )
    assert result.stdout == "42 True"


def test_failure_names_the_tool_code_and_last_stderr_line_with_secrets_redacted() -> None:
    with pytest.raises(ProcessFailed) as info:
        proc.run(
            [PY, "-c", "import sys; print('token hunter2 rejected', file=sys.stderr); sys.exit(3)"],
            secrets=["hunter2"],
        )
    assert info.value.returncode == 3
    assert "hunter2" not in info.value.message
    assert "***" in info.value.message and "code 3" in info.value.message


def test_ok_codes_accept_documented_non_zero_exits() -> None:
    assert proc.run([PY, "-c", "raise SystemExit(2)"], ok_codes=(0, 2)).returncode == 2


def test_missing_tool_raises_with_hint() -> None:
    with pytest.raises(ToolMissing) as info:
        proc.run(["no-such-tool-sreplat"], install_hint="apt-get install it")
    assert info.value.hint == "apt-get install it"


def test_timeout_stops_the_child() -> None:
    started = time.monotonic()
    with pytest.raises(ProcessTimeout):
        proc.run([PY, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert time.monotonic() - started < 15


def test_secrets_are_redacted_from_returned_argv() -> None:
    result = proc.run([PY, "-c", "pass", "--password=s3cret"], secrets=["s3cret"])
    assert result.argv[-1] == "--password=***"


def test_ctrl_c_forwards_exactly_one_sigint_and_waits(tmp_path: Path) -> None:
    """The parent gets two SIGINTs; the child sees one, finishes its cleanup, parent exits 130."""
    marker = tmp_path / "child.log"
    child_code = textwrap.dedent(f"""
        import signal, time, pathlib
        log = pathlib.Path({str(marker)!r})
        def on_int(*_):
            with log.open("a") as f: f.write("sigint\\n")
        signal.signal(signal.SIGINT, on_int)
        print("ready", flush=True)
        deadline = time.time() + 1.5
        while time.time() < deadline:
            time.sleep(0.05)
        with log.open("a") as f: f.write("cleanup-done\\n")
    """)
    parent_code = textwrap.dedent(f"""
        import signal, sys
        # Python's Ctrl-C handler even when the test runs in a job that ignores SIGINT.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from sreplat import proc
        from sreplat.errors import Interrupted
        try:
            proc.run([sys.executable, "-c", {child_code!r}], on_stdout=lambda l: print(l, flush=True))
        except Interrupted:
            sys.exit(130)
    """)
    parent = subprocess.Popen([PY, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    assert parent.stdout.readline().strip() == "ready"
    parent.send_signal(signal.SIGINT)
    time.sleep(0.3)
    parent.send_signal(signal.SIGINT)
    assert parent.wait(timeout=20) == ExitCode.INTERRUPTED
    assert marker.read_text().splitlines() == ["sigint", "cleanup-done"]
