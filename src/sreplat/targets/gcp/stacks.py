"""Running the environment's Terraform stacks (``foundation``, ``cluster``) the way their READMEs
say: state in the environment's bucket under ``<state prefix>/<stack>``, the variables from
``sreplat.toml``, a plan shown before it is applied, and the cluster's deletion protection lifted
only by ``destroy``.

Each environment has its own Terraform data directory per stack (``<state dir>/terraform/<stack>``,
so two environments never share a backend configuration) and ``init -reconfigure`` runs every
time: the backend settings always come from here, never from what a previous run left behind.

When a Google API endpoint is overridden (``SREPLAT_GCP_<SERVICE>_ENDPOINT``), Terraform goes
there too: the gcs backend through ``storage_custom_endpoint`` and the Google provider through
its ``GOOGLE_<SERVICE>_CUSTOM_ENDPOINT`` variables — everything sreplat drives talks to the same
place.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sreplat.events import EventSink, discard
from sreplat.targets.gcp.context import CLUSTER, FOUNDATION, GcpContext
from sreplat.tools.terraform.driver import PlanResult, Terraform

# Provider variable → (endpoint field, the API's base path), per the Google provider's defaults.
PROVIDER_ENDPOINTS = {
    "GOOGLE_STORAGE_CUSTOM_ENDPOINT": ("storage", "/storage/v1/"),
    "GOOGLE_CONTAINER_CUSTOM_ENDPOINT": ("container", "/v1/"),
    "GOOGLE_DNS_CUSTOM_ENDPOINT": ("dns", "/dns/v1/"),
    "GOOGLE_COMPUTE_CUSTOM_ENDPOINT": ("compute", "/compute/v1/"),
    "GOOGLE_ARTIFACT_REGISTRY_CUSTOM_ENDPOINT": ("artifact_registry", "/v1/"),
}
# A GKE cluster takes 10-15 minutes to create or delete; nothing Terraform does here takes hours.
TERRAFORM_TIMEOUT_S = 3 * 3600.0

_version_checked = threading.Event()


@dataclass(frozen=True)
class StackChange:
    """What one apply or destroy did."""

    stack: str
    changed: bool
    added: int = 0
    changed_count: int = 0
    destroyed: int = 0

    def describe(self) -> str:
        if not self.changed:
            return f"{self.stack}: no changes"
        return f"{self.stack}: +{self.added} ~{self.changed_count} -{self.destroyed}"


def describe_plan(plan: PlanResult) -> str:
    s = plan.summary
    if not plan.has_changes:
        return "no changes"
    if not (s.add or s.change or s.destroy):
        return "outputs change only"
    return f"+{s.add} ~{s.change} -{s.destroy}"


class Stacks:
    def __init__(self, ctx: GcpContext):
        self.ctx = ctx
        self.settings = ctx.settings

    def directory(self, stack: str) -> Path:
        return self.ctx.stacks_dir / stack

    def backend(self, stack: str) -> dict[str, str]:
        config = {"bucket": self.ctx.bucket, "prefix": self.ctx.stack_prefix(stack)}
        storage = self.ctx.endpoints.storage
        if storage:
            config["storage_custom_endpoint"] = f"{storage}/storage/v1/"
        return config

    def variables(self, stack: str, *, deletion_protection: bool | None = None) -> dict[str, Any]:
        """The stack's variables (names and shapes of terraform/stacks/<stack>/variables.tf)."""
        s = self.settings
        common: dict[str, Any] = {"project_id": s.project, "region": s.region, "env_name": self.ctx.env.name}
        common["state_bucket"] = self.ctx.bucket
        if stack == FOUNDATION:
            common["domain"] = s.domain
            common["api_host"] = s.api_host.removesuffix("." + s.domain)
            # With the bucket and prefix the stack grants the CI deployer exactly its objects there
            # (read the stacks' states; write release.json and lock.json) and the build account
            # the build contexts; a destroy of the stack takes the grants away.
            common["state_prefix"] = s.state_prefix.strip("/")
            common["cloud_armor"] = s.cloud_armor.model_dump()
            if s.github_repository:
                common["github_repository"] = s.github_repository
                common["github_repository_id"] = s.github_repository_id
                common["github_repository_owner_id"] = s.github_repository_owner_id
                if s.github_environments is not None:
                    common["github_environments"] = list(s.github_environments)
            return common
        common["foundation_state_prefix"] = self.ctx.stack_prefix(FOUNDATION)
        common["master_authorized_networks"] = [n.model_dump() for n in s.master_authorized_networks]
        if deletion_protection is not None:
            common["deletion_protection"] = deletion_protection
        return common

    def environment(self, data_dir: Path) -> dict[str, str]:
        env = {"TF_DATA_DIR": str(data_dir)}
        for variable, (field_name, path) in PROVIDER_ENDPOINTS.items():
            base = getattr(self.ctx.endpoints, field_name)
            if base:
                env[variable] = base + path
        return env

    def data_dir(self, stack: str) -> Path:
        return self.ctx.env.state_dir / "terraform" / stack

    def terraform(self, stack: str, *, data_dir: Path, sink: EventSink, step: str | None) -> Terraform:
        tf = Terraform(
            self.directory(stack),
            env=self.environment(data_dir),
            emit=sink,
            step=step,
            timeout=TERRAFORM_TIMEOUT_S,
        )
        if not _version_checked.is_set():
            tf.check_version()  # ToolMissing with the install hint, once per process
            _version_checked.set()
        return tf

    def _ready(self, stack: str, *, data_dir: Path, sink: EventSink, step: str | None) -> Terraform:
        data_dir.mkdir(parents=True, exist_ok=True)
        tf = self.terraform(stack, data_dir=data_dir, sink=sink, step=step)
        tf.init(self.backend(stack), reconfigure=True)
        return tf

    # --- changes ---------------------------------------------------------------------------------
    def apply(
        self,
        stack: str,
        *,
        sink: EventSink = discard,
        step: str | None = None,
        deletion_protection: bool | None = None,
    ) -> StackChange:
        """Plan, then apply exactly that plan when it changes something."""
        data_dir = self.data_dir(stack)
        tf = self._ready(stack, data_dir=data_dir, sink=sink, step=step)
        plan_path = data_dir.parent / f"{stack}.tfplan"
        try:
            plan = tf.plan(plan_path, self.variables(stack, deletion_protection=deletion_protection))
            if not plan.has_changes:
                return StackChange(stack, changed=False)
            result = tf.apply(plan.plan_path)
        finally:
            plan_path.unlink(missing_ok=True)  # it holds every variable value
        s = result.summary
        return StackChange(stack, True, s.add, s.change, s.destroy)

    def destroy(self, stack: str, *, sink: EventSink = discard, step: str | None = None) -> StackChange:
        """Destroy what the stack's state holds; for the cluster, lift deletion protection first.
        Nothing to do (and no Terraform run) when the state holds nothing."""
        state = self.ctx.stack_state(stack, refresh=True)
        if state is None or state.empty:
            return StackChange(stack, changed=False)
        data_dir = self.data_dir(stack)
        if stack == CLUSTER:
            # The only place protection is lifted: an in-place update right before the destroy.
            self.apply(stack, sink=sink, step=step, deletion_protection=False)
        tf = self._ready(stack, data_dir=data_dir, sink=sink, step=step)
        extra = {"deletion_protection": False} if stack == CLUSTER else {}
        result = tf.destroy(self.variables(stack, **extra))
        s = result.summary
        return StackChange(stack, bool(s.destroy), s.add, s.change, s.destroy)

    # --- looks -----------------------------------------------------------------------------------
    @contextmanager
    def _scratch(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="sreplat-tf-") as scratch:
            yield Path(scratch)

    def plan(self, stack: str, *, sink: EventSink = discard, step: str | None = None) -> PlanResult:
        """What an apply would change, without the state lock and without touching the state dir."""
        with self._scratch() as scratch:
            tf = self._ready(stack, data_dir=scratch / "data", sink=sink, step=step)
            return tf.plan(scratch / f"{stack}.tfplan", self.variables(stack), lock=False)
