"""OTLP export when the standard variables ask for it, to an HTTP test double of a collector."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sreplat_apps.telemetry import tracing

from tests.support.http_server import serving


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    _Collector.received = []
    with serving(_Collector) as port:
        yield f"http://127.0.0.1:{port}"


def test_spans_are_exported_over_otlp_http_when_the_endpoint_is_set(
    collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "api-canary")
    provider = tracing.build_provider("api", "rel-7")

    with provider.get_tracer("test").start_as_current_span("POST /process"):
        pass
    provider.force_flush()
    provider.shutdown()

    (path, content_type, body) = _Collector.received[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    export = ExportTraceServiceRequest.FromString(body)
    resource = {attr.key: attr.value.string_value for attr in export.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "api-canary"
    assert resource["service.version"] == "rel-7"
    assert [span.name for span in export.resource_spans[0].scope_spans[0].spans] == ["POST /process"]
