"""``sreplat_job_queue_wait_seconds``: how long a job waited for a worker (the job-freshness SLI),
observed by the real worker class (in this process, burst mode) on real Redis."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sreplat_apps.settings import Settings
from sreplat_apps.worker.runner import run_worker

from tests.apps.conftest import post_process

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def _restore_signal_handlers() -> Iterator[None]:
    # The RQ work loop installs SIGINT/SIGTERM handlers in this (pytest's) process.
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _wait(suffix: str, **labels: str) -> float:
    return (
        REGISTRY.get_sample_value(f"sreplat_job_queue_wait_seconds{suffix}", {"task": "sha256", **labels})
        or 0.0
    )


def test_a_job_that_waited_is_counted_above_the_thresholds_it_missed(
    client: FlaskClient, settings: Settings
) -> None:
    before = {
        "count": _wait("_count"),
        "sum": _wait("_sum"),
        "fast": _wait("_bucket", le="0.25"),
        "slow": _wait("_bucket", le="5.0"),
    }
    for _ in range(2):
        assert post_process(client, {"task": "sha256", "payload": {"data": "x"}}).status_code == 202
    time.sleep(0.6)  # the jobs sit in the queue: no worker yet

    assert run_worker(settings, burst=True) == 0

    assert _wait("_count") == before["count"] + 2
    assert _wait("_sum") - before["sum"] >= 2 * 0.6
    assert _wait("_bucket", le="0.25") == before["fast"]  # waited longer than 0.25 s
    assert _wait("_bucket", le="5.0") == before["slow"] + 2  # ... and less than 5 s
