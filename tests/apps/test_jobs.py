"""The API's fast enqueue writes exactly what RQ's own enqueue writes (real Redis, real RQ)."""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer
from sreplat_apps.contract import TASKS, Sha256Payload, Sha256Request, SleepPayload, SleepRequest, TaskRequest
from sreplat_apps.jobs import JobStore
from sreplat_apps.settings import Settings

from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

_PER_JOB = {b"created_at", b"enqueued_at"}


@pytest.mark.parametrize(
    "request_",
    [
        Sha256Request(task="sha256", payload=Sha256Payload(data="é\U0001f600", rounds=7)),
        SleepRequest(task="sleep", payload=SleepPayload(ms=1500)),
    ],
    ids=["sha256", "sleep"],
)
def test_fast_enqueue_matches_rqs_own_job_hash(
    settings: Settings, redis_client: Redis, request_: TaskRequest
) -> None:
    store = JobStore(settings, redis_client)
    trace = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    fast_id = store.enqueue(request_, idempotency_key=None, trace_context=trace).job_id
    spec = TASKS[request_.task]
    reference = store.rq_job(
        spec,
        uuid.uuid4().hex,
        spec.arguments(request_),
        spec.timeout_seconds(request_),
        {"task": request_.task, "trace": trace},
    )
    with redis_client.pipeline() as pipe:
        store.queue.enqueue_job(reference, pipeline=pipe)
        pipe.execute()

    fast = redis_client.hgetall(f"rq:job:{fast_id}")
    rq_own = redis_client.hgetall(f"rq:job:{reference.id}")

    assert set(fast) == set(rq_own)
    for field in set(fast) - _PER_JOB - {b"data"}:
        assert fast[field] == rq_own[field], field
    assert zlib.decompress(fast[b"data"]) == zlib.decompress(rq_own[b"data"])
    for field in _PER_JOB:
        assert len(fast[field]) == len(rq_own[field])
        assert fast[field].endswith(b"Z")
    assert redis_client.ttl(f"rq:job:{fast_id}") == redis_client.ttl(f"rq:job:{reference.id}") == -1
    assert [raw.decode() for raw in redis_client.lrange("rq:queue:jobs", 0, -1)] == [fast_id, reference.id]
    assert redis_client.sismember("rq:queues", "rq:queue:jobs")

    job = Job.fetch(fast_id, connection=redis_client, serializer=JSONSerializer)
    assert (job.func_name, job.kwargs, job.timeout) == (
        spec.function,
        spec.arguments(request_),
        reference.timeout,
    )
    assert job.enqueued_at is not None
    assert job.created_at is not None
    assert abs((job.enqueued_at - job.created_at).total_seconds()) < 1
    assert job.meta == {"task": request_.task, "trace": trace}
    assert job.get_status() == "queued"


def test_enqueue_from_many_threads_uses_a_connection_per_thread(
    settings: Settings, redis_client: Redis
) -> None:
    store = JobStore(settings, Redis.from_url(settings.redis_url))
    request = SleepRequest(task="sleep", payload=SleepPayload(ms=1))
    ids: list[str] = []

    def enqueue() -> None:
        for _ in range(25):
            ids.append(store.enqueue(request, idempotency_key=None, trace_context={}).job_id)

    threads = [threading.Thread(target=enqueue) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(raw.decode() for raw in redis_client.lrange("rq:queue:jobs", 0, -1)) == sorted(ids)
    assert len(set(ids)) == 100
    clients = redis_client.client_list()
    assert len([client for client in clients if client["cmd"] == "exec"]) == 4  # one per thread
    store.connection.close()
    # Redis drops a client when it reads the FIN, a moment after close() returns: poll briefly.
    deadline = time.monotonic() + 5.0
    left = [client for client in redis_client.client_list() if client["cmd"] == "exec"]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [client for client in redis_client.client_list() if client["cmd"] == "exec"]
    assert not left


def test_enqueue_survives_a_redis_restart_between_calls(settings: Settings, tmp_path: Path) -> None:
    # The thread's pinned connection is dead after the restart: it is replaced, not failed on,
    # even with a client that makes no retries.
    (tmp_path / "r").mkdir()
    server = RedisServer(tmp_path / "r")
    server.start()
    try:
        client = Redis.from_url(server.url)
        store = JobStore(replace(settings, redis_url=server.url), client)
        request = SleepRequest(task="sleep", payload=SleepPayload(ms=1))
        first = store.enqueue(request, idempotency_key=None, trace_context={}).job_id

        server.stop()
        server.start()  # same port, empty

        second = store.enqueue(request, idempotency_key=None, trace_context={}).job_id
        assert [raw.decode() for raw in client.lrange("rq:queue:jobs", 0, -1)] == [second]
        assert second != first
        client.close()
    finally:
        server.stop()
