"""Local destroy: stop every process gracefully through supervisord, then make sure nothing of
the environment is left running and its ports are free."""

from __future__ import annotations

from sreplat.errors import OperationFailed
from sreplat.pipeline.step import Pipeline, Step, StepContext, StepResult
from sreplat.targets.local import orphans
from sreplat.targets.local.context import LocalContext
from sreplat.tools.local import ports, processes


class Destroy:
    def __init__(self, local: LocalContext):
        self.local = local

    def pipeline(self) -> Pipeline:
        return Pipeline(
            name="destroy",
            steps=(
                # Not resumable: a bootstrap after a failed destroy may have started things again.
                Step(
                    "stop",
                    self.stop_all,
                    description="stop every process gracefully, then supervisord",
                    resumable=False,
                ),
                Step(
                    "leftovers",
                    self.stop_leftovers,
                    needs=("stop",),
                    description="make sure no process of the environment is left, ports free",
                    resumable=False,
                ),
            ),
        )

    def stop_all(self, ctx: StepContext) -> StepResult:
        supervisor = self.local.supervisor
        if not supervisor.running() and supervisor.pid() is None:
            return StepResult.skipped("supervisord is not running")
        ctx.progress("stopping workers (warm), the API (graceful), then redis")
        supervisor.shutdown()
        return StepResult.ok("all processes stopped")

    def stop_leftovers(self, ctx: StepContext) -> StepResult:
        found = processes.find(self.local.layout.marker)
        if found:
            ctx.progress(f"stopping {len(found)} leftover process(es)")
            orphans.stop(self.local, found)
        busy = ports.wait_free(self.local.live.ports.values(), timeout_s=30)
        if busy:
            who = ", ".join(f"{p} ({ports.holder(p).describe()})" for p in busy)
            raise OperationFailed(f"ports still in use after stopping everything: {who}")
        if found:
            return StepResult.ok(f"stopped {len(found)} leftover process(es); ports free")
        return StepResult.skipped("nothing left; ports free")
