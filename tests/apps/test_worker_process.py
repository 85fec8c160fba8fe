"""``sreplat-worker`` as a real process: metrics across its worker processes, what it writes."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from redis import Redis
from sreplat_apps.contract import EchoRequest
from sreplat_apps.jobs import JobStore
from sreplat_apps.settings import Settings, package_version

from tests.support.apps import WORKER_ARGV, AppProcess, app_env, http_get, start_worker, wait_for
from tests.support.redis_server import free_port

pytestmark = [pytest.mark.redis, pytest.mark.e2e, pytest.mark.slow]


def _sample(text: str, name: str, labels: str) -> float | None:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def test_worker_metrics_add_up_across_its_processes_and_it_writes_only_under_the_runtime_dir(
    redis_url: str, tmp_path: Path, settings: Settings, redis_client: Redis
) -> None:
    port = free_port()
    runtime = tmp_path / "rt"
    worker = start_worker(app_env(redis_url, runtime), tmp_path / "worker.log", workers=2, metrics_port=port)
    try:
        store = JobStore(settings, redis_client)
        for n in range(12):
            store.enqueue(EchoRequest(task="echo", payload={"n": n}), idempotency_key=None, trace_context={})

        def processed() -> float | None:
            try:
                _status, body = http_get(f"http://127.0.0.1:{port}/metrics", timeout=2)
            except OSError:
                return None
            return _sample(body.decode(), "sreplat_jobs_processed_total", 'outcome="finished",task="echo"')

        wait_for(lambda: processed() == 12, 30, "12 finished jobs in the worker's /metrics")
        text = http_get(f"http://127.0.0.1:{port}/metrics")[1].decode()
        assert _sample(text, "sreplat_job_duration_seconds_count", 'task="echo"') == 12
        assert _sample(text, "sreplat_jobs_in_progress", 'task="echo"') == 0
        release = package_version()
        assert _sample(text, "sreplat_build_info", f'release="{release}",service="worker"') == 1
        logged = [json.loads(line) for line in worker.log_lines() if line.startswith("{")]
        finished = [line for line in logged if line["msg"] == "job finished"]
        assert len(finished) == 12
        assert all(line["service"] == "worker" and line["task"] == "echo" for line in finished)
    finally:
        assert worker.stop(timeout=30) == 0
    # Read-only root filesystem: nothing outside the runtime dir (HOME is this test's own).
    assert list((tmp_path / "home").iterdir()) == []
    assert (runtime / "metrics" / "worker").is_dir()


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("flags", "extra_env", "bound_to_all"),
    [
        ([], {}, True),  # the default, unchanged: scraped from other pods
        (["--metrics-host", "127.0.0.1"], {}, False),
        ([], {"WORKER_METRICS_HOST": "127.0.0.1"}, False),
    ],
    ids=["default", "flag", "environment"],
)
def test_worker_metrics_bind_address(
    redis_url: str, tmp_path: Path, flags: list[str], extra_env: dict[str, str], bound_to_all: bool
) -> None:
    # 127.0.0.2 reaches a socket bound to 0.0.0.0 (all of 127/8 is loopback), not one bound to
    # 127.0.0.1 only.
    port = free_port()
    env = app_env(redis_url, tmp_path / "rt", **extra_env)
    worker = AppProcess(
        [*WORKER_ARGV, "--workers", "1", "--metrics-port", str(port), *flags], env, tmp_path / "worker.log"
    ).start()
    try:
        wait_for(lambda: _accepts("127.0.0.1", port), 60, "the worker's /metrics")
        assert _accepts("127.0.0.2", port) is bound_to_all
    finally:
        assert worker.stop(timeout=30) == 0
