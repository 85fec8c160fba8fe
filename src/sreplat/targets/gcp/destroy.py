"""gcp destroy: the releases, then the load balancer GKE built for the Ingress (Terraform cannot
delete the static IP or the network while it exists), then the cluster stack (deletion protection
lifted there and only there), then the foundation and the deploy record. The state bucket stays:
it is versioned and may hold other environments' state::

    releases → load-balancer → cluster → foundation
"""

from __future__ import annotations

from collections.abc import Callable

from sreplat.pipeline.step import Pipeline, Step, StepContext, StepResult
from sreplat.targets.gcp import releases
from sreplat.targets.gcp.context import CLUSTER, FOUNDATION, GcpContext
from sreplat.targets.gcp.record import delete_record
from sreplat.targets.gcp.stacks import Stacks

# First and longest wait between looks at the load balancer's teardown.
LB_POLL_S = (1.0, 10.0)


class Destroy:
    def __init__(self, ctx: GcpContext, stacks: Stacks):
        self.ctx = ctx
        self.stacks = stacks

    def pipeline(self) -> Pipeline:
        steps = [
            Step("releases", self.uninstall, description="uninstall worker, api, redis, platform"),
            Step(
                "load-balancer",
                self.load_balancer_gone,
                ("releases",),
                "wait for GKE to delete the Ingress' load balancer and NEGs",
            ),
            Step(
                CLUSTER,
                self.destroy_stack(CLUSTER),
                ("load-balancer",),
                "cluster stack (deletion protection lifted)",
            ),
            Step(
                FOUNDATION, self.destroy_stack(FOUNDATION), (CLUSTER,), "foundation stack; the deploy record"
            ),
        ]
        return Pipeline("destroy", tuple(steps), fingerprint=self.ctx.fingerprint("destroy"), max_parallel=1)

    def uninstall(self, step: StepContext) -> StepResult:
        from sreplat.tools.api_calls import ResourceMissing

        state = self.ctx.stack_state(CLUSTER, refresh=True)
        if state is None or state.empty:
            return StepResult.skipped("no cluster: no releases")
        try:
            with self.ctx.helm(step.sink, cancel=step.cancel) as helm:
                removed = releases.uninstall_all(helm, timeout_s=self.ctx.settings.ready_timeout_s)
        except ResourceMissing:
            return StepResult.skipped("the cluster is gone already")
        if not removed:
            return StepResult.skipped("no release installed")
        return StepResult.ok(f"uninstalled {', '.join(removed)}")

    def load_balancer_gone(self, step: StepContext) -> StepResult:
        from sreplat.tools.gcp.lb_cleanup import wait_for_lb_cleanup

        state = self.ctx.stack_state(FOUNDATION, refresh=True)
        address = state.outputs.get("ingress_address") if state is not None else None
        step.progress("waiting for GKE to delete the load balancer")
        result = wait_for_lb_cleanup(
            self.ctx.access,
            network=self.ctx.settings.network_name,
            addresses=[str(address)] if address else [],
            timeout=self.ctx.settings.ready_timeout_s,
            poll_interval=LB_POLL_S[1],
            first_poll_interval=LB_POLL_S[0],
            on_event=step.sink,
            cancel=step.cancel,
        )
        if not result.seen:
            return StepResult.skipped("no load balancer resources left")
        return StepResult.ok(
            f"{len(result.seen)} load balancer resource(s) gone after {result.waited_s:.0f}s"
        )

    def destroy_stack(self, stack: str) -> Callable[[StepContext], StepResult]:
        def run(step: StepContext) -> StepResult:
            step.progress(f"terraform destroy: {stack}")
            change = self.stacks.destroy(stack, sink=step.sink, step=step.step)
            if stack == FOUNDATION:
                delete_record(self.ctx)
                name, bucket = self.ctx.env.name, self.ctx.bucket
                summary = f"{name} destroyed (gs://{bucket} kept: it may hold other state)"
                if not change.changed:
                    return StepResult.skipped(f"{stack}: nothing left", summary=summary)
                return StepResult.ok(f"{stack}: destroyed {change.destroyed}", summary=summary)
            if not change.changed:
                return StepResult.skipped(f"{stack}: nothing left")
            return StepResult.ok(f"{stack}: destroyed {change.destroyed}")

        return run
