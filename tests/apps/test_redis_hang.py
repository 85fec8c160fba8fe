"""A Redis that hangs (SIGSTOP: connections open, nothing answers) with the real ``sreplat-api`` and
``sreplat-worker``: every request gets its 503 within one Redis timeout, then at once while the
circuit is open; both apps resume by themselves when Redis answers again (issue 15, item 2)."""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.apps.rawhttp import connect, post
from tests.support.apps import AppProcess, app_env, http_get, start_api, start_worker, wait_for
from tests.support.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.redis, pytest.mark.e2e, pytest.mark.slow]

REDIS_TIMEOUT_S = 2.0  # SREPLAT_REDIS_TIMEOUT_SECONDS' default: "a dead Redis gives 503 after about this"
HANG_S = 7.0
READYZ = b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture
def hangable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "hangable-redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    server.start()
    yield server
    if server.process is not None:
        server.process.send_signal(signal.SIGCONT)
    server.stop()


@dataclass(frozen=True)
class Answer:
    issued: float  # seconds after Redis was stopped
    seconds: float
    status: int  # 0: no answer (reset, or nothing within the client's 15 s)
    retry_after: str | None
    code: str | None


def _ask(port: int, request: bytes, stopped_at: float) -> Answer:
    started = time.monotonic()
    try:
        sock, reader = connect(port, timeout=15)
        with sock:
            sock.sendall(request)
            status, headers, body = reader.response()
        code = json.loads(body)["error"]["code"] if status >= 400 else None
        retry_after = headers.get("retry-after")
    except OSError:
        status, retry_after, code = 0, None, None
    return Answer(started - stopped_at, time.monotonic() - started, status, retry_after, code)


def _hammer(port: int, stopped_at: float, until: float, threads: int = 6) -> list[Answer]:
    """POST /process and GET /readyz in turn from ``threads`` clients, a fresh connection each."""
    answers: list[Answer] = []

    def client(n: int) -> None:
        requests = [post(), READYZ] if n % 2 else [READYZ, post()]
        for count in range(2000):  # bounded; the clock ends it long before
            if time.monotonic() >= until:
                return
            answers.append(_ask(port, requests[count % 2], stopped_at))
            time.sleep(0.01)

    pool = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    return answers


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _job_status(port: int, job_id: str) -> str | None:
    status, body = http_get(f"http://127.0.0.1:{port}/jobs/{job_id}", timeout=5)
    return json.loads(body)["status"] if status == 200 else None


def _try_enqueue(port: int) -> str | None:
    sock, reader = connect(port)
    with sock:
        sock.sendall(post())
        status, _headers, body = reader.response()
    return str(json.loads(body)["job_id"]) if status == 202 else None


def _enqueue(port: int) -> str:
    job_id = _try_enqueue(port)
    assert job_id is not None
    return job_id


def test_a_hung_redis_gives_fast_503s_and_both_apps_resume_when_it_answers(
    hangable_redis: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    env = app_env(hangable_redis.url, tmp_path / "rt")
    api = start_api(env, port, tmp_path / "api.log", workers=2)
    worker = start_worker(env, tmp_path / "worker.log", workers=1)
    processes: list[AppProcess] = [api, worker]
    try:
        first = _enqueue(port)
        wait_for(lambda: _job_status(port, first) == "finished", 30, "a job before the hang")
        worker_processes = _children(worker.pid)
        assert hangable_redis.process is not None

        hangable_redis.process.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        answers = _hammer(port, stopped_at, until=stopped_at + HANG_S)
        hangable_redis.process.send_signal(signal.SIGCONT)

        # Each gunicorn worker has its own circuit and closes it on its own probe's first answer
        # (every 0.5 s, or after its pending PING's timeout): /readyz from one worker says nothing
        # of the other, so every request must be accepted again within a timeout and a probe.
        wait_for(lambda: http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200, 10, "/readyz again")
        wait_for(
            lambda: all(_try_enqueue(port) for _ in range(6)),  # spread over both workers
            REDIS_TIMEOUT_S + 3,
            "POST /process accepted again by every worker",
        )
        second = _enqueue(port)
        wait_for(lambda: _job_status(port, second) == "finished", 30, "a job after the hang")
        assert _children(worker.pid) == worker_processes  # waited for Redis, never crashed
        assert not [line for line in worker.log_lines() if "exited" in line or "crashed" in line]
    finally:
        for process in processes:
            process.stop(timeout=30)

    slowest = max(a.seconds for a in answers)
    # Once a timeout has been seen (both API processes are hit within the first round), the
    # circuit is open: 503 at once, without waiting on Redis.
    settled = sorted(a.seconds for a in answers if a.issued >= REDIS_TIMEOUT_S + 1.0)
    p95 = settled[math.ceil(0.95 * len(settled)) - 1] if settled else math.inf
    print(
        f"hung Redis: {len(answers)} answers, slowest {slowest:.2f} s; issued once the circuit is open:"
        f" {len(settled)}, p95 {p95 * 1000:.1f} ms"
    )
    assert {(a.status, a.code) for a in answers} == {(503, "redis_unavailable")}, answers[:5]
    assert all(a.retry_after is not None and int(a.retry_after) >= 1 for a in answers)
    # Each request has its own deadline: one Redis timeout, plus slack for a loaded machine.
    # (Broken, requests queued behind each other for 4-12 s.)
    assert slowest <= REDIS_TIMEOUT_S + 1.5
    # The bound is 50 ms; broken, every request waits out a timeout (seconds).
    assert len(settled) >= 100
    assert p95 <= 0.05
