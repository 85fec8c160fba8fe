"""Flask extension: a server span, Prometheus metrics and one JSON log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, Response, g, request
from opentelemetry import context, propagate, trace
from opentelemetry.propagators.textmap import Getter, default_getter
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from sreplat_apps.settings import Settings
from sreplat_apps.telemetry import metrics, tracing

log = logging.getLogger("sreplat_apps.api.request")

# Probes and scrapes are logged at DEBUG: at INFO they would drown the requests that matter.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "unmatched"  # route label for 404/405: bounded cardinality, never the raw path


@dataclass
class Active:
    """One request in flight: its span, the context token that made it current, its labels."""

    span: trace.Span
    token: object
    started: float
    route: str
    method: str
    path: str


class EnvironGetter(Getter[Mapping[str, Any]]):
    """Reads propagation headers straight from a WSGI environ (``traceparent`` is
    ``HTTP_TRACEPARENT``), for callers that have no werkzeug ``Headers`` object."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [key[5:].lower().replace("_", "-") for key in carrier if key.startswith("HTTP_")]


ENVIRON_GETTER = EnvironGetter()


def current_request() -> Request:
    """The request object itself: each ``flask.request.x`` goes through a context-local proxy."""
    return request._get_current_object()  # type: ignore[attr-defined,no-any-return]


class RequestTelemetry:
    """Bound with ``init_app``; the tracer provider is created in the process that serves.

    ``begin``/``finish``/``end`` do the work and know nothing of Flask: the Flask hooks call them,
    and so does the hot path in front of Flask (``api.hotpath``), so both are observed alike.
    """

    def __init__(self, app: Flask | None = None) -> None:
        self.tracer: trace.Tracer | None = None
        # Metric children by label values: prometheus_client's labels() costs a lock and label
        # validation per call; routes, methods and statuses are few (bounded cardinality).
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        settings: Settings = app.config["SREPLAT_SETTINGS"]
        exporters: Sequence[SpanExporter] = app.config.get("SPAN_EXPORTERS", ())
        provider = tracing.build_provider(
            "api", settings.release, config=settings.tracing, extra_exporters=exporters
        )
        self.tracer = provider.get_tracer(tracing.INSTRUMENTATION)
        metrics.BUILD_INFO.labels(settings.release, "api").set(1)
        app.before_request(self._start)
        app.after_request(self._finish)
        app.teardown_request(self._end)
        app.extensions["sreplat.telemetry"] = self

    def begin(
        self, method: str, route: str, path: str, carrier: Any, getter: Getter[Any] = default_getter
    ) -> Active:
        """Open the SERVER span (continuing the caller's trace) and make it current."""
        if self.tracer is None:
            raise RuntimeError("RequestTelemetry used before init_app")
        started = time.perf_counter()
        span = self.tracer.start_span(
            f"{method} {route}",
            context=propagate.extract(carrier, getter=getter),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route, "url.path": path},
        )
        token = context.attach(trace.set_span_in_context(span))
        return Active(span, token, started, route, method, path)

    def finish(self, active: Active, status: int) -> None:
        """Count and time the request, record its status on the span, log its line."""
        elapsed = time.perf_counter() - active.started
        series = self._series.get((active.route, active.method, status))
        if series is None:
            series = (
                metrics.HTTP_REQUESTS.labels(active.route, active.method, str(status)),
                metrics.HTTP_DURATION.labels(active.route, active.method),
            )
            self._series[(active.route, active.method, status)] = series
        series[0].inc()
        series[1].observe(elapsed)
        active.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            active.span.set_status(Status(StatusCode.ERROR))
        log.log(
            logging.DEBUG if active.route in _QUIET_ROUTES else logging.INFO,
            "request",
            extra={
                "http_method": active.method,
                "route": active.route,
                "path": active.path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
            },
        )

    @staticmethod
    def end(active: Active) -> None:
        active.span.end()
        context.detach(active.token)  # type: ignore[arg-type]

    # --- Flask hooks -----------------------------------------------------------------------------
    def _start(self) -> None:
        req = current_request()
        route = req.url_rule.rule if req.url_rule is not None else UNMATCHED
        g.sreplat_request = self.begin(req.method, route, req.path, req.headers)

    def _finish(self, response: Response) -> Response:
        active: Active | None = g.get("sreplat_request")
        if active is not None:
            self.finish(active, response.status_code)
        return response

    def _end(self, _exc: BaseException | None) -> None:
        active: Active | None = g.pop("sreplat_request", None)
        if active is not None:
            self.end(active)
