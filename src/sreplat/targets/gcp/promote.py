"""gcp promote --from SOURCE --to TARGET [--sha SHA]: the target runs exactly the image digests of
the source's release, copied by digest between the environments' repositories — never rebuilt.

It is a deploy whose images step copies instead of building (``promotion.copy_release``), so
what follows is deploy's: api and worker upgraded by digest together, rolled back together when
either rollout or the smoke request fails, then the record — which keeps the source release's
build inputs and says where it came from::

    current → images (copy by digest) → upgrade → smoke → record

Before the lock (``GcpTarget.check_promote``): the source must have a release record, the SHA
must be the one it runs or one in its history, and its ``status`` verdict must be healthy. Every
step is checkpointed: a promotion interrupted between the copy and the upgrade resumes at the
upgrade (and the copy is idempotent anyway).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sreplat.errors import UsageError
from sreplat.pipeline.checks import CheckResult, Verdict, overall, run_checks
from sreplat.pipeline.step import Pipeline, StepContext, StepResult
from sreplat.targets.gcp import images, status
from sreplat.targets.gcp.context import GcpContext
from sreplat.targets.gcp.data import AppsUpgrade, Current
from sreplat.targets.gcp.deploy import CURRENT, IMAGES, UPGRADE, Deploy
from sreplat.targets.gcp.promotion import choose_release, copy_release
from sreplat.targets.gcp.record import DeployRecord, PastRelease, read_record, write_record
from sreplat.tools.images.pipeline import BuiltImages

if TYPE_CHECKING:
    from sreplat.targets.gcp import GcpTarget


class Promote(Deploy):
    def __init__(self, ctx: GcpContext, source: GcpContext, release: PastRelease, *, recover: bool):
        super().__init__(ctx, release.sha, allow_dirty=False, recover=recover)
        self.source = source
        self.release = release

    def pipeline(self) -> Pipeline:
        deploy = super().pipeline()
        descriptions = {IMAGES: f"copy {self.source.env.name}'s images by digest (no build)"}
        steps = tuple(
            replace(step, description=descriptions.get(step.name, step.description)) for step in deploy.steps
        )
        fingerprint = self.ctx.fingerprint(self.sha, "promote", self.source.env.name)
        return Pipeline("promote", steps, fingerprint=fingerprint)

    def images(self, step: StepContext) -> StepResult:
        if step.input(CURRENT, Current).up_to_date:
            return StepResult.skipped(f"{self.sha[:12]} already runs", sha=self.sha)
        from sreplat.tools.images.registry import RegistryClient, RegistryCredentials

        # One identity (the target's deployer) reads the source and writes the target: on one
        # registry host the same client serves both, so blobs can be mounted.
        credentials = RegistryCredentials.from_google(self.ctx.access.resolved_credentials())
        base_url = self.ctx.endpoints.artifact_registry

        def client_for(host: str) -> RegistryClient:
            return RegistryClient(host, credentials=credentials, base_url=base_url)

        step.progress(f"copying the images of {self.sha[:12]} from {self.source.env.name}")
        promoted = copy_release(
            self.release,
            source_env=self.source.env.name,
            target_prefix=self.ctx.foundation().registry_url,
            client_for=client_for,
            emit=step.sink,
        )
        return StepResult.ok(promoted.describe(), output=promoted.images, sha=self.sha)

    def record(self, step: StepContext) -> StepResult:
        current = step.input(CURRENT, Current)
        if current.up_to_date:
            return StepResult.skipped(f"{self.sha[:12]} already recorded")
        copied = step.input(IMAGES, BuiltImages)
        # As deploy's record step: the target's copies are tagged release-<sha> (its cleanup
        # policy keeps them), and the record is written over the generation read at the start.
        tagged = images.tag_release(self.ctx, copied)
        revisions = step.input(UPGRADE, AppsUpgrade).revisions
        write_record(
            self.ctx,
            DeployRecord.now(copied, revisions, promoted_from=self.source.env.name),
            if_generation_match=current.record_generation,
        )
        return StepResult.ok(f"recorded {self.sha[:12]} (from {self.source.env.name}) as what runs{tagged}")


class GcpPromotion:
    """``sreplat promote`` into a gcp environment (``target``) from ``source``: the release is
    chosen here (reading the source's record), checked before the lock, then run."""

    def __init__(self, target: GcpTarget, source: GcpContext, sha: str | None):
        self.target = target
        self.source = source
        self.release = choose_release(source.env.name, read_record(source), sha)

    @property
    def sha(self) -> str:
        return self.release.sha

    def check(self) -> None:
        name = self.source.env.name
        verdict, results = source_health(self.source)
        if verdict is not Verdict.HEALTHY:
            bad = [f"{r.name}: {r.summary}" for r in results if r.verdict is not Verdict.HEALTHY]
            raise UsageError(
                f"{name} is not healthy ({verdict}), so what it runs is not promoted: " + "; ".join(bad),
                hint=f"see `sreplat --env {name} status`; promote once it is healthy",
            )
        self.target.check_deploy(self.sha)  # the target is bootstrapped

    def pipeline(self) -> Pipeline:
        return Promote(self.target.ctx, self.source, self.release, recover=self.target.recover).pipeline()

    def facts(self) -> dict[str, Any]:
        images = self.release.images
        return {
            "source": self.source.env.name,
            "images": {app: images.images[app].pinned for app in sorted(images.images)},
        }


def source_health(source: GcpContext) -> tuple[Verdict, tuple[CheckResult, ...]]:
    """The source's ``status`` verdict and checks, as ``sreplat --env <source> status`` gives them."""
    results = run_checks(status.status_checks(source, status.Preflight(source)))
    return overall(results), results
