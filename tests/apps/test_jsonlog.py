"""The JSON log line format (boot/jsonlog.py): fields and the UTC millisecond timestamp."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from sreplat_apps.boot.jsonlog import JsonFormatter


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
        "job_id": "j1",
        "n": 3,
    }
