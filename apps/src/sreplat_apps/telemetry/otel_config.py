"""The standard ``OTEL_*`` variables the apps honour, read and checked once (standard library only).

- Export: OTLP over HTTP with protobuf bodies, on when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
  (used as is) or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` appended) is set, as the
  OpenTelemetry specification says for OTLP/HTTP. The apps ship only the HTTP exporter, so
  ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`` may only say ``http/protobuf``: a collector expecting
  gRPC on 4317 would otherwise receive nothing, silently.
- Sampling: ``OTEL_TRACES_SAMPLER`` (the specification's names, default
  ``parentbased_always_on``) and ``OTEL_TRACES_SAMPLER_ARG`` (the ratio of the ``traceidratio``
  samplers, 0..1, default 1). Parent-based samplers follow the caller's decision, so a job's span
  is kept exactly when the request that enqueued it was.

Bad values raise ``ValueError`` naming the variable; ``Settings.from_env`` turns it into a
``SettingsError`` so the apps refuse to start (exit 2 for the worker, "App failed to load" for
gunicorn), like any other bad setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

HTTP_PROTOBUF = "http/protobuf"
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
DEFAULT_SAMPLER = "parentbased_always_on"


@dataclass(frozen=True)
class TracingConfig:
    traces_endpoint: str = ""  # empty: no export (spans still give log lines their trace ids)
    sampler: str = DEFAULT_SAMPLER
    ratio: float = 1.0  # used by the traceidratio samplers only

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TracingConfig:
        def get(name: str) -> str:
            return environ.get(name, "").strip()

        for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            protocol = get(name)
            if protocol and protocol != HTTP_PROTOBUF:
                raise ValueError(
                    f"{name}={protocol!r}: expected {HTTP_PROTOBUF!r} (the apps export OTLP over HTTP"
                    " only, to the collector's OTLP/HTTP port, 4318)"
                )
        endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        if not endpoint and get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            name = "OTEL_EXPORTER_OTLP_ENDPOINT"
            endpoint = get(name).rstrip("/") + "/v1/traces"
        if endpoint and not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"{name}={get(name)!r}: expected an http:// or https:// URL")
        sampler = get("OTEL_TRACES_SAMPLER").lower() or DEFAULT_SAMPLER
        if sampler not in SAMPLERS:
            raw = get("OTEL_TRACES_SAMPLER")
            raise ValueError(f"OTEL_TRACES_SAMPLER={raw!r}: expected one of {', '.join(SAMPLERS)}")
        raw_ratio = get("OTEL_TRACES_SAMPLER_ARG")
        ratio = 1.0
        if raw_ratio and sampler.endswith("traceidratio"):
            try:
                ratio = float(raw_ratio)
            except ValueError:
                ratio = -1.0
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={raw_ratio!r}: expected a ratio from 0 to 1")
        return cls(traces_endpoint=endpoint, sampler=sampler, ratio=ratio)
