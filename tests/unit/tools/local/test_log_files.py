"""Reading supervisord's log files: app JSON lines, redis-server's own format, lines without a
time, rotation while following, and the merge of several files in time order."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sreplat.errors import UsageError
from sreplat.logs import LogQuery, parse_since, parse_trace_id, parse_ts
from sreplat.tools.local.log_files import LogFile, LogTail, parse_line

TRACE = "d50ea95ed08e1489bc405354cacb0521"


def app(ts: str, msg: str, service: str = "api", trace: str | None = None, **fields: object) -> str:
    entry = {"ts": ts, "level": "INFO", "msg": msg, "service": service, "trace_id": trace, "span_id": None}
    entry |= {"logger": "x", "severity": "INFO", "message": msg, **fields}
    return json.dumps(entry) + "\n"


def test_app_lines_keep_their_own_fields_and_drop_the_duplicates() -> None:
    log = LogFile(Path("api.log"), "api", "api")
    line = parse_line(app("2026-01-02T03:04:05.678Z", "request", trace=TRACE, route="/process"), log, None)
    assert line.ts == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert (line.message, line.level, line.trace_id) == ("request", "INFO", TRACE)
    assert line.fields == {"route": "/process"}  # not logger/severity/message again
    assert (
        line.text() == f"2026-01-02T03:04:05.678Z api        INFO    request route=/process trace_id={TRACE}"
    )


def test_redis_lines_are_local_time_and_other_lines_take_the_time_before_them() -> None:
    log = LogFile(Path("redis.log"), "redis", "redis")
    local = datetime(2026, 12, 3, 8, 59, 15, 258000)
    raw = f"29994:M {local.strftime('%d %b %Y %H:%M:%S')}.258 * Ready to accept connections"
    line = parse_line(raw, log, None)
    assert line.ts == local.astimezone().astimezone(UTC)
    assert (line.level, line.message, line.fields) == ("INFO", "Ready to accept connections", {"pid": 29994})
    follower = parse_line("Traceback (most recent call last):", log, line.ts)
    assert follower.ts == line.ts and follower.message.startswith("Traceback")


def test_files_merge_in_time_order_and_a_rotation_while_following_loses_nothing(tmp_path: Path) -> None:
    api, worker = tmp_path / "api.log", tmp_path / "worker-1.log"
    (tmp_path / "api.log.1").write_text(app("2026-01-01T00:00:01.000Z", "oldest"))
    api.write_text(app("2026-01-01T00:00:03.000Z", "api 3"))
    worker.write_text(app("2026-01-01T00:00:02.000Z", "worker 2", "worker") + "not json at all\n")
    tail = LogTail([LogFile(api, "api", "api"), LogFile(worker, "worker-1", "worker")])
    first = tail.read()
    assert [line.message for line in first] == ["oldest", "worker 2", "not json at all", "api 3"]
    assert tail.read() == []  # nothing new

    with api.open("a") as handle:  # a line without its newline yet: not shown half
        handle.write(app("2026-01-01T00:00:04.000Z", "before rotation").rstrip("\n"))
    assert tail.read() == []
    with api.open("a") as handle:
        handle.write("\n")
    os.replace(api, tmp_path / "api.log.1")  # supervisord rotates...
    with (tmp_path / "api.log.1").open("a") as handle:
        handle.write(app("2026-01-01T00:00:05.000Z", "last of the old file"))
    api.write_text(app("2026-01-01T00:00:06.000Z", "first of the new file"))  # ...and starts anew
    assert [line.message for line in tail.read()] == [
        "before rotation",
        "last of the old file",
        "first of the new file",
    ]
    tail.close()


def test_query_filters_by_trace_and_age() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    log = LogFile(Path("api.log"), "api", "api")
    recent = parse_line(app("2026-01-01T11:55:00.000Z", "recent", trace=TRACE), log, None)
    old = parse_line(app("2026-01-01T11:00:00.000Z", "old", trace=TRACE), log, None)
    other = parse_line(app("2026-01-01T11:59:00.000Z", "other", trace="f" * 32), log, None)
    query = LogQuery(since=timedelta(minutes=10), trace_id=TRACE)
    cutoff = query.cutoff(now)
    assert [line.message for line in (recent, old, other) if query.wants(line, cutoff)] == ["recent"]


@pytest.mark.parametrize("text", ["10", "5x", "-1m", "0m", "m"])
def test_bad_since_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--since"):
        parse_since(text)


def test_trace_ids_as_logged_or_as_cloud_logging_names_them() -> None:
    assert parse_trace_id(TRACE.upper()) == TRACE
    assert parse_trace_id(f"projects/acme/traces/{TRACE}") == TRACE
    for bad in ("abc", "0" * 32, TRACE + "0"):
        with pytest.raises(UsageError, match="--trace"):
            parse_trace_id(bad)


def test_cloud_logging_timestamps_with_nanoseconds_parse() -> None:
    assert parse_ts("2026-01-01T00:00:01.123456789Z") == datetime(2026, 1, 1, 0, 0, 1, 123456, tzinfo=UTC)
    assert parse_ts("nonsense") is None
