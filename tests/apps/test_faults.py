"""Faults with real processes and a real redis-server: worker SIGTERM/SIGKILL mid-job, Redis down."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer
from sreplat_apps.api import create_app
from sreplat_apps.contract import SleepPayload, SleepRequest
from sreplat_apps.jobs import JobStore
from sreplat_apps.settings import Settings

from tests.apps.conftest import post_process
from tests.support.apps import AppProcess, app_env, catches_signal, start_worker, wait_for
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.e2e, pytest.mark.slow]

# Small liveness intervals so an abandoned job is noticed in seconds, not minutes.
FAST_RECOVERY = {
    "SREPLAT_HEARTBEAT_SECONDS": "1",
    "SREPLAT_ABANDON_GRACE_SECONDS": "2",
    "SREPLAT_MAINTENANCE_SECONDS": "1",
    "SREPLAT_RETRY_INTERVALS": "1",
}


@pytest.fixture
def store(settings: Settings, redis_client: Redis) -> JobStore:
    return JobStore(settings, redis_client)


@pytest.fixture
def processes() -> Iterator[list[AppProcess]]:
    started: list[AppProcess] = []
    yield started
    for process in started:
        process.stop(timeout=10)


def _enqueue_sleep(store: JobStore, ms: int) -> str:
    request = SleepRequest(task="sleep", payload=SleepPayload(ms=ms))
    return store.enqueue(request, idempotency_key=None, trace_context={}).job_id


def _job(redis_client: Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)


def _status(redis_client: Redis, job_id: str) -> str:
    return str(_job(redis_client, job_id).get_status().value)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_sigterm_mid_job_lets_the_job_finish_and_exits_0(
    redis_url: str, tmp_path: Path, store: JobStore, redis_client: Redis, processes: list[AppProcess]
) -> None:
    worker = start_worker(app_env(redis_url, tmp_path / "rt"), tmp_path / "worker.log", workers=2)
    processes.append(worker)
    job_id = _enqueue_sleep(store, 2500)
    wait_for(lambda: _status(redis_client, job_id) == "started", 30, "the job to start")

    worker.send(signal.SIGTERM)
    code = worker.wait(timeout=30)

    assert code == 0, "\n".join(worker.log_lines()[-20:])
    assert _status(redis_client, job_id) == "finished"
    assert _job(redis_client, job_id).return_value() == {"slept_ms": 2500}
    assert not _group_alive(worker.pid)  # no worker process outlived the supervisor


def test_sigkill_mid_job_the_job_is_retried_and_finishes_on_another_worker(
    redis_url: str, tmp_path: Path, store: JobStore, redis_client: Redis, processes: list[AppProcess]
) -> None:
    env = app_env(redis_url, tmp_path / "rt", **FAST_RECOVERY)
    doomed = start_worker(env, tmp_path / "doomed.log")
    processes.append(doomed)
    job_id = _enqueue_sleep(store, 3000)
    wait_for(lambda: _status(redis_client, job_id) == "started", 30, "the job to start")
    first_worker = _job(redis_client, job_id).worker_name
    survivor = start_worker(env, tmp_path / "survivor.log")
    processes.append(survivor)

    doomed.kill_group(signal.SIGKILL)  # the pod is gone: supervisor and worker, no warning
    doomed.wait(timeout=10)

    wait_for(lambda: _status(redis_client, job_id) == "finished", 60, "the abandoned job to finish elsewhere")
    job = _job(redis_client, job_id)
    assert job.return_value() == {"slept_ms": 3000}
    assert job.worker_name != first_worker
    assert job.retries_left == 2  # one retry spent on the abandoned attempt
    assert survivor.alive()


def test_worker_pool_replaces_a_worker_process_that_dies(
    redis_url: str, tmp_path: Path, store: JobStore, redis_client: Redis, processes: list[AppProcess]
) -> None:
    worker = start_worker(app_env(redis_url, tmp_path / "rt"), tmp_path / "worker.log", workers=2)
    processes.append(worker)
    wait_for(lambda: len(_children(worker.pid)) == 2, 30, "two worker processes")
    victim = _children(worker.pid)[0]

    os.kill(victim, signal.SIGKILL)

    wait_for(
        lambda: len(_children(worker.pid)) == 2 and victim not in _children(worker.pid), 30, "a replacement"
    )
    job_id = _enqueue_sleep(store, 1)
    wait_for(lambda: _status(redis_client, job_id) == "finished", 30, "a job on the healed pool")


@pytest.fixture
def flaky_redis(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "flaky-redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    server.start()
    yield server
    server.stop()


def test_redis_down_gives_503_with_retry_after_and_recovers_without_restart(
    flaky_redis: RedisServer, settings: Settings
) -> None:
    app = create_app({"SETTINGS": replace(settings, redis_url=flaky_redis.url, redis_timeout_seconds=0.5)})
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    job_id = post_process(client, {"task": "echo", "payload": {}}).get_json()["job_id"]

    flaky_redis.stop()

    for response in (
        client.get("/readyz"),
        post_process(client, {"task": "echo", "payload": {}}),
        client.get(f"/jobs/{job_id}"),
    ):
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert response.get_json()["error"]["code"] == "redis_unavailable"
    assert client.get("/healthz").status_code == 200  # alive, just not ready
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert b"sreplat_queue_depth" not in metrics.data

    flaky_redis.start()  # same port, same app object: no restart

    # The circuit opened on the outage; its probe (every 0.5 s) closes it once Redis answers.
    wait_for(lambda: client.get("/readyz").status_code == 200, 10, "the probe to close the circuit")
    assert post_process(client, {"task": "echo", "payload": {}}).status_code == 202
    assert b'sreplat_queue_depth{queue="jobs"} 1.0' in client.get("/metrics").data


def test_worker_rides_out_a_redis_outage(
    flaky_redis: RedisServer, tmp_path: Path, settings: Settings, processes: list[AppProcess]
) -> None:
    env = app_env(flaky_redis.url, tmp_path / "rt", SREPLAT_MAINTENANCE_SECONDS="1")
    worker = start_worker(env, tmp_path / "worker.log")
    processes.append(worker)
    redis_client = Redis.from_url(flaky_redis.url)
    store = JobStore(settings, redis_client)
    first = _enqueue_sleep(store, 1)
    wait_for(lambda: _status(redis_client, first) == "finished", 30, "a job before the outage")

    flaky_redis.stop()
    time.sleep(3)
    assert worker.alive()
    flaky_redis.start()

    second = _enqueue_sleep(store, 1)
    wait_for(lambda: _status(redis_client, second) == "finished", 60, "a job after the outage")
    assert worker.alive()
    redis_client.close()


@pytest.mark.parametrize("delay", [0.2, 0.4, 0.6, 1.0])
def test_sigterm_while_starting_still_stops_cleanly(
    redis_url: str, tmp_path: Path, processes: list[AppProcess], delay: float
) -> None:
    # A stop can land during imports, between fork and the RQ loop, or while idle: none may be
    # lost (a hang) or fatal (a non-zero exit).
    worker = start_worker(app_env(redis_url, tmp_path / "rt"), tmp_path / "worker.log", workers=2)
    processes.append(worker)
    # Before its first line of Python runs, no process can catch SIGTERM: start counting the delay
    # once the handler is installed, so a loaded machine does not turn this into a test of the
    # interpreter's start-up.
    wait_for(lambda: catches_signal(worker.pid, signal.SIGTERM), 60, "the worker's SIGTERM handler")
    time.sleep(delay)

    worker.send(signal.SIGTERM)

    assert worker.wait(timeout=30) == 0, "\n".join(worker.log_lines()[-20:])
    assert not _group_alive(worker.pid)
