"""JSON logs with the current trace and span ids (and the sampling decision) on every line emitted
inside a request or job."""

from __future__ import annotations

import logging

from opentelemetry import trace

from sreplat_apps.boot import jsonlog


class TraceContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
            record.trace_sampled = context.trace_flags.sampled
        return True


def setup(service: str, level: str, *, project: str = "") -> None:
    """``project``: ``GOOGLE_CLOUD_PROJECT`` (Settings.gcp_project), for Cloud Logging's trace field."""
    jsonlog.configure(service, level, filters=[TraceContextFilter()], project=project)
    logging.getLogger("rq").setLevel(rq_level(level))


def rq_level(level: str) -> str:
    """RQ logs several lines per job at INFO; the worker logs one structured line per job itself,
    so RQ's own lines show from WARNING up unless LOG_LEVEL is DEBUG."""
    return level if level in ("DEBUG", "ERROR", "CRITICAL") else "WARNING"
