"""gcp bootstrap (DESIGN §4)::

    state-bucket → foundation ─┬─ cluster ─ namespace ─ platform ─ redis ─┬─ api ────┬─ verify ─ record
                               ├─ redis-image ────────────────────┘       │          │
                               └─ images ─────────────────────────────────┴─ worker ─┘

``redis-image`` mirrors the Redis image ``base-images.json`` pins into the environment's
registry by digest; the redis release runs it from there (no pod pulls from Docker Hub).

The cluster stack (10-15 minutes on GKE) and the image build run side by side. Every step is
idempotent and checkpointed, so a re-run after a failure resumes at the step that failed. What a
step hands on is typed (``targets.gcp.data``): the foundation's outputs, the images by digest,
the Helm revisions.

The namespace comes from its manifest (``helm/namespace.yaml``: Pod Security ``restricted``)
before any release, which never creates it; ``platform`` binds the CI deployer's Role to the
foundation's deployer account. The record step tags the images ``release-<sha>`` (the
registry's cleanup policy keeps them) and writes the deploy record over the generation it read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sreplat.pipeline.step import Pipeline, Step, StepContext, StepResult
from sreplat.targets.gcp import images, releases
from sreplat.targets.gcp.context import CLUSTER, FOUNDATION, NAMESPACE, GcpContext
from sreplat.targets.gcp.data import APPS, FoundationOutputs, HelmRevision
from sreplat.targets.gcp.observability import Observability
from sreplat.targets.gcp.record import DeployRecord, read_record, read_record_versioned, write_record
from sreplat.targets.gcp.stacks import Stacks
from sreplat.tools.images.mirror import MirroredImage
from sreplat.tools.images.pipeline import BuiltImages

if TYPE_CHECKING:
    from sreplat.tools.gcp.gcs_state import StateBucket

IMAGES = "images"
REDIS_IMAGE = "redis-image"
NAMESPACE_STEP = "namespace"


class Bootstrap:
    def __init__(
        self,
        ctx: GcpContext,
        stacks: Stacks,
        *,
        allow_dirty: bool,
        recover: bool,
        bucket_made_for_the_lock: Callable[[], StateBucket | None] = lambda: None,
    ):
        """``bucket_made_for_the_lock``: the state bucket, when the target's run lock (an object
        in it) had to create it before this run's first step."""
        self.ctx = ctx
        self.stacks = stacks
        self.allow_dirty = allow_dirty
        self.recover = recover
        self.bucket_made_for_the_lock = bucket_made_for_the_lock

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
            Step(
                NAMESPACE_STEP,
                self.namespace,
                (CLUSTER,),
                f"namespace {NAMESPACE} (Pod Security: restricted), through the DNS endpoint",
            ),
            Step(IMAGES, lambda step: self.images(step, head), (FOUNDATION,), "api and worker images"),
            Step(
                REDIS_IMAGE,
                lambda step: self.redis_image(step, head),
                (FOUNDATION,),
                "Redis image mirrored into the registry by digest",
            ),
            Step(
                "platform",
                self.release("platform"),
                (NAMESPACE_STEP, FOUNDATION),
                "release platform (network policies, the CI deployer's Role, collector, Grafana, "
                "SLO rules, alerting)",
            ),
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
            Step(
                "record",
                self.record,
                ("verify", IMAGES, "api", "worker"),
                "tag the images release-<sha>; record what runs",
            ),
        ]
        return Pipeline("bootstrap", tuple(steps), fingerprint=self.ctx.fingerprint(head), max_parallel=4)

    def state_bucket(self, step: StepContext) -> StepResult:
        from sreplat.tools.gcp.gcs_state import ensure_state_bucket

        bucket = ensure_state_bucket(
            self.ctx.access, self.ctx.bucket, location=self.ctx.settings.region, on_event=step.sink
        )
        made = self.bucket_made_for_the_lock()
        if made is not None and made.created:
            bucket = made  # created a moment ago, to hold the environment lock
        where = f"gs://{bucket.name}"
        if bucket.already_there:
            return StepResult.skipped(f"{where} already there", state_bucket=where)
        what = "created" if bucket.created else f"updated ({', '.join(bucket.changed)})"
        return StepResult.ok(f"{where} {what}", state_bucket=where)

    def foundation(self, step: StepContext) -> StepResult:
        step.progress("terraform: foundation")
        change = self.stacks.apply(FOUNDATION, sink=step.sink, step=step.step)
        self.ctx.stack_state(FOUNDATION, refresh=True)
        # The stack also grants the CI deployer its objects in the state bucket (read the stacks'
        # states, write release.json and lock.json): a destroy of the stack takes them away.
        outputs = self.ctx.foundation()
        facts: dict[str, Any] = {
            # What to give the registrar (delegation and DNSSEC).
            "name_servers": list(outputs.dns_name_servers),
            "ds_record": outputs.dns_ds_record,
            "ingress_address": outputs.ingress_address,
            # What a GitHub repository's deploy workflow needs (repository variables).
            "ci_service_account": outputs.deployer_service_account_email,
        }
        if outputs.workload_identity_provider:
            # New after a destroy and a bootstrap (the pool id's suffix): set the variable again.
            facts["ci_identity_provider"] = outputs.workload_identity_provider
        if change.changed:
            return StepResult.ok(change.describe(), output=outputs, **facts)
        return StepResult.skipped(change.describe(), output=outputs, **facts)

    def cluster(self, step: StepContext) -> StepResult:
        step.progress("terraform: cluster (GKE takes 10-15 minutes)")
        change = self.stacks.apply(CLUSTER, sink=step.sink, step=step.step)
        cluster = self.ctx.settings.cluster_name
        if change.changed:
            self.ctx.stack_state(CLUSTER, refresh=True)
            return StepResult.ok(change.describe(), cluster=cluster)
        return StepResult.skipped(change.describe(), cluster=cluster)

    def namespace(self, step: StepContext) -> StepResult:
        from sreplat.tools.kube.namespace import apply_namespace, read_manifest

        manifest = read_manifest(self.ctx.namespace_manifest)
        step.progress(f"namespace {NAMESPACE}")
        with self.ctx.kube_api() as api:
            change = apply_namespace(api, manifest)
        if change.changed:
            return StepResult.ok(change.describe())
        return StepResult.skipped(change.describe())

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
        return images.build(self.ctx, step, sha, foundation, allow_dirty=self.allow_dirty)

    def redis_image(self, step: StepContext, head: str) -> StepResult:
        """The Redis image pinned at the SHA that runs (the deploy record's), or at HEAD."""
        foundation = step.input(FOUNDATION, FoundationOutputs)
        record = read_record(self.ctx)
        sha = record.sha if record is not None else head
        return images.mirror_redis(self.ctx, step, sha, foundation.registry_url)

    def release(self, name: str) -> Callable[[StepContext], StepResult]:
        def run(step: StepContext) -> StepResult:
            values: dict[str, Any] = {}
            if name == "platform" or name in APPS:
                foundation = step.input(FOUNDATION, FoundationOutputs)
                observability = Observability(self.ctx)
                if name == "platform":
                    values = releases.platform_values(foundation) | observability.platform_values(foundation)
                else:
                    plan = releases.ReleasePlan(
                        foundation,
                        step.input(IMAGES, BuiltImages),
                        {name: observability.app_values(foundation)},  # not the platform's too
                    )
                    values = plan.values(name)
            elif name == "redis":
                values = {"image": step.input(REDIS_IMAGE, MirroredImage).helm_image()}
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
        current, generation = read_record_versioned(self.ctx)
        tagged = images.tag_release(self.ctx, built)
        if current is not None and current.images.to_json() == built.to_json():
            return StepResult.skipped(f"{built.sha[:12]} already recorded{tagged}")
        write_record(self.ctx, DeployRecord.now(built, revisions), if_generation_match=generation)
        return StepResult.ok(f"recorded {built.sha[:12]} as what runs{tagged}")
