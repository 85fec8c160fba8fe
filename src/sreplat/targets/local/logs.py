"""``sreplat logs`` on the local target: the supervised processes' log files (``<state>/logs``),
merged in time order, filtered by component, age and trace, and optionally followed."""

from __future__ import annotations

from collections.abc import Iterator

from sreplat.errors import OperationFailed
from sreplat.logs import LogLine, LogQuery
from sreplat.targets.local.context import LocalContext
from sreplat.tools.local.log_files import LogFile, LogTail


def log_files(local: LocalContext, components: tuple[str, ...]) -> list[LogFile]:
    files = []
    if "api" in components:
        files.append(LogFile(local.layout.log("api"), "api", "api"))
    if "worker" in components:
        files += [LogFile(local.layout.log(name), name, "worker") for name in local.worker_names()]
    if "redis" in components:
        files.append(LogFile(local.layout.log("redis"), "redis", "redis"))
    return files


def lines(local: LocalContext, query: LogQuery) -> Iterator[LogLine]:
    if not local.layout.logs_dir.is_dir():
        raise OperationFailed(
            f"{local.env.name} has no logs (not bootstrapped: no {local.layout.logs_dir})",
            hint="run `sreplat bootstrap`",
        )
    trace = query.trace_id
    # Most lines are not of the trace: skip them before parsing JSON.
    tail = LogTail(
        log_files(local, query.components), prefilter=(lambda raw: trace in raw) if trace else None
    )
    cutoff = query.cutoff()
    try:
        yield from (line for line in tail.read() if query.wants(line, cutoff))
        if query.follow:
            yield from (line for line in tail.follow() if query.wants(line, None))
    finally:
        tail.close()
