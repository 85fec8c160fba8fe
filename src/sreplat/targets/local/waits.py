"""Waiting for the local processes to come up (bootstrap) or to run a new release (deploy),
giving up early once supervisord has given up on a program, or, for a program a deploy just
restarted, as soon as it crashes instead of coming up."""

from __future__ import annotations

from sreplat.errors import OperationFailed
from sreplat.pipeline.step import StepContext
from sreplat.targets.local import probes
from sreplat.targets.local.context import LocalContext
from sreplat.tools import http_probe
from sreplat.tools.local.supervisor import ProcessInfo

# Consecutive /healthz answers with the new release before a reload counts as done: right after
# SIGHUP an old gunicorn worker may still answer once.
RELOAD_CONFIRMATIONS = 3


def give_up_if_fatal(local: LocalContext, name: str, *, what: str | None = None) -> str:
    """The program's state; OperationFailed once supervisord stopped retrying it."""
    state = local.supervisor.process(name).state
    if state == "FATAL":
        raise OperationFailed(
            f"{what or name} keeps crashing (supervisord gave up)", hint=f"see {local.layout.log(name)}"
        )
    return state


def crashing(local: LocalContext, name: str, started_pid: int) -> tuple[ProcessInfo, str | None]:
    """``name``'s state, and why it counts as crashing since it was started as ``started_pid``.

    supervisord (supervisor/process.py, ``Subprocess.finish``): a program that exits before
    ``startsecs`` goes STARTING -> BACKOFF ("Exited too quickly") and is retried with a growing
    delay, FATAL after ``startretries``; one that exits later goes RUNNING -> EXITED and is
    started again under a new pid. Either tells within seconds what the ready timeout would only
    tell after minutes.
    """
    info = local.supervisor.process(name)
    if info.state in ("BACKOFF", "FATAL", "EXITED"):
        return info, f"{info.state} ({info.spawn_error or f'exit status {info.exit_status}'})"
    if started_pid and info.pid and info.pid != started_pid:
        return info, f"exited and was started again (pid {started_pid}, now {info.pid})"
    return info, None


def crash_error(local: LocalContext, name: str, what: str, why: str) -> OperationFailed:
    lines = [ln.strip() for ln in local.supervisor.log_tail(name).splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    return OperationFailed(
        f"{what} crashes on start: {why}" + (f"; its log ends: {last[:200]}" if last else ""),
        hint=f"see {local.layout.log(name)}",
    )


def wait_restarted_worker(
    local: LocalContext, ctx: StepContext, name: str, *, pid: int, port: int, version: str
) -> None:
    """Until worker ``name``, just started as ``pid``, runs, is registered and reports
    ``version``; OperationFailed as soon as it crashes instead."""
    expected = len(local.worker_names())

    def probe() -> str | None:
        info, why = crashing(local, name, pid)
        if why is not None:
            raise crash_error(local, name, name, why)
        if not info.running:
            return f"{name} {info.state}"
        alive = len(probes.alive_workers(local.redis_url()))
        if alive < expected:
            return f"{alive}/{expected} registered"
        return probes.worker_release_mismatch(port, version)

    ctx.wait_until(
        probe,
        timeout_s=local.live.ready_timeout_s,
        what=f"{name} did not come up on {version}",
        hint=f"see {local.layout.log(name)}",
    )


def wait_ready(local: LocalContext, ctx: StepContext) -> None:
    """Until the API answers /readyz with 200."""
    url = f"{local.api_url()}/readyz"

    def probe() -> str | None:
        state = give_up_if_fatal(local, "api", what="the API")
        answer = http_probe.get(url)
        return None if answer.status == 200 else f"/readyz: {answer.describe()} (api {state})"

    ctx.wait_until(
        probe,
        timeout_s=local.live.ready_timeout_s,
        what="the API did not become ready",
        hint=f"see {local.layout.log('api')}",
    )


def wait_workers(local: LocalContext, ctx: StepContext, expected: int) -> None:
    """Until every worker program runs and ``expected`` workers are registered."""

    def probe() -> str | None:
        for name in local.worker_names():
            give_up_if_fatal(local, name)
        starting = [n for n in local.worker_names() if not local.supervisor.process(n).running]
        if starting:
            return f"{', '.join(starting)} not running yet"
        alive = len(probes.alive_workers(local.redis_url()))
        return None if alive >= expected else f"{alive}/{expected} registered"

    ctx.wait_until(
        probe,
        timeout_s=local.live.ready_timeout_s,
        what="the workers did not register",
        hint=f"see {local.layout.logs_dir}/worker-*.log",
    )


def wait_serving(local: LocalContext, ctx: StepContext, version: str, *, api_pid: int) -> None:
    """Until the API has reported ``version`` RELOAD_CONFIRMATIONS times in a row; OperationFailed
    as soon as its master (``api_pid`` when reloaded or started) crashes instead."""
    streak = [0]

    def probe() -> str | None:
        _info, why = crashing(local, "api", api_pid)
        if why is not None:
            raise crash_error(local, "api", "the API", why)
        serving = probes.serving(local.api_url())
        streak[0] = streak[0] + 1 if serving == version else 0
        if streak[0] >= RELOAD_CONFIRMATIONS:
            return None
        return f"the API serves {serving or 'nothing'}"

    ctx.wait_until(
        probe,
        timeout_s=local.live.ready_timeout_s,
        what=f"the API did not switch to {version}",
        interval_s=0.2,
        hint=f"see {local.layout.log('api')}",
    )
