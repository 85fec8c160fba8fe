"""What every gcp verb needs to know about its environment, found lazily and once per process.

- names and places: the state bucket and prefixes, the cluster, the charts and stacks folders;
- what the session injected (``seams``: endpoints, the public DNS resolver, the Helm connection,
  where the load balancer answers) and the credentials, resolved on first use (google-auth is slow
  to import) and shared by every thread;
- the Terraform stacks' outputs, read from their state objects in the bucket — the same source
  ``terraform_remote_state`` reads — so deploy and status need no ``terraform init`` and no local
  state (a CI runner has none);
- the cluster connection (the control plane's DNS-based endpoint from the Container API, a
  Google access token, the system's trust store; nothing on disk);
- whether Google Cloud can be reached at all (``access_problem``): missing or unusable
  credentials are found once, so a verb says so once instead of once per call.

Nothing here changes anything.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sreplat.cancel import CancelToken
from sreplat.config import Environment
from sreplat.errors import OperationFailed, SreplatError, UsageError
from sreplat.events import EventSink, discard
from sreplat.targets.gcp.data import FoundationOutputs
from sreplat.targets.gcp.seams import GcpSeams
from sreplat.targets.gcp.settings import GcpSettings
from sreplat.tools.api_calls import AccessDenied, ApiUnreachable, CallTimeout, PermissionDenied
from sreplat.tools.gcp.access import GcpAccess, NoCredentials
from sreplat.tools.gcp.cloud_dns import Resolver, public_resolver

if TYPE_CHECKING:
    from sreplat.tools.gcp.gcs_state import StackState
    from sreplat.tools.gcp.gke import ClusterAccess
    from sreplat.tools.helm.manager import ReleaseManager

NAMESPACE = "sreplat"
FOUNDATION = "foundation"
CLUSTER = "cluster"
STACKS = (FOUNDATION, CLUSTER)
# Helm releases, in install order (docs/contracts.md): the namespace-wide policies first, then
# what the apps need.
HELM_RELEASES = ("platform", "redis", "api", "worker")
LOCK_OBJECT = "lock.json"
NAMESPACE_MANIFEST = "namespace.yaml"  # in the charts folder
# A token from the Container API's caller lives an hour; reconnect well before.
CLUSTER_ACCESS_TTL_S = 1800.0
# A Container API that just could not be reached is not asked again this soon: the callers
# waiting on the same lock (status checks) would each wait out a deadline of their own.
CLUSTER_RETRY_AFTER_S = 15.0
ACCESS_PROBE_S = 15.0
# How often rollouts are looked at while waiting for them.
ROLLOUT_POLL_S = 1.0


def short_reason(problem: SreplatError) -> str:
    """A few words for what stopped a look at Google Cloud, for the lines that skipped because
    of it (the full message and its hint are shown once, elsewhere)."""
    if isinstance(problem, NoCredentials):
        return "no credentials"
    if isinstance(problem, PermissionDenied):
        return "permission denied"
    if isinstance(problem, AccessDenied):
        return "credentials rejected"
    if isinstance(problem, CallTimeout):
        return "Google Cloud did not answer"
    if isinstance(problem, ApiUnreachable):
        return "cannot reach Google Cloud"
    return "Google Cloud error"


def out_of_reach(problem: SreplatError) -> bool:
    """Whether ``problem`` means Google Cloud cannot be asked anything right now (no usable
    credentials, no connection, no answer), rather than one API saying no to one request: then
    every further call would fail the same way, after the same wait."""
    if isinstance(problem, PermissionDenied):
        return False  # a missing role on one resource says nothing about the others
    return isinstance(problem, AccessDenied | ApiUnreachable | CallTimeout)


# What the checks and steps import (sharing google.api_core, proto-plus, requests, urllib3...).
CLIENT_MODULES = (
    "google.auth.transport.requests",
    "google.cloud.storage",
    "google.cloud.container_v1",
    "google.cloud.dns",
    "kubernetes.client",
    "httpx",
    "dns.resolver",
)
_clients_lock = threading.Lock()
_clients_loaded = threading.Event()


def load_clients() -> None:
    """Import the client libraries the gcp target uses, once per process, in one thread.

    They cost about a second together on their own, but several times that when the concurrent
    checks of ``status`` each import a different one at the same moment (every import holds the
    GIL): so the first caller imports them all, one after the other, and the others wait.
    """
    with _clients_lock:
        if _clients_loaded.is_set():
            return
        for module in CLIENT_MODULES:
            importlib.import_module(module)
        _clients_loaded.set()


def configured_resolver(settings: GcpSettings) -> Resolver:
    """Public DNS as the ``dns_resolvers`` setting names it."""
    servers = [r.strip() for r in settings.dns_resolvers.split(",")]
    # dnspython asks every server on one port: a port given on the first one applies to all.
    port = int(servers[0].partition(":")[2] or 53)
    return public_resolver([s.partition(":")[0] for s in servers], port=port)


class GcpContext:
    def __init__(self, env: Environment, seams: GcpSeams):
        if not isinstance(env.settings, GcpSettings):
            raise TypeError("GcpContext needs GcpSettings")
        self.env = env
        self.settings: GcpSettings = env.settings
        self.seams = seams
        self.endpoints = seams.endpoints
        self.resolver = seams.resolver or configured_resolver(self.settings)
        # One lock per thing looked up, so concurrent checks wait only for what they share.
        self._access_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._state_locks = {stack: threading.Lock() for stack in STACKS}
        self._cluster_lock = threading.Lock()
        self._access: GcpAccess | None = None
        self._no_credentials: NoCredentials | None = None
        self._probe: tuple[SreplatError | None] | None = None
        self._states: dict[str, StackState | None] = {}
        self._cluster: tuple[float, ClusterAccess] | None = None
        self._cluster_failure: tuple[float, OperationFailed] | None = None

    # --- names and places --------------------------------------------------------------------
    @property
    def bucket(self) -> str:
        return self.settings.state_bucket

    def stack_prefix(self, stack: str) -> str:
        return f"{self.settings.state_prefix.strip('/')}/{stack}"

    @property
    def lock_object(self) -> str:
        """The environment lock's object in the state bucket (tools/gcp/gcs_lock.py)."""
        return f"{self.settings.state_prefix.strip('/')}/{LOCK_OBJECT}"

    @property
    def namespace_manifest(self) -> Path:
        return self.charts_dir / NAMESPACE_MANIFEST

    @property
    def stacks_dir(self) -> Path:
        return self.settings.stacks_dir or self.env.project_root / "terraform" / "stacks"

    @property
    def charts_dir(self) -> Path:
        return self.settings.charts_dir or self.env.project_root / "helm"

    def chart(self, release: str) -> Path:
        return self.charts_dir / release

    @property
    def api_host(self) -> str:
        return self.settings.api_host

    def load_balancer_url(self, address: str) -> str:
        """Where the load balancer on the ingress ``address`` answers HTTPS."""
        return self.seams.load_balancer(address)

    def fingerprint(self, *extra: str) -> str:
        """Identifies a pipeline's inputs: the settings that shape what is created, and ``extra``."""
        s = self.settings
        shaping = [s.project, s.region, s.domain, s.api_host, s.state_bucket, s.state_prefix, *extra]
        return hashlib.sha256(json.dumps(shaping).encode()).hexdigest()[:16]

    def check_layout(self) -> None:
        """UsageError unless the stacks and charts this environment needs are where expected."""
        for stack in STACKS:
            if not (self.stacks_dir / stack).is_dir():
                raise UsageError(
                    f"Terraform stack {stack!r} not found in {self.stacks_dir}",
                    hint="run sreplat from the sreplat checkout, or set stacks_dir in sreplat.toml",
                )
        for release in HELM_RELEASES:
            if not (self.chart(release) / "Chart.yaml").is_file():
                raise UsageError(
                    f"Helm chart {release!r} not found in {self.charts_dir}",
                    hint="run sreplat from the sreplat checkout, or set charts_dir in sreplat.toml",
                )
        if not self.namespace_manifest.is_file():
            raise UsageError(
                f"the namespace manifest {NAMESPACE_MANIFEST} is not in {self.charts_dir}",
                hint="run sreplat from the sreplat checkout, or set charts_dir in sreplat.toml",
            )

    # --- access --------------------------------------------------------------------------------
    @property
    def access(self) -> GcpAccess:
        """Project, credentials and endpoints; credentials are looked up once per process (and
        so is their absence: each look probes the metadata server and would find nothing new)."""
        with self._access_lock:
            if self._no_credentials is not None:
                raise self._no_credentials
            if self._access is None:
                from sreplat.tools.gcp.access import default_credentials

                try:
                    credentials = default_credentials()
                except NoCredentials as exc:
                    self._no_credentials = exc
                    raise
                self._access = GcpAccess(
                    project=self.settings.project, credentials=credentials, endpoints=self.endpoints
                )
            return self._access

    def access_problem(self, *, timeout: float = ACCESS_PROBE_S) -> SreplatError | None:
        """Why nothing can be asked of Google Cloud — no credentials, credentials that give no
        token, the token endpoint out of reach — or None. Found once, by whoever asks first (the
        others wait for that answer); a token obtained here is the one later calls use."""
        from sreplat.tools.api_calls import Deadline
        from sreplat.tools.gcp.access import access_token

        with self._probe_lock:
            if self._probe is None:
                try:
                    access_token(self.access.resolved_credentials(), Deadline(timeout))
                except OperationFailed as exc:
                    self._probe = (exc,)
                else:
                    self._probe = (None,)
            return self._probe[0]

    def require_access(self, *, timeout: float = ACCESS_PROBE_S) -> None:
        """Raise what ``access_problem`` found (before anything is created or locked)."""
        problem = self.access_problem(timeout=timeout)
        if problem is not None:
            raise problem

    # --- Terraform state -----------------------------------------------------------------------
    def stack_state(self, stack: str, *, refresh: bool = False, timeout: float = 30.0) -> StackState | None:
        """The stack's state in the bucket (cached; ``refresh`` re-reads it); None: none yet."""
        from sreplat.tools.gcp.gcs_state import stack_state

        with self._state_locks[stack]:
            if refresh or stack not in self._states:
                self._states[stack] = stack_state(
                    self.access, self.bucket, self.stack_prefix(stack), timeout=timeout
                )
            return self._states[stack]

    def foundation(self, *, timeout: float = 30.0) -> FoundationOutputs:
        """The foundation stack's outputs; UsageError when it was never applied."""
        return FoundationOutputs.from_outputs(self.outputs(FOUNDATION, timeout=timeout))

    def outputs(self, stack: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """The stack's outputs; UsageError when the stack was never applied (or is destroyed)."""
        state = self.stack_state(stack, timeout=timeout)
        if state is None or state.empty:
            raise UsageError(
                f"environment {self.env.name!r} has no {stack} stack yet "
                f"(no state at gs://{self.bucket}/{self.stack_prefix(stack)})",
                hint=f"run `sreplat bootstrap --env {self.env.name}` first",
            )
        return dict(state.outputs)

    # --- the cluster ---------------------------------------------------------------------------
    def cluster_access(self, *, timeout: float = 30.0) -> ClusterAccess:
        """The DNS-based endpoint and a fresh token (cached for a while);
        ClusterNotReady/ResourceMissing."""
        from sreplat.tools.gcp.gke import connect

        with self._cluster_lock:
            now = time.monotonic()
            failed = self._cluster_failure
            if failed is not None and now - failed[0] < CLUSTER_RETRY_AFTER_S:
                raise failed[1]
            if self._cluster is None or now - self._cluster[0] > CLUSTER_ACCESS_TTL_S:
                try:
                    found = connect(
                        self.access,
                        self.settings.region,
                        self.settings.cluster_name,
                        timeout=timeout,
                        control_plane=self.seams.control_plane,
                    )
                except (ApiUnreachable, CallTimeout) as exc:
                    self._cluster_failure = (time.monotonic(), exc)
                    raise
                self._cluster = (now, found)
            return self._cluster[1]

    @contextmanager
    def kube_api(self, *, timeout: float = 30.0) -> Iterator[Any]:
        """A ``kubernetes`` ApiClient on the cluster (closed afterwards)."""
        client = self.cluster_access(timeout=timeout).api_client()
        try:
            yield client
        finally:
            client.close()

    @contextmanager
    def helm(
        self, sink: EventSink = discard, *, cancel: CancelToken | None = None, timeout: float = 30.0
    ) -> Iterator[ReleaseManager]:
        """The Helm release manager on the cluster (release history in Secrets of the namespace);
        its installs, upgrades and rollbacks await their workloads with the one rollout wait,
        which ``cancel`` (the run's Ctrl-C) ends."""
        from sreplat.tools.helm.access import KubeAccess
        from sreplat.tools.helm.manager import ReleaseManager

        cluster = self.cluster_access(timeout=timeout)
        access = KubeAccess.from_token(
            server=cluster.endpoint,
            token=cluster.token,
            ca_pem=cluster.ca_pem or None,
            server_name=cluster.server_name,
        )

        def await_ready(workloads: Sequence[tuple[str, str]], namespace: str, seconds: float) -> None:
            from sreplat.tools.kube.workloads import wait_for_rollout

            with self.kube_api(timeout=timeout) as api:
                wait_for_rollout(
                    api,
                    namespace,
                    workloads,
                    timeout=seconds,
                    poll_interval=ROLLOUT_POLL_S,
                    on_event=sink,
                    cancel=cancel,
                )

        connection = self.seams.helm_connection(access)
        with ReleaseManager(
            connection, namespace=NAMESPACE, on_event=sink, await_ready=await_ready
        ) as manager:
            yield manager
