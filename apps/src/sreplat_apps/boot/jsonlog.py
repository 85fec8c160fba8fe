"""JSON log lines on stdout, one format read by two consumers (docs/contracts.md, "Log lines"):

- ``ts, level, msg, service, trace_id, span_id`` and any extras: DESIGN §5, read by the local
  target and by people;
- Cloud Logging's special fields, which its agent on GKE lifts into the LogEntry
  (cloud.google.com/logging/docs/structured-logging, "Special JSON fields"): ``severity`` and
  ``message`` always; inside a span, when the project is known (``GOOGLE_CLOUD_PROJECT``),
  ``logging.googleapis.com/trace`` (``projects/<project>/traces/<trace_id>``),
  ``logging.googleapis.com/spanId`` and ``logging.googleapis.com/trace_sampled``, which link the
  line to its trace in Cloud Trace.

Standard library only, so the gunicorn master can use it without importing application code.
``trace_id``/``span_id``/``trace_sampled`` are filled by a filter the application processes add
(``sreplat_apps.telemetry.logs``); outside a request or a job the ids are null.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import TextIO

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is emitted.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "trace_id", "span_id", "trace_sampled", "taskName"}
)
TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, project: str = "") -> None:
        super().__init__()
        self.service = service
        # Cloud Trace resource names need the project; without it the trace fields are left out.
        self._trace_prefix = f"projects/{project}/traces/" if project else ""
        # One encoder for every line: json.dumps with options builds a new one per call.
        self._encode = json.JSONEncoder(default=str, ensure_ascii=False).encode
        self._second: tuple[int, str] = (-1, "")

    def _timestamp(self, created: float) -> str:
        # "2024-05-01T12:00:00.123Z"; the part up to the second is formatted once per second
        # (swapped as one tuple, so a thread never pairs one second with another's text).
        second = int(created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{cached[1]}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        trace_id = getattr(record, "trace_id", None)
        span_id = getattr(record, "span_id", None)
        entry: dict[str, object] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname,
            "msg": message,
            "service": self.service,
            "trace_id": trace_id,
            "span_id": span_id,
            "logger": record.name,
            # Python's level names are all LogSeverity names (DEBUG ... CRITICAL).
            "severity": record.levelname,
            "message": message,
        }
        if trace_id and self._trace_prefix:
            entry[TRACE_FIELD] = self._trace_prefix + trace_id
            entry[SPAN_FIELD] = span_id
            entry[SAMPLED_FIELD] = bool(getattr(record, "trace_sampled", False))
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self._encode(entry)


class JsonStdoutHandler(logging.StreamHandler[TextIO]):
    """The handler ``configure`` installs; its type marks it so a second call replaces it."""


def configure(
    service: str, level: str, filters: Iterable[logging.Filter] = (), *, project: str = ""
) -> logging.Handler:
    """Make the root logger write JSON lines to stdout; return the handler. ``project``: the
    Google Cloud project of the trace fields (empty: no Cloud Logging trace fields).

    Replaces a handler installed by an earlier call, leaves foreign ones (pytest's) alone.
    """
    # The lines carry none of the caller's file/line/function, thread or process names: skip
    # collecting them for every record (the logging HOWTO's "Optimization" section).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = JsonStdoutHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service, project))
    for log_filter in filters:
        handler.addFilter(log_filter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, JsonStdoutHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
