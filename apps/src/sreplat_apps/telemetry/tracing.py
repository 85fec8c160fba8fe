"""OpenTelemetry tracing: one provider per process, built after gunicorn/supervisor forks.

Export is OTLP/HTTP when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific
variable) is set; otherwise spans are still created so that log lines carry trace ids.
``extra_exporters`` lets tests collect spans in memory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

INSTRUMENTATION = "sreplat_apps"


def build_provider(
    service: str,
    release: str,
    *,
    extra_exporters: Sequence[SpanExporter] = (),
    environ: Mapping[str, str] = os.environ,
) -> TracerProvider:
    attributes = {"service.name": environ.get("OTEL_SERVICE_NAME") or f"sreplat-{service}"}
    attributes["service.version"] = release
    provider = TracerProvider(resource=Resource.create(attributes))
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The batch processor's thread starts here, i.e. in the process that exports.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    for exporter in extra_exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def inject_current() -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``...), to ride in a job's meta."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str] | None) -> Context:
    return propagate.extract(dict(carrier or {}))


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
