"""The JSON log line format (boot/jsonlog.py): fields, Cloud Logging's special fields and the UTC
millisecond timestamp."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from sreplat_apps.boot.jsonlog import JsonFormatter
from sreplat_apps.settings import Settings, SettingsError


def _record(created: float, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("sreplat_apps.test", logging.INFO, "x.py", 1, "hello %s", ("you",), None)
    record.created = created
    for key, value in extra.items():
        setattr(record, key, value)
    return record


@pytest.mark.parametrize(
    "created",
    [1_700_000_000.0, 1_700_000_000.0005, 1_700_000_000.9996, 1_700_000_001.25, 951_782_400.5],
)
def test_timestamp_is_utc_to_the_millisecond(created: float) -> None:
    formatter = JsonFormatter("api")
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"

    # Twice, and after another second: the per-second cache must not leak between seconds.
    first = json.loads(formatter.format(_record(created)))["ts"]
    formatter.format(_record(created + 1))
    second = json.loads(formatter.format(_record(created)))["ts"]

    assert first == second == expected


def test_line_carries_the_contract_fields_and_extras() -> None:
    line = json.loads(
        JsonFormatter("worker").format(_record(1_700_000_000.0, trace_id="a" * 32, job_id="j1", n=3))
    )

    assert line == {
        "ts": "2023-11-14T22:13:20.000Z",
        "level": "INFO",
        "msg": "hello you",
        "service": "worker",
        "trace_id": "a" * 32,
        "span_id": None,
        "logger": "sreplat_apps.test",
        "severity": "INFO",
        "message": "hello you",
        "job_id": "j1",
        "n": 3,
    }


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


@pytest.mark.parametrize("sampled", [True, False])
def test_lines_in_a_span_link_to_the_trace_in_cloud_logging(sampled: bool) -> None:
    """cloud.google.com/logging/docs/structured-logging, "Special JSON fields in messages": the
    agent lifts these into LogEntry.severity, .trace, .spanId and .traceSampled."""
    record = _record(1_700_000_000.0, trace_id=TRACE, span_id=SPAN, trace_sampled=sampled)
    record.levelno, record.levelname = logging.WARNING, "WARNING"

    line = json.loads(JsonFormatter("api", "acme-sre-dev").format(record))

    assert line["severity"] == "WARNING" and line["level"] == "WARNING"
    assert line["message"] == line["msg"] == "hello you"
    assert line["logging.googleapis.com/trace"] == f"projects/acme-sre-dev/traces/{TRACE}"
    assert line["logging.googleapis.com/spanId"] == SPAN
    assert line["logging.googleapis.com/trace_sampled"] is sampled
    assert (line["trace_id"], line["span_id"]) == (TRACE, SPAN)  # the contract's fields stay


def test_trace_fields_are_left_out_without_a_project_or_outside_a_span() -> None:
    in_span = _record(1_700_000_000.0, trace_id=TRACE, span_id=SPAN, trace_sampled=True)
    no_project = json.loads(JsonFormatter("worker").format(in_span))
    outside = json.loads(JsonFormatter("worker", "acme-sre-dev").format(_record(1_700_000_000.0)))

    for line in (no_project, outside):
        assert not [key for key in line if key.startswith("logging.googleapis.com/")]
        assert line["severity"] == "INFO" and line["message"] == "hello you"
    assert outside["trace_id"] is None


def test_the_project_comes_from_google_cloud_project_and_is_checked() -> None:
    assert Settings.from_env({}).gcp_project == ""
    assert Settings.from_env({"GOOGLE_CLOUD_PROJECT": "acme-sre-dev"}).gcp_project == "acme-sre-dev"
    with pytest.raises(SettingsError, match=r"^GOOGLE_CLOUD_PROJECT='Acme Dev': expected"):
        Settings.from_env({"GOOGLE_CLOUD_PROJECT": "Acme Dev"})
