"""The ``gcp`` target: GKE Autopilot, Artifact Registry, Cloud DNS and a global HTTPS load balancer,
made with the Terraform stacks and the Helm charts of this repository.

One module per verb — ``bootstrap``, ``deploy``, ``destroy``, ``status``, ``plan``, ``doctor`` —
over what they share: ``context`` (names, credentials, the stacks' outputs, the cluster
connection), ``stacks`` (Terraform), ``releases`` (Helm), ``images``, ``record`` (the deploy
record: what runs), ``data`` (what steps hand each other), ``settings`` and ``seams`` (what the
session injects: endpoints, DNS resolver, Helm connection, the control plane's and the load
balancer's addresses).

The Kubernetes API is reached through the control plane's DNS-based endpoint (tools/gcp/gke.py).
A mutating run holds the environment lock in the state bucket (``run_lock``:
tools/gcp/gcs_lock.py), so a laptop and a CI runner never change one environment at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sreplat.config import Environment
from sreplat.errors import UsageError
from sreplat.logs import LogLine, LogQuery
from sreplat.pipeline.checks import Check
from sreplat.pipeline.lock import RunLock
from sreplat.pipeline.step import Pipeline
from sreplat.targets import Seams
from sreplat.targets.base import Promotion, Target
from sreplat.targets.gcp import status
from sreplat.targets.gcp.bootstrap import Bootstrap
from sreplat.targets.gcp.context import CLUSTER, STACKS, GcpContext
from sreplat.targets.gcp.deploy import Deploy
from sreplat.targets.gcp.destroy import Destroy
from sreplat.targets.gcp.doctor import doctor_checks
from sreplat.targets.gcp.observability import Observability
from sreplat.targets.gcp.seams import GcpSeams
from sreplat.targets.gcp.settings import GcpSettings
from sreplat.targets.gcp.stacks import Stacks
from sreplat.tools.signatures import TrustFiles

if TYPE_CHECKING:
    from sreplat.tools.gcp.gcs_state import StateBucket


class GcpTarget(Target):
    name = "gcp"

    def __init__(self, env: Environment, seams: Seams):
        super().__init__(env, seams)
        if not isinstance(env.settings, GcpSettings):
            raise TypeError("GcpTarget needs GcpSettings")
        self.ctx = GcpContext(env, seams.part(self.name, GcpSeams) or GcpSeams())
        self.stacks = Stacks(self.ctx)
        self.preflight = status.Preflight(self.ctx)  # shared by status and status --drift
        self.observability = Observability(self.ctx)
        self.allow_dirty = False
        self.recover = False
        # The state bucket, when taking the lock had to create it (a first bootstrap).
        self._lock_bucket: StateBucket | None = None

    def set_run_options(self, *, allow_dirty: bool = False, recover: bool = False) -> None:
        self.allow_dirty = allow_dirty
        self.recover = recover

    # --- validation (before the lock; reads only) ---------------------------------------------
    def check_bootstrap(self) -> None:
        from sreplat.tools import git
        from sreplat.tools.images.context import context_changes, describe
        from sreplat.tools.images.pipeline import CONTEXT_SUBDIR

        self.ctx.check_layout()
        git.resolve_sha(self.env.repo, "HEAD")  # UsageError outside a git repository
        # Only changes that would go into an image count (tools/images/context.py): the auth
        # action's gha-creds-*.json in a CI checkout, or a local sreplat.toml, do not.
        changes = [] if self.allow_dirty else context_changes(self.env.repo, CONTEXT_SUBDIR)
        if changes:
            raise UsageError(
                f"{self.env.repo} has uncommitted changes that would go into the images "
                f"({describe(changes)}): images tagged with HEAD would not be HEAD",
                hint="commit or stash them, or pass --allow-dirty",
            )
        self.observability.check()  # SLO files and the SMTP password, before anything starts
        # The images bootstrap builds are HEAD's: a deploy of HEAD, as far as trust goes.
        verdict = self.verify_commit(git.resolve_sha(self.env.repo, "HEAD"))
        if verdict is not None and not verdict.trusted:
            raise verdict.refusal()
        # Before the lock, the run log and the state dir: without credentials nothing can start.
        self.ctx.require_access()

    def promotion(self, source: Environment, sha: str | None) -> Promotion:
        from sreplat.targets.gcp.promote import GcpPromotion

        if not isinstance(source.settings, GcpSettings):
            raise UsageError(
                f"promote copies images between gcp environments; {source.name!r} is a {source.target} one"
            )
        if source.name == self.env.name:
            raise UsageError(f"--from and --to are both {source.name!r}: promote between two environments")
        source_ctx = GcpContext(source, self.ctx.seams)
        return GcpPromotion(self, source_ctx, sha)

    def commit_trust(self) -> TrustFiles | None:
        settings = self.ctx.settings
        return settings.trust_files if settings.require_signed_commits else None

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

    def run_lock(self) -> RunLock:
        """The environment lock in the state bucket, shared by every machine that runs sreplat on
        this environment (a first bootstrap creates the bucket to hold it)."""
        from sreplat.tools.gcp.gcs_lock import RENEW_EVERY_S, GcsLock

        return GcsLock(
            self.ctx.access,
            self.ctx.bucket,
            self.ctx.lock_object,
            env=self.env.name,
            renew_every_s=self.ctx.seams.lock_renew_every_s or RENEW_EVERY_S,
            on_missing_bucket=self._bucket_for_the_lock,
        )

    def _bucket_for_the_lock(self) -> None:
        from sreplat.tools.gcp.gcs_state import ensure_state_bucket

        self._lock_bucket = ensure_state_bucket(
            self.ctx.access, self.ctx.bucket, location=self.ctx.settings.region
        )

    # --- pipelines -----------------------------------------------------------------------------
    def bootstrap(self) -> Pipeline:
        from sreplat.tools import git

        head = git.resolve_sha(self.env.repo, "HEAD")
        verb = Bootstrap(
            self.ctx,
            self.stacks,
            allow_dirty=self.allow_dirty,
            recover=self.recover,
            bucket_made_for_the_lock=lambda: self._lock_bucket,
        )
        return verb.pipeline(head)

    def deploy(self, sha: str) -> Pipeline:
        return Deploy(self.ctx, sha, allow_dirty=self.allow_dirty, recover=self.recover).pipeline()

    def destroy(self, *, keep_data: bool) -> Pipeline:
        if keep_data:
            raise UsageError(
                "--keep-data is not supported by the gcp target: Redis' volume goes with the cluster",
                hint="export what you need first (the queue holds jobs, not records)",
            )
        return Destroy(self.ctx, self.stacks).pipeline()

    # --- read-only -----------------------------------------------------------------------------
    def status_checks(self) -> Sequence[Check]:
        return status.status_checks(self.ctx, self.preflight)

    def drift_checks(self) -> Sequence[Check]:
        return status.drift_checks(self.stacks, self.preflight)

    def logs(self, query: LogQuery) -> Iterator[LogLine]:
        self.ctx.require_access()
        return self.observability.logs(query)

    def doctor_checks(self) -> Sequence[Check]:
        return doctor_checks(self.ctx)

    def plan_details(self, verb: str, sha: str | None = None) -> Mapping[str, Any]:
        from sreplat.targets.gcp.plan import plan_details

        return plan_details(self.ctx, self.stacks, verb, sha)
