"""gcp deploy --sha: the deploy record says what runs; the same SHA again is "nothing to do" (no
build, no upgrade). Otherwise images are built or reused (a tag that exists is never rebuilt),
api and worker are upgraded by digest together and rolled back together when either fails, the
rollouts are awaited, a smoke request over HTTPS must report the new SHA, then it is recorded. A
failed smoke request rolls both back too::

    current → images → upgrade → smoke → record
"""

from __future__ import annotations

from sreplat.errors import Interrupted, OperationFailed, SreplatError
from sreplat.pipeline.step import Pipeline, Step, StepContext, StepResult
from sreplat.targets.gcp import images, releases
from sreplat.targets.gcp.context import NAMESPACE, GcpContext
from sreplat.targets.gcp.data import APPS, AppsUpgrade, Current
from sreplat.targets.gcp.record import DeployRecord, read_record_versioned, write_record
from sreplat.tools.images.pipeline import BuiltImages

CURRENT, IMAGES, UPGRADE = "current", "images", "upgrade"


class Deploy:
    def __init__(self, ctx: GcpContext, sha: str, *, allow_dirty: bool, recover: bool):
        self.ctx = ctx
        self.sha = sha
        self.allow_dirty = allow_dirty
        self.recover = recover

    def pipeline(self) -> Pipeline:
        steps = [
            Step(CURRENT, self.current, description="what runs now", resumable=False, verifies=True),
            Step(IMAGES, self.images, (CURRENT,), "build or reuse images"),
            Step(
                UPGRADE,
                self.upgrade,
                (IMAGES, CURRENT),
                "upgrade api and worker by digest (all or none)",
                resumable=False,
            ),
            Step(
                "smoke",
                self.smoke,
                (UPGRADE, CURRENT),
                "rollouts complete; /healthz reports the new release",
                resumable=False,
                verifies=True,
            ),
            Step(
                "record",
                self.record,
                ("smoke", IMAGES, UPGRADE, CURRENT),
                "tag the images release-<sha>; record what runs",
            ),
        ]
        return Pipeline("deploy", tuple(steps), fingerprint=self.ctx.fingerprint(self.sha))

    def current(self, step: StepContext) -> StepResult:
        from sreplat.tools.kube.workloads import deployment_image, workload_status

        sha, name = self.sha, self.ctx.env.name
        # The record's generation: the new one is written over it only (a record another run wrote
        # meanwhile is never overwritten unseen).
        record, generation = read_record_versioned(self.ctx)
        good = dict(record.revisions) if record is not None else {}
        if record is None or record.sha != sha:
            running = record.sha[:12] if record else "nothing recorded"
            return StepResult.ok(
                f"runs {running}; {sha[:12]} to deploy", output=Current(sha, False, good, generation)
            )
        with self.ctx.kube_api() as api:
            statuses = [workload_status(api, NAMESPACE, kind, app) for kind, app in releases.ROLLOUTS]
            running_images = {s.name: deployment_image(api, NAMESPACE, s.name) for s in statuses}
        stale = [
            s.name
            for s in statuses
            if not s.complete or running_images.get(s.name) != record.images.pinned(s.name)
        ]
        if stale:
            return StepResult.ok(
                f"{sha[:12]} is recorded but {', '.join(stale)} do not run it: deploying again",
                output=Current(sha, False, good, generation),
            )
        summary = f"{name} already runs {sha[:12]}: nothing to do"
        return StepResult.ok(
            summary, output=Current(sha, True, good, generation), summary=summary, release=sha
        )

    def images(self, step: StepContext) -> StepResult:
        if step.input(CURRENT, Current).up_to_date:
            return StepResult.skipped(f"{self.sha[:12]} already runs", sha=self.sha)
        return images.build(self.ctx, step, self.sha, self.ctx.foundation(), allow_dirty=self.allow_dirty)

    def upgrade(self, step: StepContext) -> StepResult:
        current = step.input(CURRENT, Current)
        if current.up_to_date:
            return StepResult.skipped(f"{self.sha[:12]} already runs")
        plan = releases.ReleasePlan(self.ctx.foundation(), step.input(IMAGES, BuiltImages))
        step.progress(f"helm: upgrading api and worker to {self.sha[:12]}")
        with self.ctx.helm(step.sink, cancel=step.cancel) as helm:
            results = releases.upgrade_apps(
                helm,
                {app: self.ctx.chart(app) for app in APPS},
                {app: plan.values(app) for app in APPS},
                timeout_s=self.ctx.settings.ready_timeout_s,
                recover=self.recover,
                good=current.good_revisions,
            )
        previous = {app: current.good_revisions.get(app) or r.previous_revision for app, r in results.items()}
        upgrade = AppsUpgrade(
            previous={app: revision for app, revision in previous.items() if revision},
            revisions={app: r.release.revision for app, r in results.items()},
        )
        detail = ", ".join(f"{app} r{rev}" for app, rev in upgrade.revisions.items())
        return StepResult.ok(f"upgraded: {detail}", output=upgrade)

    def smoke(self, step: StepContext) -> StepResult:
        sha, name = self.sha, self.ctx.env.name
        if step.input(CURRENT, Current).up_to_date:
            return StepResult.skipped(f"{sha[:12]} already runs")
        foundation = self.ctx.foundation()
        host = foundation.api_hostname
        try:
            https = releases.check_release(self.ctx, step, sha, foundation, releases.ROLLOUTS)
        except Interrupted:
            raise  # the upgrade is rolled out; a re-run checks it again and records it
        except SreplatError as exc:
            previous = step.input(UPGRADE, AppsUpgrade).previous
            with self.ctx.helm(step.sink, cancel=step.cancel) as helm:
                undone = releases.rollback_apps(helm, previous, timeout_s=self.ctx.settings.ready_timeout_s)
            raise OperationFailed(
                f"{sha[:12]} failed its smoke test ({exc.message}); " + "; ".join(undone),
                hint=f"see the pods with `sreplat status --env {name}`",
                detail=exc.detail,
            ) from exc
        checked = (
            f"https://{host}/healthz reports it"
            if https
            else "certificate still provisioning: HTTPS not checked"
        )
        summary = f"deployed {sha[:12]} to {name}: {checked}"
        return StepResult.ok(summary, summary=summary, release=sha, api_url=f"https://{host}")

    def record(self, step: StepContext) -> StepResult:
        current = step.input(CURRENT, Current)
        if current.up_to_date:  # nothing new runs
            return StepResult.skipped(f"{self.sha[:12]} already recorded")
        built = step.input(IMAGES, BuiltImages)
        tagged = images.tag_release(self.ctx, built)
        write_record(
            self.ctx,
            DeployRecord.now(built, step.input(UPGRADE, AppsUpgrade).revisions),
            # Over the record this run read at its start: a write by anyone else since is not lost.
            if_generation_match=current.record_generation,
        )
        return StepResult.ok(f"recorded {self.sha[:12]} as what runs{tagged}")
