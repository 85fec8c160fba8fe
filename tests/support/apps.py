"""Real sreplat-api / sreplat-worker processes for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Starts the API through the same entry point as the console script, but with `python -c` so a
# test can put a modified copy of the package first on PYTHONPATH.
API_ARGV = [sys.executable, "-c", "import sys; from sreplat_apps.boot.api import main; main(sys.argv[1:])"]
WORKER_ARGV = [
    sys.executable,
    "-c",
    "import sys; from sreplat_apps.worker.cli import main; main(sys.argv[1:])",
]


def app_env(redis_url: str, runtime_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an app process: this one's, minus anything that would make it share
    state with the test process or another test (metrics dir, OTLP export)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PROMETHEUS_", "OTEL_", "SREPLAT_"))
        and key not in ("REDIS_URL", "WEB_CONCURRENCY")
    }
    env.update(REDIS_URL=redis_url, SREPLAT_RUNTIME_DIR=str(runtime_dir), LOG_LEVEL="INFO")
    env.update(extra)
    return env


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def catches_signal(pid: int, signum: int) -> bool:
    """Whether ``pid`` has installed a handler for ``signum`` (its SigCgt mask in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0")
    return bool(int(caught, 16) & (1 << (signum - 1)))


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class AppProcess:
    """A process started in its own session, so ``kill_group`` takes all its children too."""

    argv: list[str]
    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: object = field(default=None, repr=False)

    def start(self) -> AppProcess:
        log = self.log_path.open("ab")
        self._log = log
        self.process = subprocess.Popen(
            self.argv, env=dict(self.env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def send(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def kill_group(self, signum: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL of the whole group if it does not exit in time."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.send(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_group()
                self.process.wait(timeout=10)
        self.kill_group()  # children that outlived their parent, if any
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
        return self.process.returncode

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


def start_api(env: Mapping[str, str], port: int, log_path: Path, *, workers: int | None = 2) -> AppProcess:
    """``workers=None``: the launcher's own default (one per available CPU)."""
    workers_flag = ["--workers", str(workers)] if workers is not None else []
    api = AppProcess([*API_ARGV, "--bind", f"127.0.0.1:{port}", *workers_flag], env, log_path).start()

    def healthy() -> bool:
        if not api.alive():
            raise AssertionError(f"sreplat-api exited early:\n{log_path.read_text()[-3000:]}")
        try:
            return http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200
        except OSError:
            return False

    try:
        wait_for(healthy, 30, "sreplat-api to answer /healthz")
    except BaseException:
        api.stop(timeout=5)  # never leave a half-started server behind a failed test
        raise
    return api


def start_worker(
    env: Mapping[str, str], log_path: Path, *, workers: int = 1, metrics_port: int = 0, burst: bool = False
) -> AppProcess:
    argv = [*WORKER_ARGV, "--workers", str(workers), "--metrics-port", str(metrics_port)]
    if burst:
        argv.append("--burst")
    return AppProcess(argv, env, log_path).start()
