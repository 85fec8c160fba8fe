"""Jobs from the API run by the real worker class (in this process, burst mode) on real Redis."""

from __future__ import annotations

import hashlib
import json
import signal
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask.testing import FlaskClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer
from sreplat_apps.settings import Settings
from sreplat_apps.telemetry import logs
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


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_jobs_of_every_task_finish_with_their_result(client: FlaskClient, settings: Settings) -> None:
    ids = {
        "echo": post_process(client, {"task": "echo", "payload": {"nested": {"list": [1, "two", None]}}}),
        "sha256": post_process(client, {"task": "sha256", "payload": {"data": "héllo", "rounds": 3}}),
        "sleep": post_process(client, {"task": "sleep", "payload": {"ms": 10}}),
    }
    job_ids = {task: response.get_json()["job_id"] for task, response in ids.items()}
    before = _sample("sreplat_jobs_processed_total", task="sha256", outcome="finished")

    assert run_worker(settings, burst=True) == 0

    views = {task: client.get(f"/jobs/{job_id}").get_json() for task, job_id in job_ids.items()}
    assert {view["status"] for view in views.values()} == {"finished"}
    assert views["echo"]["result"] == {"nested": {"list": [1, "two", None]}}
    digest = hashlib.sha256("héllo".encode()).digest()
    for _ in range(2):
        digest = hashlib.sha256(digest).digest()
    assert views["sha256"]["result"] == {"digest": digest.hex(), "rounds": 3}
    assert views["sleep"]["result"] == {"slept_ms": 10}
    assert all(view["ended_at"] >= view["enqueued_at"] for view in views.values())
    assert _sample("sreplat_jobs_processed_total", task="sha256", outcome="finished") == before + 1
    assert _sample("sreplat_jobs_in_progress", task="sha256") == 0


def test_job_timeout_is_enforced_retried_then_failed(settings: Settings, redis_client: Redis) -> None:
    queue = Queue(settings.queue, connection=redis_client, serializer=JSONSerializer)
    job = queue.enqueue(
        "sreplat_apps.tasks.sleep",
        ms=5000,
        job_timeout=1,
        retry=Retry(max=1),  # no interval: retried at once, so one burst sees both attempts
        meta={"task": "sleep"},
    )
    failed_before = _sample("sreplat_jobs_failed_total", task="sleep")
    attempts_before = _sample("sreplat_jobs_processed_total", task="sleep", outcome="failed")

    run_worker(settings, burst=True)

    job = Job.fetch(job.id, connection=redis_client, serializer=JSONSerializer)
    assert job.get_status() == "failed"
    latest = job.latest_result()
    assert latest is not None
    assert "JobTimeoutException" in (latest.exc_string or "")
    assert _sample("sreplat_jobs_processed_total", task="sleep", outcome="failed") == attempts_before + 2
    assert _sample("sreplat_jobs_failed_total", task="sleep") == failed_before + 1


def test_failed_job_reads_back_with_the_error_line_not_a_traceback(
    client: FlaskClient, settings: Settings, redis_client: Redis
) -> None:
    queue = Queue(settings.queue, connection=redis_client, serializer=JSONSerializer)
    job = queue.enqueue(
        "sreplat_apps.tasks.sleep", ms=3000, job_timeout=1, meta={"task": "sleep"}, job_id=uuid.uuid4().hex
    )

    run_worker(replace(settings, retry_max=0), burst=True)

    view = client.get(f"/jobs/{job.id}").get_json()
    assert view["status"] == "failed"
    assert (
        view["error"].startswith("rq.timeouts.JobTimeoutException") or "JobTimeoutException" in view["error"]
    )
    assert "Traceback" not in view["error"]
    assert "\n" not in view["error"]


def test_trace_continues_from_the_api_request_into_the_job(
    client: FlaskClient, settings: Settings, spans: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{caller_trace}-00f067aa0ba902b7-01"
    logs.setup("api", "INFO")
    job_id = post_process(client, {"task": "echo", "payload": {}}, traceparent=traceparent).get_json()[
        "job_id"
    ]
    worker_spans = InMemorySpanExporter()
    logs.setup("worker", "INFO")

    run_worker(settings, burst=True, span_exporters=[worker_spans])

    (request_span,) = [span for span in spans.get_finished_spans() if span.name == "POST /process"]
    (job_span,) = worker_spans.get_finished_spans()
    assert request_span.kind == SpanKind.SERVER
    assert job_span.kind == SpanKind.CONSUMER
    assert job_span.name == "job echo"
    assert format(request_span.context.trace_id, "032x") == caller_trace  # the caller's trace, continued
    assert job_span.context.trace_id == request_span.context.trace_id
    assert job_span.parent is not None
    assert job_span.parent.span_id == request_span.context.span_id
    assert job_span.attributes is not None
    assert job_span.attributes["messaging.message.id"] == job_id

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    api_lines = [line for line in lines if line["service"] == "api" and line["msg"] == "request"]
    job_lines = [line for line in lines if line["service"] == "worker" and line.get("job_id") == job_id]
    assert api_lines
    assert job_lines
    for line in api_lines + job_lines:
        assert {"ts", "level", "msg", "service", "trace_id", "span_id"} <= set(line)
        assert line["trace_id"] == caller_trace
    assert api_lines[0]["span_id"] == format(request_span.context.span_id, "016x")
    assert job_lines[0]["span_id"] == format(job_span.context.span_id, "016x")


def test_log_lines_outside_a_request_or_job_carry_null_trace_ids(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    logs.setup("worker", "INFO")
    logging.getLogger("sreplat_apps.test").info("hello", extra={"answer": 42})

    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "hello" in line]
    assert line["trace_id"] is None
    assert line["span_id"] is None
    assert line["answer"] == 42
    assert line["level"] == "INFO"
    assert line["ts"].endswith("Z")


def test_running_job_liveness_ttl_uses_the_configured_grace(settings: Settings, redis_client: Redis) -> None:
    from opentelemetry.trace import NoOpTracer
    from rq.job import Job as RqJob
    from sreplat_apps.worker.worker import SreplatWorker

    worker = SreplatWorker(
        [settings.queue],
        connection=redis_client,
        job_monitoring_interval=10,
        tracer=NoOpTracer(),
        abandon_grace_seconds=3,
        prepare_for_work=False,
    )
    long_job = RqJob.create(
        "sreplat_apps.tasks.sleep", kwargs={"ms": 1}, timeout=600, connection=redis_client
    )
    short_job = RqJob.create("sreplat_apps.tasks.sleep", kwargs={"ms": 1}, timeout=4, connection=redis_client)

    # Renewed every heartbeat (10 s) while the job runs; lapses 3 s after a missed one.
    assert worker.get_heartbeat_ttl(long_job) == 13
    assert worker.get_heartbeat_ttl(short_job, working_time=2.0) == 2 + 3
    assert worker.get_heartbeat_ttl(short_job, working_time=9.0) == 1 + 3
