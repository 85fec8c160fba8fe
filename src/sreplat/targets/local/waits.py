"""Waiting for the local processes to come up (bootstrap) or to run a new release (deploy),
giving up early once supervisord has given up on a program."""

from __future__ import annotations

from sreplat.errors import OperationFailed
from sreplat.pipeline.step import StepContext
from sreplat.targets.local import probes
from sreplat.targets.local.context import LocalContext
from sreplat.tools import http_probe

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


def wait_serving(local: LocalContext, ctx: StepContext, version: str) -> None:
    """Until the API has reported ``version`` RELOAD_CONFIRMATIONS times in a row."""
    streak = [0]

    def probe() -> str | None:
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
