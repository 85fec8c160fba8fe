"""Reading and following the log files supervisord writes for its programs.

supervisord appends a program's output to ``<name>.log`` and rotates it by renaming it
``<name>.log.1`` (older ones ``.2``, ``.3``) and starting a new file (``stdout_logfile_backups``).
``LogTail`` reads the backups once, oldest first, then the current file, and afterwards only what
was appended; when the file is rotated it finishes the renamed one through the handle it holds,
so no line is lost or repeated across a rotation.

Lines: the apps write JSON (docs/contracts.md); redis-server writes
``pid:role DD Mon YYYY HH:MM:SS.mmm <level char> text`` in local time; any other line (a
traceback) takes the time of the line before it, so it stays next to it when files are merged.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sreplat.logs import LogLine, app_line

_REDIS = re.compile(
    r"^(?P<pid>\d+):(?P<role>[XCSM]) "
    r"(?P<ts>\d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2}\.\d{3}) (?P<level>[.\-*#]) (?P<msg>.*)$"
)
_REDIS_LEVELS = {".": "DEBUG", "-": "DEBUG", "*": "INFO", "#": "WARNING"}
BACKUPS = 3  # stdout_logfile_backups in the supervisord config (tools/local/supervisor.py)


@dataclass(frozen=True)
class LogFile:
    path: Path
    source: str  # the program: api, worker-1, redis
    service: str  # what it is: api, worker, redis


def parse_line(raw: str, log: LogFile, previous: datetime | None) -> LogLine:
    text = raw.rstrip("\r\n")
    if text.startswith("{"):
        try:
            entry = json.loads(text)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            line = app_line(entry, source=log.source, service=log.service)
            return line if line.ts is not None else _with_ts(line, previous)
    match = _REDIS.match(text)
    if match is not None:
        try:
            local = datetime.strptime(match["ts"], "%d %b %Y %H:%M:%S.%f")
        except ValueError:
            local = None
        if local is not None:
            return LogLine(
                ts=local.astimezone().astimezone(UTC),  # redis-server writes local time
                source=log.source,
                service=log.service,
                message=match["msg"],
                level=_REDIS_LEVELS[match["level"]],
                fields={"pid": int(match["pid"])},
            )
    return LogLine(ts=previous, source=log.source, service=log.service, message=text)


def _with_ts(line: LogLine, ts: datetime | None) -> LogLine:
    return LogLine(
        ts=ts,
        source=line.source,
        service=line.service,
        message=line.message,
        level=line.level,
        trace_id=line.trace_id,
        span_id=line.span_id,
        fields=line.fields,
    )


class _Reader:
    """One program's log: its backups (read once), then the live file, followed by inode."""

    def __init__(self, log: LogFile, prefilter: Callable[[str], bool]):
        self.log = log
        self.prefilter = prefilter
        self.handle: IO[str] | None = None
        self.inode: int | None = None
        self.partial = ""
        self.last_ts: datetime | None = None
        self.started = False

    def new_lines(self) -> list[LogLine]:
        lines: list[LogLine] = []
        if not self.started:
            self.started = True
            for index in range(BACKUPS, 0, -1):
                backup = self.log.path.with_name(f"{self.log.path.name}.{index}")
                try:
                    with backup.open(encoding="utf-8", errors="replace") as handle:
                        lines += self._parse(handle.read(), final=True)
                except OSError:
                    continue
        try:
            inode = os.stat(self.log.path).st_ino
        except OSError:
            inode = None
        if self.handle is not None and inode != self.inode:
            lines += self._parse(self.handle.read(), final=True)  # the rest of the rotated file
            self.handle.close()
            self.handle = None
        if self.handle is None and inode is not None:
            try:
                self.handle = self.log.path.open(encoding="utf-8", errors="replace")
                self.inode = inode
            except OSError:
                return lines
        if self.handle is not None:
            lines += self._parse(self.handle.read(), final=False)
        return lines

    def _parse(self, text: str, *, final: bool) -> list[LogLine]:
        text = self.partial + text
        complete, _, rest = text.rpartition("\n")
        if final:
            complete, rest = text, ""
        self.partial = rest
        out = []
        for raw in complete.splitlines():
            if not raw.strip():
                continue
            if not self.prefilter(raw):
                continue
            line = parse_line(raw, self.log, self.last_ts)
            self.last_ts = line.ts or self.last_ts
            out.append(line)
        return out

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _everything(_raw: str) -> bool:
    return True


def _in_time_order(lines: Iterable[LogLine]) -> list[LogLine]:
    # Stable: lines of one file keep their order among equal or missing times.
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(lines, key=lambda line: line.ts or floor)


class LogTail:
    """Every line of ``files`` so far (``read``), then what is appended (``follow``)."""

    def __init__(self, files: Iterable[LogFile], *, prefilter: Callable[[str], bool] | None = None):
        """``prefilter``: a cheap test of a raw line; lines it refuses are not parsed at all."""
        self.readers = [_Reader(log, prefilter or _everything) for log in files]

    def read(self) -> list[LogLine]:
        """What was not returned yet, across all files, in time order."""
        return _in_time_order(line for reader in self.readers for line in reader.new_lines())

    def follow(
        self, *, poll_s: float = 0.25, sleep: Callable[[float], object] | None = None
    ) -> Iterator[LogLine]:
        """Lines as they are appended, forever (the caller stops iterating, e.g. on Ctrl-C)."""
        import time

        pause = sleep or time.sleep
        try:
            while True:
                yield from self.read()
                pause(poll_s)
        finally:
            self.close()

    def close(self) -> None:
        for reader in self.readers:
            reader.close()
