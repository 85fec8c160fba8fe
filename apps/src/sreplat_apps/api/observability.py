"""Flask extension: a server span, Prometheus metrics and one JSON log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, Response, g, request
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from sreplat_apps.settings import Settings
from sreplat_apps.telemetry import metrics, tracing

log = logging.getLogger("sreplat_apps.api.request")

# Probes and scrapes are logged at DEBUG: at INFO they would drown the requests that matter.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "unmatched"  # route label for 404/405: bounded cardinality, never the raw path


@dataclass
class _Active:
    span: trace.Span
    token: object
    started: float
    route: str
    method: str
    path: str


def current_request() -> Request:
    """The request object itself: each ``flask.request.x`` goes through a context-local proxy."""
    return request._get_current_object()  # type: ignore[attr-defined,no-any-return]


class RequestTelemetry:
    """Bound with ``init_app``; the tracer provider is created in the process that serves."""

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
        provider = tracing.build_provider("api", settings.release, extra_exporters=exporters)
        self.tracer = provider.get_tracer(tracing.INSTRUMENTATION)
        metrics.BUILD_INFO.labels(settings.release, "api").set(1)
        app.before_request(self._start)
        app.after_request(self._finish)
        app.teardown_request(self._end)
        app.extensions["sreplat.telemetry"] = self

    def _start(self) -> None:
        if self.tracer is None:
            raise RuntimeError("RequestTelemetry used before init_app")
        started = time.perf_counter()
        req = current_request()
        route = req.url_rule.rule if req.url_rule is not None else UNMATCHED
        method, path = req.method, req.path
        span = self.tracer.start_span(
            f"{method} {route}",
            context=propagate.extract(req.headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route, "url.path": path},
        )
        token = context.attach(trace.set_span_in_context(span))
        g.sreplat_request = _Active(span, token, started, route, method, path)

    def _finish(self, response: Response) -> Response:
        active: _Active | None = g.get("sreplat_request")
        if active is None:
            return response
        elapsed = time.perf_counter() - active.started
        status = response.status_code
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
        return response

    def _end(self, _exc: BaseException | None) -> None:
        active: _Active | None = g.pop("sreplat_request", None)
        if active is not None:
            active.span.end()
            context.detach(active.token)  # type: ignore[arg-type]
