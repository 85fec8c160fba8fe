"""The ``gcp`` target: GKE Autopilot, Artifact Registry, Cloud DNS and a global HTTPS load balancer,
made with the Terraform stacks and the Helm charts of this repository.

bootstrap (DESIGN §4)::

    state-bucket → foundation ─┬─ cluster ─ platform ─ redis ─┬─ api ────┬─ verify ─ record
                               └─ images ─────────────────────┴─ worker ─┘

The cluster stack (10-15 minutes on GKE) and the image build run side by side. Every step is
idempotent and checkpointed, so a re-run after a failure resumes at the step that failed.

deploy --sha: the release record says what runs; the same SHA again is "nothing to do" (no build,
no upgrade). Otherwise images are built or reused (a tag that exists is never rebuilt), api and
worker are upgraded by digest together and rolled back together when either fails, the rollouts
are awaited, a smoke request over HTTPS must report the new release, then the release is
recorded. A failed smoke request rolls both back too.

destroy: releases, then the load balancer GKE built for the Ingress (Terraform cannot delete the
static IP or the network while it exists), then the cluster stack (deletion protection lifted
there and only there), then the foundation. The state bucket stays: it is versioned and may hold
other environments' state.

The test seams are configuration, never branches: ``SREPLAT_GCP_<SERVICE>_ENDPOINT`` for every
API, ``stacks_dir``/``charts_dir`` for the Terraform stacks and charts, ``image_builder`` for the
builder, ``dns_resolvers`` for public DNS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sreplat.config import Environment
from sreplat.errors import OperationFailed, SreplatError, ToolMissing, UsageError
from sreplat.logs import LogLine, LogQuery
from sreplat.pipeline.checks import Check, Finding, healthy, unhealthy, unknown
from sreplat.pipeline.step import Pipeline, Step, StepContext, StepResult
from sreplat.targets import Seams
from sreplat.targets.base import Target
from sreplat.targets.gcp import releases as gcp_releases
from sreplat.targets.gcp import status as gcp_status
from sreplat.targets.gcp.context import (
    APPS,
    CLUSTER,
    FOUNDATION,
    NAMESPACE,
    STACKS,
    GcpContext,
    ReleaseRecord,
    short_reason,
)
from sreplat.targets.gcp.observability import Observability
from sreplat.targets.gcp.seams import GcpSeams
from sreplat.targets.gcp.settings import GcpSettings
from sreplat.targets.gcp.stacks import Stacks
from sreplat.tools.images.pipeline import ImageManifest

ROLLOUTS = (("Deployment", "api"), ("Deployment", "worker"))
LB_POLL_S = (1.0, 10.0)  # first and longest wait between looks at the load balancer's teardown
HEALTHZ_PROBE_S = 5.0
DOCTOR_CHECK_S = 20.0
DOCTOR_CALL_S = 15.0  # one call inside a doctor check: less than the check's own timeout


class GcpTarget(Target):
    name = "gcp"

    def __init__(self, env: Environment, seams: Seams):
        super().__init__(env, seams)
        if not isinstance(env.settings, GcpSettings):
            raise TypeError("GcpTarget needs GcpSettings")
        self.settings: GcpSettings = env.settings
        self.ctx = GcpContext(env, seams.part(self.name, GcpSeams) or GcpSeams())
        self.stacks = Stacks(self.ctx)
        self.preflight = gcp_status.Preflight(self.ctx)  # shared by status and status --drift
        self.observability = Observability(self.ctx)
        self.allow_dirty = False
        self.recover = False

    def set_run_options(self, *, allow_dirty: bool = False, recover: bool = False) -> None:
        self.allow_dirty = allow_dirty
        self.recover = recover

    # --- validation (before the lock; reads only) ---------------------------------------------
    def check_bootstrap(self) -> None:
        from sreplat.tools import git

        self.ctx.check_layout()
        git.resolve_sha(self.env.repo, "HEAD")  # UsageError outside a git repository
        if not self.allow_dirty and git.is_dirty(self.env.repo):
            raise UsageError(
                f"{self.env.repo} has uncommitted changes: images tagged with HEAD would not be HEAD",
                hint="commit or stash them, or pass --allow-dirty",
            )
        self.observability.check()  # SLO files and the SMTP password, before anything starts
        # Before the lock, the run log and the state dir: without credentials nothing can start.
        self.ctx.require_access()

    def check_deploy(self, sha: str) -> None:
        self.ctx.check_layout()
        self.observability.check()
        state = self.ctx.stack_state(CLUSTER)
        if state is None or state.empty:
            raise UsageError(
                f"environment {self.env.name!r} is not bootstrapped: nothing to deploy to",
                hint=f"run `sreplat bootstrap --env {self.env.name}` first",
            )

    def exists(self) -> bool:
        return any((state := self.ctx.stack_state(stack)) is not None and not state.empty for stack in STACKS)

    # --- bootstrap -----------------------------------------------------------------------------
    def bootstrap(self) -> Pipeline:
        from sreplat.tools import git

        head = git.resolve_sha(self.env.repo, "HEAD")
        steps = [
            Step("state-bucket", self._state_bucket, description="Terraform state bucket (versioned)"),
            Step(
                FOUNDATION,
                self._foundation,
                ("state-bucket",),
                "network, registry, DNS zone, ingress IP, service accounts (Terraform)",
            ),
            Step(CLUSTER, self._cluster, (FOUNDATION,), "GKE Autopilot cluster (Terraform)"),
            Step(
                "images",
                lambda ctx: self._bootstrap_images(ctx, head),
                (FOUNDATION,),
                "api and worker images",
            ),
            Step(
                "platform",
                self._release_step("platform"),
                (CLUSTER, FOUNDATION),
                "release platform (network policies, collector, Grafana, SLO rules, alerting)",
            ),
            Step("redis", self._release_step("redis"), ("platform",), "release redis"),
            Step(
                "api", self._release_step("api"), ("redis", "images", FOUNDATION), "release api (+ Ingress)"
            ),
            Step("worker", self._release_step("worker"), ("redis", "images", FOUNDATION), "release worker"),
            Step(
                "verify",
                self._verify,
                ("api", "worker", "images", FOUNDATION),
                "rollouts complete; HTTPS /healthz at the API host",
                resumable=False,
                verifies=True,
            ),
            Step("record", self._record, ("verify", "images", "api", "worker"), "record the release"),
        ]
        return Pipeline("bootstrap", tuple(steps), fingerprint=self._fingerprint(head), max_parallel=4)

    def _state_bucket(self, ctx: StepContext) -> StepResult:
        from sreplat.tools.gcp.gcs_state import ensure_state_bucket

        bucket = ensure_state_bucket(
            self.ctx.access, self.ctx.bucket, location=self.settings.region, on_event=ctx.sink
        )
        where = f"gs://{bucket.name}"
        if bucket.already_there:
            return StepResult.skipped(f"{where} already there", state_bucket=where)
        what = "created" if bucket.created else f"updated ({', '.join(bucket.changed)})"
        return StepResult.ok(f"{where} {what}", state_bucket=where)

    def _foundation(self, ctx: StepContext) -> StepResult:
        ctx.progress("terraform: foundation")
        change = self.stacks.apply(FOUNDATION, sink=ctx.sink, step=ctx.step)
        outputs = self._fresh_outputs(FOUNDATION)
        granted = self._let_ci_deploy(outputs)
        data = {
            "_outputs": outputs,
            "name_servers": outputs.get("dns_name_servers"),
            "ingress_address": outputs.get("ingress_address"),
            # What a GitHub repository's deploy workflow needs (repository variables).
            "ci_service_account": outputs.get("deployer_service_account_email"),
        }
        if outputs.get("workload_identity_provider"):
            data["ci_identity_provider"] = outputs["workload_identity_provider"]
        if change.changed or granted:
            return StepResult.ok(
                change.describe() + ("; CI deployer may use this state" if granted else ""), **data
            )
        return StepResult.skipped(change.describe(), **data)

    def _let_ci_deploy(self, outputs: Mapping[str, Any]) -> bool:
        """The CI deployer reads the stacks' outputs and writes the release record: give it this
        environment's prefix of the state bucket (sreplat made the bucket, so sreplat grants it)."""
        from sreplat.tools.gcp.gcs_state import grant_prefix_access

        email = outputs.get("deployer_service_account_email")
        if not email:
            return False
        return grant_prefix_access(
            self.ctx.access,
            self.ctx.bucket,
            member=f"serviceAccount:{email}",
            prefix=self.settings.state_prefix,
        )

    def _cluster(self, ctx: StepContext) -> StepResult:
        ctx.progress("terraform: cluster (GKE takes 10-15 minutes)")
        change = self.stacks.apply(CLUSTER, sink=ctx.sink, step=ctx.step)
        data = {"cluster": self.settings.cluster_name}
        if change.changed:
            self._fresh_outputs(CLUSTER)
            return StepResult.ok(change.describe(), **data)
        return StepResult.skipped(change.describe(), **data)

    def _fresh_outputs(self, stack: str) -> dict[str, Any]:
        self.ctx.stack_state(stack, refresh=True)
        return self.ctx.outputs(stack)

    def _bootstrap_images(self, ctx: StepContext, head: str) -> StepResult:
        """The images of what runs (the release record), or of HEAD on a first bootstrap."""
        registry_url = str(ctx.outputs[FOUNDATION]["_outputs"]["registry_url"])
        record = self.ctx.read_release()
        if record is not None and self._in_registry(record):
            return StepResult.skipped(
                f"images of {record.sha[:12]} (deployed) are in the registry",
                sha=record.sha,
                _images=dict(record.images),
            )
        sha = record.sha if record is not None else head
        return self._images(ctx, sha, registry_url)

    def _in_registry(self, record: ReleaseRecord) -> bool:
        from sreplat.tools.images.registry import ImageRef, RegistryClient, RegistryCredentials

        credentials = RegistryCredentials.from_google(self.ctx.access.resolved_credentials())
        for app in APPS:
            image = record.images.get(app)
            if image is None:
                return False
            ref = ImageRef.of(image["repository"], image["tag"])
            client = RegistryClient(
                ref.host, credentials=credentials, base_url=self.ctx.endpoints.artifact_registry
            )
            if client.manifest_digest(ref) != image["digest"]:
                return False
        return True

    def _images(self, ctx: StepContext, sha: str, registry_url: str) -> StepResult:
        from sreplat.tools.images.pipeline import build_and_push
        from sreplat.tools.images.registry import RegistryCredentials

        ctx.progress(f"images of {sha[:12]}")
        manifest = build_and_push(
            sha=sha,
            registry_prefix=registry_url,
            builder=self._builder(ctx),
            state_dir=self.env.state_dir,
            repo=self.env.repo,
            emit=ctx.sink,
            allow_dirty=self.allow_dirty,
            credentials=RegistryCredentials.from_google(self.ctx.access.resolved_credentials()),
            registry_base_url=self.ctx.endpoints.artifact_registry,
        )
        built = sorted(app for app, image in manifest.images.items() if image.built)
        data = {"sha": manifest.sha, "_images": manifest.to_json()["images"]}
        if built:
            return StepResult.ok(f"built and pushed {', '.join(built)} at {manifest.sha[:12]}", **data)
        return StepResult.skipped(f"images of {manifest.sha[:12]} already in the registry", **data)

    def _builder(self, ctx: StepContext) -> Any:
        from sreplat.tools.images import docker_builder

        choice = self.settings.image_builder
        if choice == "auto":
            choice = "docker" if docker_builder.engine_answers() else "cloudbuild"
        ctx.progress(f"building with {choice}")
        if choice == "docker":
            return docker_builder.DockerEngineBuilder()
        from sreplat.tools.gcp.cloudbuild import CloudBuildBuilder

        return CloudBuildBuilder(
            project=self.settings.project,
            source_bucket=self.ctx.bucket,  # sreplat's own bucket: contexts go under source/
            location=self.settings.region,
            credentials=self.ctx.access.resolved_credentials(),
            cloudbuild_endpoint=self.ctx.endpoints.cloudbuild,
            storage_endpoint=self.ctx.endpoints.storage,
            poll_interval_s=1.0,
        )

    def _release_step(self, release: str) -> Any:
        def run(ctx: StepContext) -> StepResult:
            values: dict[str, Any] = {}
            if release == "platform":
                values = self.observability.platform_values(ctx.outputs[FOUNDATION]["_outputs"])
            if release in APPS:
                images = ctx.outputs["images"]
                foundation = ctx.outputs[FOUNDATION]["_outputs"]
                values = gcp_releases.release_values(
                    release,
                    foundation=foundation,
                    images=images["_images"],
                    sha=str(images["sha"]),
                    extra=self.observability.app_values(foundation),
                )
            ctx.progress(f"helm: {release}")
            with self.ctx.helm(ctx.sink) as helm:
                change = gcp_releases.ensure_release(
                    helm,
                    release,
                    self.ctx.chart(release),
                    values,
                    timeout_s=self.settings.ready_timeout_s,
                    recover=self.recover,
                )
            data = {"_revision": change.revision}
            if change.changed:
                return StepResult.ok(f"{release} {change.detail}", **data)
            return StepResult.skipped(f"{release} {change.detail}", **data)

        return run

    def _verify(self, ctx: StepContext) -> StepResult:
        sha = str(ctx.outputs["images"]["sha"])
        foundation = ctx.outputs[FOUNDATION]["_outputs"]
        https = self._check_release(ctx, sha, foundation, (*ROLLOUTS, ("StatefulSet", "redis")))
        host = foundation["api_hostname"]
        if https:
            summary = f"{self.env.name} is up: https://{host} runs {sha[:12]}"
        else:
            summary = (
                f"{self.env.name} is up; https://{host} waits for its managed certificate "
                f"(point {host} at {foundation['ingress_address']}; "
                f"`sreplat status --env {self.env.name}` shows progress)"
            )
        return StepResult.ok(summary, summary=summary, api_url=f"https://{host}", release=sha)

    def _check_release(
        self,
        ctx: StepContext,
        sha: str,
        foundation: Mapping[str, Any],
        workloads: Sequence[tuple[str, str]],
    ) -> bool:
        """Rollouts complete, then /healthz over HTTPS reports ``sha``. False when HTTPS cannot be
        checked yet (the managed certificate is still provisioning)."""
        from sreplat.tools.gcp import https_probe
        from sreplat.tools.kube.workloads import RolloutFailed, managed_certificate, workload_status

        ctx.progress("waiting for the rollouts")
        with self.ctx.kube_api() as api:
            seen: dict[str, str] = {}

            def rollouts() -> str | None:
                statuses = tuple(workload_status(api, NAMESPACE, kind, name) for kind, name in workloads)
                for s in statuses:
                    if seen.get(s.name) != (line := s.describe()):
                        seen[s.name] = line
                        ctx.emit("kube.rollout", line, workload=f"{s.kind}/{s.name}", state=s.state)
                failed = [s.describe() for s in statuses if s.state == "failed"]
                if failed:
                    raise RolloutFailed("rollout failed: " + "; ".join(failed), statuses=statuses)
                pending = [s.describe() for s in statuses if not s.complete]
                return "; ".join(pending) or None

            # Polled here rather than in kube.wait_for_rollout: Ctrl-C stops this wait at once.
            ctx.wait_until(
                rollouts,
                timeout_s=self.settings.ready_timeout_s,
                what="rollouts not complete",
                interval_s=1.0,
            )
            certificate = managed_certificate(api, NAMESPACE, "api")
        if not certificate.active:
            ctx.emit("gcp.certificate", certificate.describe(), state=certificate.state)
            return False
        host = str(foundation["api_hostname"])
        base = self.ctx.load_balancer_url(str(foundation["ingress_address"]))

        def healthz() -> str | None:
            answer = https_probe.get(base, "/healthz", host=host, timeout_s=HEALTHZ_PROBE_S)
            if answer.status != 200:
                return answer.describe()
            release = (answer.json() or {}).get("release")
            return None if release == sha else f"it reports release {release!r}"

        ctx.progress(f"https://{host}/healthz")
        ctx.wait_until(
            healthz,
            timeout_s=self.settings.ready_timeout_s,
            what=f"https://{host}/healthz did not report {sha[:12]}",
            interval_s=1.0,
        )
        return True

    def _record(self, ctx: StepContext) -> StepResult:
        images = ctx.outputs["images"]
        revisions = {app: int(ctx.outputs[app]["_revision"]) for app in APPS}
        manifest = ImageManifest.from_json({"sha": images["sha"], "images": images["_images"]})
        current = self.ctx.read_release()
        if current is not None and current.sha == manifest.sha and current.images == images["_images"]:
            return StepResult.skipped(f"release {manifest.sha[:12]} already recorded")
        self.ctx.write_release(ReleaseRecord.of(manifest, revisions))
        return StepResult.ok(f"recorded release {manifest.sha[:12]}")

    # --- deploy --------------------------------------------------------------------------------
    def deploy(self, sha: str) -> Pipeline:
        steps = [
            Step(
                "current",
                lambda ctx: self._current(ctx, sha),
                description="what runs now",
                resumable=False,
                verifies=True,
            ),
            Step("images", lambda ctx: self._deploy_images(ctx, sha), ("current",), "build or reuse images"),
            Step(
                "upgrade",
                lambda ctx: self._upgrade(ctx, sha),
                ("images", "current"),
                "upgrade api and worker by digest (all or none)",
                resumable=False,
            ),
            Step(
                "smoke",
                lambda ctx: self._smoke(ctx, sha),
                ("upgrade", "current"),
                "rollouts complete; /healthz reports the new release",
                resumable=False,
                verifies=True,
            ),
            Step(
                "record",
                lambda ctx: self._deploy_record(ctx, sha),
                ("smoke", "images", "upgrade"),
                "record the release",
            ),
        ]
        return Pipeline("deploy", tuple(steps), fingerprint=self._fingerprint(sha))

    def _current(self, ctx: StepContext, sha: str) -> StepResult:
        from sreplat.tools.kube.workloads import workload_status

        record = self.ctx.read_release()
        if record is None or record.sha != sha:
            running = record.sha[:12] if record else "nothing recorded"
            return StepResult.ok(f"runs {running}; {sha[:12]} to deploy", _up_to_date=False)
        with self.ctx.kube_api() as api:
            statuses = [workload_status(api, NAMESPACE, kind, name) for kind, name in ROLLOUTS]
            images = {s.name: _deployment_image(api, s.name) for s in statuses}
        stale = [s.name for s in statuses if not s.complete or images.get(s.name) != record.pinned(s.name)]
        if stale:
            return StepResult.ok(
                f"{sha[:12]} is recorded but {', '.join(stale)} do not run it: deploying again",
                _up_to_date=False,
            )
        summary = f"{self.env.name} already runs {sha[:12]}: nothing to do"
        return StepResult.ok(summary, _up_to_date=True, summary=summary, release=sha)

    def _deploy_images(self, ctx: StepContext, sha: str) -> StepResult:
        if ctx.outputs["current"]["_up_to_date"]:
            return StepResult.skipped(f"{sha[:12]} already runs", sha=sha)
        registry_url = str(self.ctx.outputs(FOUNDATION)["registry_url"])
        return self._images(ctx, sha, registry_url)

    def _upgrade(self, ctx: StepContext, sha: str) -> StepResult:
        if ctx.outputs["current"]["_up_to_date"]:
            return StepResult.skipped(f"{sha[:12]} already runs")
        foundation = self.ctx.outputs(FOUNDATION)
        images = ctx.outputs["images"]["_images"]
        values = {
            app: gcp_releases.release_values(
                app,
                foundation=foundation,
                images=images,
                sha=sha,
                extra=self.observability.app_values(foundation),
            )
            for app in APPS
        }
        ctx.progress(f"helm: upgrading api and worker to {sha[:12]}")
        with self.ctx.helm(ctx.sink) as helm:
            results = gcp_releases.upgrade_apps(
                helm,
                {app: self.ctx.chart(app) for app in APPS},
                values,
                timeout_s=self.settings.ready_timeout_s,
                recover=self.recover,
            )
        previous = {app: r.previous_revision for app, r in results.items() if r.previous_revision}
        revisions = {app: r.release.revision for app, r in results.items()}
        detail = ", ".join(f"{app} r{rev}" for app, rev in revisions.items())
        return StepResult.ok(f"upgraded: {detail}", _previous=previous, _revisions=revisions)

    def _smoke(self, ctx: StepContext, sha: str) -> StepResult:
        if ctx.outputs["current"]["_up_to_date"]:
            return StepResult.skipped(f"{sha[:12]} already runs")
        foundation = self.ctx.outputs(FOUNDATION)
        host = foundation["api_hostname"]
        try:
            https = self._check_release(ctx, sha, foundation, ROLLOUTS)
        except SreplatError as exc:
            previous = ctx.outputs["upgrade"]["_previous"]
            with self.ctx.helm(ctx.sink) as helm:
                undone = gcp_releases.rollback_apps(helm, previous, timeout_s=self.settings.ready_timeout_s)
            raise OperationFailed(
                f"{sha[:12]} failed its smoke test ({exc.message}); " + "; ".join(undone),
                hint=f"see the pods with `sreplat status --env {self.env.name}`",
                detail=exc.detail,
            ) from exc
        checked = (
            f"https://{host}/healthz reports it"
            if https
            else "certificate still provisioning: HTTPS not checked"
        )
        summary = f"deployed {sha[:12]} to {self.env.name}: {checked}"
        return StepResult.ok(summary, summary=summary, release=sha, api_url=f"https://{host}")

    def _deploy_record(self, ctx: StepContext, sha: str) -> StepResult:
        if ctx.outputs["smoke"].get("release") is None:  # the smoke step skipped: nothing new runs
            return StepResult.skipped(f"release {sha[:12]} already recorded")
        images = ctx.outputs["images"]["_images"]
        manifest = ImageManifest.from_json({"sha": sha, "images": images})
        self.ctx.write_release(ReleaseRecord.of(manifest, ctx.outputs["upgrade"]["_revisions"]))
        return StepResult.ok(f"recorded release {sha[:12]}")

    # --- destroy -------------------------------------------------------------------------------
    def destroy(self, *, keep_data: bool) -> Pipeline:
        if keep_data:
            raise UsageError(
                "--keep-data is not supported by the gcp target: Redis' volume goes with the cluster",
                hint="export what you need first (the queue holds jobs, not records)",
            )
        steps = [
            Step("releases", self._uninstall, description="uninstall worker, api, redis, platform"),
            Step(
                "load-balancer",
                self._lb_gone,
                ("releases",),
                "wait for GKE to delete the Ingress' load balancer and NEGs",
            ),
            Step(
                CLUSTER,
                self._destroy_stack(CLUSTER),
                ("load-balancer",),
                "cluster stack (deletion protection lifted)",
            ),
            Step(
                FOUNDATION,
                self._destroy_stack(FOUNDATION),
                (CLUSTER,),
                "foundation stack; the release record",
            ),
        ]
        return Pipeline("destroy", tuple(steps), fingerprint=self._fingerprint("destroy"), max_parallel=1)

    def _uninstall(self, ctx: StepContext) -> StepResult:
        from sreplat.tools.api_calls import ResourceMissing

        state = self.ctx.stack_state(CLUSTER, refresh=True)
        if state is None or state.empty:
            return StepResult.skipped("no cluster: no releases")
        try:
            with self.ctx.helm(ctx.sink) as helm:
                removed = gcp_releases.uninstall_all(helm, timeout_s=self.settings.ready_timeout_s)
        except ResourceMissing:
            return StepResult.skipped("the cluster is gone already")
        if not removed:
            return StepResult.skipped("no release installed")
        return StepResult.ok(f"uninstalled {', '.join(removed)}")

    def _lb_gone(self, ctx: StepContext) -> StepResult:
        from sreplat.tools.gcp.lb_cleanup import wait_for_lb_cleanup

        state = self.ctx.stack_state(FOUNDATION, refresh=True)
        addresses = (
            [str(state.outputs["ingress_address"])] if state and state.outputs.get("ingress_address") else []
        )
        ctx.progress("waiting for GKE to delete the load balancer")
        result = wait_for_lb_cleanup(
            self.ctx.access,
            network=self.settings.network_name,
            addresses=addresses,
            timeout=self.settings.ready_timeout_s,
            poll_interval=LB_POLL_S[1],
            first_poll_interval=LB_POLL_S[0],
            on_event=ctx.sink,
        )
        if not result.seen:
            return StepResult.skipped("no load balancer resources left")
        return StepResult.ok(
            f"{len(result.seen)} load balancer resource(s) gone after {result.waited_s:.0f}s"
        )

    def _destroy_stack(self, stack: str) -> Any:
        def run(ctx: StepContext) -> StepResult:
            ctx.progress(f"terraform destroy: {stack}")
            change = self.stacks.destroy(stack, sink=ctx.sink, step=ctx.step)
            if stack == FOUNDATION:
                self.ctx.delete_release()
                summary = f"{self.env.name} destroyed (gs://{self.ctx.bucket} kept: it may hold other state)"
                if not change.changed:
                    return StepResult.skipped(f"{stack}: nothing left", summary=summary)
                return StepResult.ok(f"{stack}: destroyed {change.destroyed}", summary=summary)
            if not change.changed:
                return StepResult.skipped(f"{stack}: nothing left")
            return StepResult.ok(f"{stack}: destroyed {change.destroyed}")

        return run

    # --- read-only -----------------------------------------------------------------------------
    def status_checks(self) -> Sequence[Check]:
        return gcp_status.status_checks(self.ctx, self.stacks, self.preflight)

    def drift_checks(self) -> Sequence[Check]:
        return gcp_status.drift_checks(self.stacks, self.preflight)

    def logs(self, query: LogQuery) -> Iterator[LogLine]:
        self.ctx.require_access()
        return self.observability.logs(query)

    def doctor_checks(self) -> Sequence[Check]:
        return [
            Check("terraform", self._doctor_terraform, DOCTOR_CHECK_S),
            Check("credentials", self._doctor_credentials, DOCTOR_CHECK_S),
            # It waits for the credentials check's answer, then makes its own call.
            Check("state bucket", self._doctor_bucket, DOCTOR_CHECK_S + DOCTOR_CALL_S),
            Check("layout", self._doctor_layout, 5.0),
        ]

    def _doctor_terraform(self) -> Finding:
        from sreplat.tools.terraform.driver import Terraform

        try:
            version = Terraform(
                self.ctx.stacks_dir.parent if self.ctx.stacks_dir.is_dir() else "."
            ).check_version()
        except ToolMissing as exc:  # found out for certain: unhealthy, not "could not tell"
            return unhealthy(exc.headline, hint=exc.hint)
        return healthy("terraform " + ".".join(map(str, version)))

    def _doctor_credentials(self) -> Finding:
        problem = self.ctx.access_problem(timeout=DOCTOR_CALL_S)
        if problem is not None:  # a missing prerequisite, the very thing doctor is for
            return unhealthy(problem.headline, hint=problem.hint)
        return healthy(f"Google credentials give an access token (project {self.settings.project})")

    def _doctor_bucket(self) -> Finding:
        problem = self.ctx.access_problem(timeout=DOCTOR_CALL_S)  # the credentials check's answer
        if problem is not None:
            return unknown(f"skipped: {short_reason(problem)}")
        # Within the check's own timeout, so an unreachable bucket is reported as such.
        state = self.ctx.stack_state(FOUNDATION, timeout=DOCTOR_CALL_S)
        if state is None:
            return healthy(f"no state in gs://{self.ctx.bucket} yet (bootstrap creates it)")
        return healthy(f"gs://{self.ctx.bucket} readable; foundation state serial {state.serial}")

    def _doctor_layout(self) -> Finding:
        try:
            self.ctx.check_layout()
        except UsageError as exc:
            return unhealthy(exc.message, hint=exc.hint)
        return healthy(f"stacks in {self.ctx.stacks_dir}, charts in {self.ctx.charts_dir}")

    def plan_details(self, verb: str, sha: str | None = None) -> Mapping[str, Any]:
        from sreplat.targets.gcp.plan import plan_details

        return plan_details(self, verb, sha)

    # --- helpers -------------------------------------------------------------------------------
    def _fingerprint(self, *extra: str) -> str:
        s = self.settings
        shaping = [s.project, s.region, s.domain, s.api_host, s.state_bucket, s.state_prefix, *extra]
        return hashlib.sha256(json.dumps(shaping).encode()).hexdigest()[:16]


def _deployment_image(api: Any, name: str) -> str:
    from kubernetes import client

    from sreplat.tools.api_calls import Deadline, ResourceMissing
    from sreplat.tools.kube.workloads import kube_call, request_timeout

    apps = client.AppsV1Api(api)
    try:
        obj: Any = kube_call(
            f"reading deployment/{name}",
            Deadline(10.0),
            lambda t: apps.read_namespaced_deployment(name, NAMESPACE, _request_timeout=request_timeout(t)),
        )
    except ResourceMissing:
        return ""
    containers = obj.spec.template.spec.containers or []
    return str(containers[0].image) if containers else ""
