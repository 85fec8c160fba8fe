"""OpenTelemetry tracing: one provider per process, built after gunicorn/supervisor forks.

Export is OTLP/HTTP (protobuf) when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the
traces-specific variable) is set; otherwise spans are still created so that log lines carry trace
ids. The sampler comes from ``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG`` (otel_config.py).
``extra_exporters`` lets tests collect spans in memory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from sreplat_apps.telemetry.otel_config import TracingConfig

INSTRUMENTATION = "sreplat_apps"


def sampler(config: TracingConfig) -> sampling.Sampler:
    """The SDK sampler named by ``OTEL_TRACES_SAMPLER`` (the specification's names)."""
    root: sampling.Sampler
    base = config.sampler.removeprefix("parentbased_")
    if base == "always_on":
        root = sampling.ALWAYS_ON
    elif base == "always_off":
        root = sampling.ALWAYS_OFF
    else:
        root = sampling.TraceIdRatioBased(config.ratio)
    return sampling.ParentBased(root) if config.sampler.startswith("parentbased_") else root


def build_provider(
    service: str,
    release: str,
    *,
    config: TracingConfig | None = None,
    extra_exporters: Sequence[SpanExporter] = (),
    environ: Mapping[str, str] = os.environ,
) -> TracerProvider:
    """``config``: normally ``Settings.tracing``; read from ``environ`` when not given."""
    config = config or TracingConfig.from_env(environ)
    attributes = {"service.name": environ.get("OTEL_SERVICE_NAME") or f"sreplat-{service}"}
    attributes["service.version"] = release
    provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler(config))
    if config.traces_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The batch processor's thread starts here, i.e. in the process that exports. Headers,
        # timeout and compression still come from the standard variables (the exporter reads them).
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=config.traces_endpoint)))
    for extra in extra_exporters:
        provider.add_span_processor(SimpleSpanProcessor(extra))
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
