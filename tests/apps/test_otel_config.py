"""The standard OTEL_* variables (telemetry/otel_config.py): one OTLP protocol, the export endpoint,
and the sampler they name, exercised through the real OpenTelemetry SDK."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from sreplat_apps.settings import Settings, SettingsError
from sreplat_apps.telemetry import tracing
from sreplat_apps.telemetry.otel_config import TracingConfig


def test_defaults_export_nothing_and_follow_the_parent_else_sample_all() -> None:
    assert Settings.from_env({}).tracing == TracingConfig("", "parentbased_always_on", 1.0)


@pytest.mark.parametrize(
    ("environ", "endpoint"),
    [
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"},
            "http://otel-collector:4318/v1/traces",
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "http://c:4318/v1/traces"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t/x",
            },
            "https://t/x",  # the signal-specific variable wins and is used as is
        ),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ""),
    ],
)
def test_the_traces_endpoint_follows_the_otlp_http_rules(environ: dict[str, str], endpoint: str) -> None:
    assert Settings.from_env(environ).tracing.traces_endpoint == endpoint


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # The apps ship only the OTLP/HTTP exporter: gRPC would silently export nothing.
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:4318"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
    ],
)
def test_unusable_values_stop_the_apps_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})

    assert str(raised.value).startswith(f"{name}={value!r}: expected")


@pytest.mark.parametrize("ratio", ["1.5", "-0.1", "half"])
def test_the_ratio_must_be_a_probability(ratio: str) -> None:
    with pytest.raises(SettingsError, match=rf"^OTEL_TRACES_SAMPLER_ARG='{ratio}': expected a ratio"):
        Settings.from_env(
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": ratio}
        )


def _kept(sampler: str, ratio: str, parent: TraceFlags | None, n: int = 1) -> int:
    """How many of ``n`` new spans the provider built from these variables records and exports."""
    exported = InMemorySpanExporter()
    environ = {"OTEL_TRACES_SAMPLER": sampler, "OTEL_TRACES_SAMPLER_ARG": ratio}
    provider = tracing.build_provider("api", "r1", extra_exporters=[exported], environ=environ)
    tracer = provider.get_tracer("test")
    for index in range(n):
        context = None
        if parent is not None:
            remote = SpanContext(trace_id=index + 1, span_id=7, is_remote=True, trace_flags=parent)
            context = trace.set_span_in_context(NonRecordingSpan(remote))
        tracer.start_span("s", context=context).end()
    provider.shutdown()
    return len(exported.get_finished_spans())


def test_parent_based_ratio_samples_roots_by_ratio_and_children_by_their_parent() -> None:
    sampled, not_sampled = TraceFlags(TraceFlags.SAMPLED), TraceFlags(TraceFlags.DEFAULT)
    roots = _kept("parentbased_traceidratio", "0.25", None, n=2000)
    assert 350 < roots < 650  # ~500: trace ids are random, the ratio is applied to them
    # A job's span follows the request's decision whatever the ratio says.
    assert _kept("parentbased_traceidratio", "0", sampled) == 1
    assert _kept("parentbased_traceidratio", "1", not_sampled) == 0
    assert _kept("parentbased_always_off", "", sampled) == 1
    assert _kept("parentbased_always_off", "", None) == 0


def test_non_parent_based_samplers_ignore_the_parent() -> None:
    sampled = TraceFlags(TraceFlags.SAMPLED)
    assert _kept("traceidratio", "0", sampled) == 0
    assert _kept("always_off", "", sampled) == 0
    assert _kept("always_on", "", TraceFlags(TraceFlags.DEFAULT)) == 1
