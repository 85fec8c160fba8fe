"""``sreplat logs [api|worker|redis] [--follow] [--since 10m] [--trace TRACE_ID]``: the platform's
log lines in time order, from the target (local: the supervised processes' log files; gcp: Cloud
Logging). Text: one line each; ``--output json``: one ``{"event": "log", ...}`` object each, then
a ``result`` line (none when following: it ends with Ctrl-C, exit 130)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sreplat.errors import ExitCode
from sreplat.logs import COMPONENTS, LogQuery, parse_since, parse_trace_id

if TYPE_CHECKING:
    from sreplat.cli.session import Session


def query_of(component: str | None, *, follow: bool, since: str | None, trace: str | None) -> LogQuery:
    """The query the flags describe; UsageError (exit 2) for a bad value."""
    return LogQuery(
        components=(component,) if component else COMPONENTS,
        since=parse_since(since) if since is not None else None,
        trace_id=parse_trace_id(trace) if trace is not None else None,
        follow=follow,
    )


def logs(session: Session, query: LogQuery) -> int:
    env = session.environment
    lines = session.target.logs(query)
    session.start()
    renderer = session.renderer
    count = 0
    try:
        for line in lines:
            renderer.log_line(line)
            count += 1
    except KeyboardInterrupt:
        if query.follow:
            return int(ExitCode.INTERRUPTED)  # how a follow ends: no error line
        raise
    if session.options.output == "json":
        renderer.report({"verb": "logs", "env": env.name, "target": env.target, "lines": count})
    elif count == 0:
        renderer.notice("no log lines match")
    return int(ExitCode.OK)
