"""gcp bootstrap (DESIGN §4)::

    state-bucket → foundation ─┬─ cluster ─ platform ─ redis ─┬─ api ────┬─ verify ─ record
                               ├─ redis-image ────────┘       │          │
                               └─ images ─────────────────────┴─ worker ─┘

``redis-image`` mirrors the Redis image ``base-images.json`` pins into the environment's
registry by digest; the redis release runs it from there (no pod pulls from Docker Hub).

The cluster stack (10-15 minutes on GKE) and the image build run side by side. Every step is
idempotent and checkpointed, so a re-run after a failure resumes at the step that failed. What a
step hands on is typed (``targets.gcp.data``): the foundation's outputs, the images by digest,
the Helm revisions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sreplat.pipeline.step import Pipeline, Step, StepContext, StepResult
from sreplat.targets.gcp import images, releases
from sreplat.targets.gcp.context import CLUSTER, FOUNDATION, GcpContext
from sreplat.targets.gcp.data import APPS, FoundationOutputs, HelmRevision
from sreplat.targets.gcp.record import DeployRecord, read_record, write_record
from sreplat.targets.gcp.stacks import Stacks
from sreplat.tools.images.mirror import MirroredImage
from sreplat.tools.images.pipeline import BuiltImages

IMAGES = "images"
REDIS_IMAGE = "redis-image"


class Bootstrap:
    def __init__(self, ctx: GcpContext, stacks: Stacks, *, allow_dirty: bool, recover: bool):
        self.ctx = ctx
        self.stacks = stacks
        self.allow_dirty = allow_dirty
        self.recover = recover

    def pipeline(self, head: str) -> Pipeline:
        """The DAG for a repository whose HEAD is ``head`` (the images of a first bootstrap)."""
        apps_need = ("redis", IMAGES, FOUNDATION)
        steps = [
            Step("state-bucket", self.state_bucket, description="Terraform state bucket (versioned)"),
            Step(
                FOUNDATION,
                self.foundation,
                ("state-bucket",),
                "network, registry, DNS zone, ingress IP, service accounts (Terraform)",
            ),
            Step(CLUSTER, self.cluster, (FOUNDATION,), "GKE Autopilot cluster (Terraform)"),
            Step(IMAGES, lambda step: self.images(step, head), (FOUNDATION,), "api and worker images"),
            Step(
                REDIS_IMAGE,
                lambda step: self.redis_image(step, head),
                (FOUNDATION,),
                "Redis image mirrored into the registry by digest",
            ),
            Step("platform", self.release("platform"), (CLUSTER,), "release platform (network policies)"),
            Step("redis", self.release("redis"), ("platform", REDIS_IMAGE), "release redis (mirrored image)"),
            Step("api", self.release("api"), apps_need, "release api (+ Ingress)"),
            Step("worker", self.release("worker"), apps_need, "release worker"),
            Step(
                "verify",
                self.verify,
                ("api", "worker", IMAGES, FOUNDATION),
                "rollouts complete; HTTPS /healthz at the API host",
                resumable=False,
                verifies=True,
            ),
            Step("record", self.record, ("verify", IMAGES, "api", "worker"), "record what runs"),
        ]
        return Pipeline("bootstrap", tuple(steps), fingerprint=self.ctx.fingerprint(head), max_parallel=4)

    def state_bucket(self, step: StepContext) -> StepResult:
        from sreplat.tools.gcp.gcs_state import ensure_state_bucket

        bucket = ensure_state_bucket(
            self.ctx.access, self.ctx.bucket, location=self.ctx.settings.region, on_event=step.sink
        )
        where = f"gs://{bucket.name}"
        if bucket.already_there:
            return StepResult.skipped(f"{where} already there", state_bucket=where)
        what = "created" if bucket.created else f"updated ({', '.join(bucket.changed)})"
        return StepResult.ok(f"{where} {what}", state_bucket=where)

    def foundation(self, step: StepContext) -> StepResult:
        step.progress("terraform: foundation")
        change = self.stacks.apply(FOUNDATION, sink=step.sink, step=step.step)
        self.ctx.stack_state(FOUNDATION, refresh=True)
        outputs = self.ctx.foundation()
        granted = self._let_ci_deploy(outputs)
        facts: dict[str, Any] = {
            "name_servers": list(outputs.dns_name_servers),
            "ingress_address": outputs.ingress_address,
            # What a GitHub repository's deploy workflow needs (repository variables).
            "ci_service_account": outputs.deployer_service_account_email,
        }
        if outputs.workload_identity_provider:
            facts["ci_identity_provider"] = outputs.workload_identity_provider
        if change.changed or granted:
            detail = change.describe() + ("; CI deployer may use this state" if granted else "")
            return StepResult.ok(detail, output=outputs, **facts)
        return StepResult.skipped(change.describe(), output=outputs, **facts)

    def _let_ci_deploy(self, outputs: FoundationOutputs) -> bool:
        """The CI deployer reads the stacks' outputs and writes the deploy record: give it this
        environment's prefix of the state bucket (sreplat made the bucket, so sreplat grants it)."""
        from sreplat.tools.gcp.gcs_state import grant_prefix_access

        email = outputs.deployer_service_account_email
        if not email:
            return False
        return grant_prefix_access(
            self.ctx.access,
            self.ctx.bucket,
            member=f"serviceAccount:{email}",
            prefix=self.ctx.settings.state_prefix,
        )

    def cluster(self, step: StepContext) -> StepResult:
        step.progress("terraform: cluster (GKE takes 10-15 minutes)")
        change = self.stacks.apply(CLUSTER, sink=step.sink, step=step.step)
        cluster = self.ctx.settings.cluster_name
        if change.changed:
            self.ctx.stack_state(CLUSTER, refresh=True)
            return StepResult.ok(change.describe(), cluster=cluster)
        return StepResult.skipped(change.describe(), cluster=cluster)

    def images(self, step: StepContext, head: str) -> StepResult:
        """The images of what runs (the deploy record), or of HEAD on a first bootstrap."""
        foundation = step.input(FOUNDATION, FoundationOutputs)
        record = read_record(self.ctx)
        if record is not None and images.all_present(self.ctx, record.images):
            return StepResult.skipped(
                f"images of {record.sha[:12]} (deployed) are in the registry",
                output=record.images,
                sha=record.sha,
            )
        sha = record.sha if record is not None else head
        return images.build(self.ctx, step, sha, foundation.registry_url, allow_dirty=self.allow_dirty)

    def redis_image(self, step: StepContext, head: str) -> StepResult:
        """The Redis image pinned at the SHA that runs (the deploy record's), or at HEAD."""
        foundation = step.input(FOUNDATION, FoundationOutputs)
        record = read_record(self.ctx)
        sha = record.sha if record is not None else head
        return images.mirror_redis(self.ctx, step, sha, foundation.registry_url)

    def release(self, name: str) -> Callable[[StepContext], StepResult]:
        def run(step: StepContext) -> StepResult:
            values: dict[str, Any] = {}
            if name == "redis":
                values = {"image": step.input(REDIS_IMAGE, MirroredImage).helm_image()}
            if name in APPS:
                plan = releases.ReleasePlan(
                    step.input(FOUNDATION, FoundationOutputs), step.input(IMAGES, BuiltImages)
                )
                values = plan.values(name)
            step.progress(f"helm: {name}")
            with self.ctx.helm(step.sink, cancel=step.cancel) as helm:
                change = releases.ensure_release(
                    helm,
                    name,
                    self.ctx.chart(name),
                    values,
                    timeout_s=self.ctx.settings.ready_timeout_s,
                    recover=self.recover,
                )
            revision = HelmRevision(name, change.revision)
            if change.changed:
                return StepResult.ok(f"{name} {change.detail}", output=revision)
            return StepResult.skipped(f"{name} {change.detail}", output=revision)

        return run

    def verify(self, step: StepContext) -> StepResult:
        sha = step.input(IMAGES, BuiltImages).sha
        foundation = step.input(FOUNDATION, FoundationOutputs)
        https = releases.check_release(self.ctx, step, sha, foundation, releases.WORKLOADS)
        host, name = foundation.api_hostname, self.ctx.env.name
        if https:
            summary = f"{name} is up: https://{host} runs {sha[:12]}"
        else:
            summary = (
                f"{name} is up; https://{host} waits for its managed certificate "
                f"(point {host} at {foundation.ingress_address}; "
                f"`sreplat status --env {name}` shows progress)"
            )
        return StepResult.ok(summary, summary=summary, api_url=f"https://{host}", release=sha)

    def record(self, step: StepContext) -> StepResult:
        built = step.input(IMAGES, BuiltImages)
        revisions = {app: step.input(app, HelmRevision).revision for app in APPS}
        current = read_record(self.ctx)
        if current is not None and current.images.to_json() == built.to_json():
            return StepResult.skipped(f"{built.sha[:12]} already recorded")
        write_record(self.ctx, DeployRecord.now(built, revisions))
        return StepResult.ok(f"recorded {built.sha[:12]} as what runs")
