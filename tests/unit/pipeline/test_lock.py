"""The per-environment lock, held by real separate processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sreplat.errors import ExitCode, LockHeld
from sreplat.pipeline import EnvironmentLock

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sreplat.pipeline import EnvironmentLock
    lock = EnvironmentLock(Path(sys.argv[1]), "local")
    lock.acquire("sreplat bootstrap")
    print("held", flush=True)
    sys.stdin.readline()  # hold until the test closes stdin
""")


def hold_in_child(state_dir: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    return child


def test_second_holder_fails_at_once_naming_the_first(tmp_path: Path) -> None:
    state_dir = tmp_path / "local"
    child = hold_in_child(state_dir)
    try:
        with pytest.raises(LockHeld) as info:
            EnvironmentLock(state_dir, "local").acquire("sreplat deploy")
        assert info.value.exit_code == ExitCode.LOCKED
        assert f"pid {child.pid}" in info.value.message
        assert "sreplat bootstrap" in info.value.message
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    # The holder exited: the lock is free again.
    lock = EnvironmentLock(state_dir, "local")
    lock.acquire("sreplat deploy")
    lock.release()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    child = hold_in_child(tmp_path)
    child.kill()
    child.wait(timeout=30)
    with EnvironmentLock(tmp_path, "local") as lock:
        lock.acquire("sreplat bootstrap")
        assert lock.held
    assert not lock.held


def test_a_lock_file_removed_by_its_holder_is_not_trusted(tmp_path: Path) -> None:
    """destroy deletes the state dir while holding the lock; a waiter must lock the new file."""
    first = EnvironmentLock(tmp_path, "local")
    first.acquire("sreplat destroy")
    first.path.unlink()
    second = EnvironmentLock(tmp_path, "local")
    second.acquire("sreplat bootstrap")  # a fresh file, not the unlinked one
    assert second.path.exists()
    second.release()
    first.release()
