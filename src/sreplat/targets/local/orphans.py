"""Processes of a local environment whose supervisord is gone.

When supervisord dies (SIGKILL, OOM killer) its programs keep running, re-parented to init: the
API, the workers and redis-server go on holding the environment's ports, and no supervisord
restarts them. They are recognised by what they run from (``processes.find``: the state dir in
their argv, environment or working directory), never by name.

``bootstrap`` stops them gracefully and then starts everything again under a new supervisord
with the same configuration: first the apps (SIGTERM: the API finishes its requests, a worker
its running job), then redis-server (SIGTERM is a SHUTDOWN that fsyncs the append-only file,
redis.io/docs/reference/signals), so Redis' data survives. ``destroy`` stops them the same way.
"""

from __future__ import annotations

from sreplat.targets.local.context import LocalContext
from sreplat.tools.local import processes
from sreplat.tools.local.processes import Found

# As long as supervisord would give them (programs.py: stopwaitsecs).
APPS_GRACE_S = 90.0
REDIS_GRACE_S = 60.0


def find(local: LocalContext) -> list[Found]:
    """The environment's processes running without its supervisord (none while it answers)."""
    if local.supervisor.running():
        return []
    supervisord = local.supervisor.pid()  # alive but not answering: not an orphan itself
    return [f for f in processes.find(local.layout.marker) if f.pid != supervisord]


def stop(local: LocalContext, found: list[Found]) -> None:
    """Stop ``found`` gracefully: the apps first, then redis-server (whose clients they are)."""
    redis_dir = str(local.layout.redis_data)
    processes.stop([f.pid for f in found if f.cwd != redis_dir], grace_s=APPS_GRACE_S)
    processes.stop([f.pid for f in found if f.cwd == redis_dir], grace_s=REDIS_GRACE_S)


def describe(found: list[Found]) -> str:
    pids = ", ".join(str(f.pid) for f in found[:6]) + (", ..." if len(found) > 6 else "")
    return f"{len(found)} process(es) of the environment still run without it (pids {pids})"
