"""The whole trace path with real processes: ``sreplat-api`` (gunicorn) and ``sreplat-worker``
export over OTLP/HTTP to a receiver this test runs, which decodes the protobuf bodies with the
``opentelemetry-proto`` package as a collector would.

With a parent-based ratio sampler, the worker keeps exactly the traces the API kept; each job's
span is a child of the request that enqueued it; and every log line says whether its trace was
sampled, linked to it in Cloud Logging's fields."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from tests.support.apps import app_env, http_get, start_api, start_worker, wait_for
from tests.support.http_server import serving
from tests.support.redis_server import free_port

pytestmark = [pytest.mark.redis, pytest.mark.e2e, pytest.mark.slow]

PROJECT = "acme-sre-dev"
JOBS = 24


@dataclass(frozen=True)
class Received:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, str]


class _Receiver(BaseHTTPRequestHandler):
    """POST /v1/traces as the OTLP/HTTP specification has it: protobuf in, protobuf out."""

    spans: ClassVar[list[Received]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
            self.send_error(415)
            return
        export = ExportTraceServiceRequest.FromString(body)
        with self.lock:
            for resource_spans in export.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            Received(
                                service=resource["service.name"],
                                name=span.name,
                                kind=span.kind,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                attributes={a.key: a.value.string_value for a in span.attributes},
                            )
                        )
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.spans = []
    with serving(_Receiver) as port:
        yield f"http://127.0.0.1:{port}"


def _post(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/process",
        data=json.dumps({"task": "echo", "payload": {"n": 1}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        job_id: str = json.loads(response.read())["job_id"]
    return job_id


def _json_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_sampled_requests_and_their_jobs_arrive_as_one_trace(
    redis_url: str, tmp_path: Path, receiver: str
) -> None:
    env = app_env(
        redis_url,
        tmp_path / "rt",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG="0.5",
        OTEL_BSP_SCHEDULE_DELAY="100",  # ms: export promptly
        GOOGLE_CLOUD_PROJECT=PROJECT,
    )
    api_port, metrics_port = free_port(), free_port()
    api = start_api(env, api_port, tmp_path / "api.log", workers=1)
    worker = start_worker(env, tmp_path / "worker.log", metrics_port=metrics_port)
    try:
        job_ids = [_post(api_port) for _ in range(JOBS)]

        def all_finished() -> bool:
            return all(
                json.loads(http_get(f"http://127.0.0.1:{api_port}/jobs/{job}")[1])["status"] == "finished"
                for job in job_ids
            )

        wait_for(all_finished, 60, f"{JOBS} jobs to finish", interval=0.2)
        waits = http_get(f"http://127.0.0.1:{metrics_port}/metrics")[1].decode()
        assert f'sreplat_job_queue_wait_seconds_count{{task="echo"}} {float(JOBS)}' in waits
    finally:
        # A graceful stop flushes the batch span processors of both.
        assert worker.stop(timeout=30) == 0
        api.stop(timeout=30)

    requests = {s.trace_id: s for s in _Receiver.spans if s.name == "POST /process"}
    jobs = [s for s in _Receiver.spans if s.name == "job echo"]
    assert {s.service for s in requests.values()} == {"sreplat-api"}
    assert {s.service for s in jobs} == {"sreplat-worker"}
    # The ratio applies to the API's root spans (all 24 kept or all dropped: odds 2 in 16 million)...
    assert 0 < len(requests) < JOBS
    # ... and the worker follows each request's decision: the same traces, no more, no fewer.
    assert {s.trace_id for s in jobs} == set(requests)
    assert len(jobs) == len(requests)
    for job in jobs:
        request = requests[job.trace_id]
        assert job.parent_span_id == request.span_id, "the job's span is a child of its request's"
        assert (request.kind, job.kind) == (ProtoSpan.SPAN_KIND_SERVER, ProtoSpan.SPAN_KIND_CONSUMER)
        assert job.attributes["messaging.message.id"] in job_ids

    # Log lines: every request and job line links to its trace and says whether it was sampled.
    api_lines = [line for line in _json_lines(tmp_path / "api.log") if line.get("route") == "/process"]
    job_lines = [line for line in _json_lines(tmp_path / "worker.log") if line.get("msg") == "job finished"]
    assert len(api_lines) == len(job_lines) == JOBS
    for line in api_lines + job_lines:
        trace_id = line["trace_id"]
        assert isinstance(trace_id, str) and len(trace_id) == 32
        assert line["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{trace_id}"
        assert line["logging.googleapis.com/spanId"] == line["span_id"]
        assert line["logging.googleapis.com/trace_sampled"] is (trace_id in requests)
        assert line["severity"] == line["level"] and line["message"] == line["msg"]
    exported = {s.span_id for s in _Receiver.spans}
    sampled_lines = [line for line in api_lines + job_lines if line["logging.googleapis.com/trace_sampled"]]
    assert {line["span_id"] for line in sampled_lines} <= exported  # spanId names an exported span
