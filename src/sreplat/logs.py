"""Log lines as ``sreplat logs`` shows them, whichever target they come from.

A target turns a ``LogQuery`` (which components, since when, one trace, follow or not) into
``LogLine``\\ s in time order: the local target from the supervised processes' log files, the gcp
target from Cloud Logging. The apps' JSON lines (docs/contracts.md, "Log lines") give every field;
other lines (redis-server's own format) keep their text as the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sreplat.errors import UsageError

COMPONENTS = ("api", "worker", "redis")
_SINCE = re.compile(r"^([1-9][0-9]*)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
# What a line's own fields must not repeat (they have their own columns).
_STANDARD = frozenset(
    {"ts", "level", "msg", "service", "trace_id", "span_id", "logger", "severity", "message"}
    | {
        "logging.googleapis.com/trace",
        "logging.googleapis.com/spanId",
        "logging.googleapis.com/trace_sampled",
    }
)


def parse_since(text: str) -> timedelta:
    """``10m``, ``2h``, ``30s``, ``1d``; UsageError otherwise."""
    match = _SINCE.match(text.strip())
    if match is None:
        raise UsageError(f"--since {text!r}: expected a duration such as 30s, 10m, 2h or 1d")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def parse_trace_id(text: str) -> str:
    """A W3C/OpenTelemetry trace id (32 lower-case hex digits), as the log lines carry it.
    ``projects/<p>/traces/<id>`` (Cloud Logging's form) is accepted too."""
    candidate = text.strip().rsplit("/", 1)[-1].lower()
    if not _TRACE_ID.match(candidate) or candidate == "0" * 32:
        raise UsageError(
            f"--trace {text!r}: expected a trace id of 32 hex digits (the trace_id of a log line)"
        )
    return candidate


@dataclass(frozen=True)
class LogQuery:
    components: tuple[str, ...] = COMPONENTS
    since: timedelta | None = None
    trace_id: str | None = None
    follow: bool = False

    def cutoff(self, now: datetime | None = None) -> datetime | None:
        return None if self.since is None else (now or datetime.now(UTC)) - self.since

    def wants(self, line: LogLine, cutoff: datetime | None) -> bool:
        if self.trace_id is not None and line.trace_id != self.trace_id:
            return False
        return cutoff is None or (line.ts is not None and line.ts >= cutoff)


@dataclass(frozen=True)
class LogLine:
    ts: datetime | None  # UTC; None when the line carries no time
    source: str  # the process (api, worker-2, redis) or, on GKE, the pod
    service: str  # api | worker | redis
    message: str
    level: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "log",
            "ts": format_ts(self.ts),
            "source": self.source,
            "service": self.service,
            "level": self.level,
            "msg": self.message,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "fields": dict(self.fields),
        }

    def text(self) -> str:
        parts = [format_ts(self.ts) or "-", f"{self.source:<10}", f"{self.level or '-':<7}", self.message]
        parts += [f"{key}={value}" for key, value in self.fields.items()]
        if self.trace_id:
            parts.append(f"trace_id={self.trace_id}")
        return " ".join(parts)


def format_ts(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse_ts(text: Any) -> datetime | None:
    """An RFC 3339 time (``2024-05-01T12:00:00.123Z``, any fraction or offset) as UTC."""
    if not isinstance(text, str) or not text:
        return None
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python before 3.11.? accepts at most 6 fraction digits: Cloud Logging sends 9.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def app_line(entry: Mapping[str, Any], *, source: str, service: str, ts: datetime | None = None) -> LogLine:
    """A LogLine from the fields of an app's JSON line (docs/contracts.md, "Log lines")."""
    message = entry.get("msg", entry.get("message", ""))
    return LogLine(
        ts=ts or parse_ts(entry.get("ts")),
        source=source,
        service=str(entry.get("service") or service),
        message=str(message),
        level=str(entry.get("level") or entry.get("severity") or ""),
        trace_id=_str_or_none(entry.get("trace_id")),
        span_id=_str_or_none(entry.get("span_id")),
        fields={k: v for k, v in entry.items() if k not in _STANDARD},
    )


def _str_or_none(value: Any) -> str | None:
    return str(value) if value else None


LogStream = Iterator[LogLine]
