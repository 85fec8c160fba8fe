"""JSON log lines on stdout: ``ts, level, msg, service, trace_id, span_id`` and any extras.

Standard library only, so the gunicorn master can use it without importing application code.
``trace_id``/``span_id`` are filled by a filter the application processes add
(``sreplat_apps.telemetry.logs``); outside a request or a job they are null.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is emitted.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "trace_id", "span_id", "taskName"}
)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "msg": record.getMessage(),
            "service": self.service,
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
            "logger": record.name,
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class JsonStdoutHandler(logging.StreamHandler[TextIO]):
    """The handler ``configure`` installs; its type marks it so a second call replaces it."""


def configure(service: str, level: str, filters: Iterable[logging.Filter] = ()) -> logging.Handler:
    """Make the root logger write JSON lines to stdout; return the handler.

    Replaces a handler installed by an earlier call, leaves foreign ones (pytest's) alone.
    """
    handler = JsonStdoutHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    for log_filter in filters:
        handler.addFilter(log_filter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, JsonStdoutHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
