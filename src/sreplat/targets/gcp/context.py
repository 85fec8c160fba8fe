"""What every gcp verb needs to know about its environment, found lazily and once per process.

- names and places: the state bucket and prefixes, the cluster, the charts and stacks folders;
- endpoints (``SREPLAT_GCP_<SERVICE>_ENDPOINT``, the real Google APIs by default) and
  credentials, resolved on first use (google-auth is slow to import) and shared by every thread;
- the Terraform stacks' outputs, read from their state objects in the bucket — the same source
  ``terraform_remote_state`` reads — so deploy and status need no ``terraform init`` and no local
  state (a CI runner has none);
- the cluster connection (endpoint, CA and token from the Container API; nothing on disk);
- the environment's release record (``<state prefix>/release.json`` in the bucket): which SHA
  runs, with which image digests;
- whether Google Cloud can be reached at all (``access_problem``): missing or unusable
  credentials are found once, so a verb says so once instead of once per call.

Nothing here changes anything except ``write_release``/``delete_release``.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sreplat.config import Environment
from sreplat.errors import OperationFailed, SreplatError, UsageError
from sreplat.events import EventSink, discard
from sreplat.targets.gcp.settings import GcpSettings
from sreplat.tools.api_calls import AccessDenied, ApiUnreachable, CallTimeout, PermissionDenied
from sreplat.tools.gcp.access import GcpAccess, GcpEndpoints, NoCredentials

if TYPE_CHECKING:
    from sreplat.tools.gcp.gcs_state import StackState
    from sreplat.tools.gcp.gke import ClusterAccess
    from sreplat.tools.helm.manager import ReleaseManager
    from sreplat.tools.images.pipeline import ImageManifest

NAMESPACE = "sreplat"
FOUNDATION = "foundation"
CLUSTER = "cluster"
STACKS = (FOUNDATION, CLUSTER)
# Install order (docs/contracts.md): the namespace-wide policies first, then what the apps need.
RELEASES = ("platform", "redis", "api", "worker")
APPS = ("api", "worker")
RELEASE_RECORD = "release.json"
# A token from the Container API's caller lives an hour; reconnect well before.
CLUSTER_ACCESS_TTL_S = 1800.0
# A Container API that just could not be reached is not asked again this soon: the callers
# waiting on the same lock (status checks) would each wait out a deadline of their own.
CLUSTER_RETRY_AFTER_S = 15.0
ACCESS_PROBE_S = 15.0


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


RELEASE_HISTORY = 20  # earlier releases a record remembers (promote --sha picks among them)


@dataclass(frozen=True)
class PastRelease:
    """An earlier release of the environment: what it ran, built from what, and when."""

    sha: str
    images: Mapping[str, Mapping[str, str]]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    deployed_at: str = ""

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "sha": self.sha,
            "images": {app: dict(image) for app, image in sorted(self.images.items())},
            "deployed_at": self.deployed_at,
        }
        if self.inputs:
            document["inputs"] = dict(self.inputs)
        return document

    @classmethod
    def from_json(cls, data: Any) -> PastRelease:
        return cls(
            sha=str(data["sha"]),
            images={str(a): {k: str(v) for k, v in i.items()} for a, i in data["images"].items()},
            inputs=dict(data.get("inputs") or {}),
            deployed_at=str(data.get("deployed_at", "")),
        )


@dataclass(frozen=True)
class ReleaseRecord:
    """What the environment runs: the SHA, its images (the manifest of docs/contracts.md), what
    they were built from (``inputs``: base image digests and the lock's sha256; empty in records
    written before they were kept), the Helm revisions of the apps when it was recorded, and the
    releases before it (newest first, at most ``RELEASE_HISTORY``)."""

    sha: str
    images: Mapping[str, Mapping[str, str]]
    deployed_at: str = ""
    revisions: Mapping[str, int] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[PastRelease, ...] = ()

    def pinned(self, app: str) -> str:
        image = self.images[app]
        return f"{image['repository']}@{image['digest']}"

    @property
    def current(self) -> PastRelease:
        return PastRelease(self.sha, self.images, self.inputs, self.deployed_at)

    def release_of(self, sha: str) -> PastRelease | None:
        """What the environment ran at ``sha``: now, or in its history; None if never."""
        return next((r for r in (self.current, *self.history) if r.sha == sha), None)

    def after(self, previous: ReleaseRecord | None) -> ReleaseRecord:
        """This record with ``previous`` (the one it replaces) at the head of its history."""
        if previous is None:
            return self
        earlier = previous.history if previous.sha == self.sha else (previous.current, *previous.history)
        return replace(self, history=tuple(earlier)[:RELEASE_HISTORY])

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "sha": self.sha,
            "images": {app: dict(image) for app, image in sorted(self.images.items())},
            "deployed_at": self.deployed_at,
            "revisions": dict(self.revisions),
        }
        if self.inputs:
            document["inputs"] = dict(self.inputs)
        if self.history:
            document["history"] = [past.to_json() for past in self.history]
        return document

    @classmethod
    def from_json(cls, data: Any) -> ReleaseRecord:
        try:
            return cls(
                sha=str(data["sha"]),
                images={str(a): {k: str(v) for k, v in i.items()} for a, i in data["images"].items()},
                deployed_at=str(data.get("deployed_at", "")),
                revisions={str(k): int(v) for k, v in (data.get("revisions") or {}).items()},
                inputs=dict(data.get("inputs") or {}),
                history=tuple(PastRelease.from_json(past) for past in data.get("history") or ()),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise OperationFailed(f"the release record is unreadable: {exc}") from exc

    @classmethod
    def of(cls, manifest: ImageManifest, revisions: Mapping[str, int]) -> ReleaseRecord:
        document = manifest.to_json()
        return cls(
            sha=manifest.sha,
            images=document["images"],
            deployed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            revisions=dict(revisions),
            inputs=document.get("inputs", {}),
        )


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


class GcpContext:
    def __init__(self, env: Environment):
        if not isinstance(env.settings, GcpSettings):
            raise TypeError("GcpContext needs GcpSettings")
        self.env = env
        self.settings: GcpSettings = env.settings
        self.endpoints = GcpEndpoints.from_env()  # UsageError (exit 2) for a malformed override
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
    def release_object(self) -> str:
        return f"{self.settings.state_prefix.strip('/')}/{RELEASE_RECORD}"

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

    def check_layout(self) -> None:
        """UsageError unless the stacks and charts this environment needs are where expected."""
        for stack in STACKS:
            if not (self.stacks_dir / stack).is_dir():
                raise UsageError(
                    f"Terraform stack {stack!r} not found in {self.stacks_dir}",
                    hint="run sreplat from the sreplat checkout, or set stacks_dir in sreplat.toml",
                )
        for release in RELEASES:
            if not (self.chart(release) / "Chart.yaml").is_file():
                raise UsageError(
                    f"Helm chart {release!r} not found in {self.charts_dir}",
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
        """Endpoint, CA and a fresh token (cached for a while); ClusterNotReady/ResourceMissing."""
        from sreplat.tools.gcp.gke import connect

        with self._cluster_lock:
            now = time.monotonic()
            failed = self._cluster_failure
            if failed is not None and now - failed[0] < CLUSTER_RETRY_AFTER_S:
                raise failed[1]
            if self._cluster is None or now - self._cluster[0] > CLUSTER_ACCESS_TTL_S:
                try:
                    found = connect(
                        self.access, self.settings.region, self.settings.cluster_name, timeout=timeout
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
    def helm(self, sink: EventSink = discard, *, timeout: float = 30.0) -> Iterator[ReleaseManager]:
        """The Helm release manager on the cluster (release history in Secrets of the namespace)."""
        from sreplat.tools.helm.manager import KubeAccess, ReleaseManager

        cluster = self.cluster_access(timeout=timeout)
        access = KubeAccess.from_token(server=cluster.endpoint, token=cluster.token, ca_pem=cluster.ca_pem)
        with ReleaseManager(access, namespace=NAMESPACE, on_event=sink) as manager:
            yield manager

    # --- the release record --------------------------------------------------------------------
    def read_release(self, *, timeout: float = 30.0) -> ReleaseRecord | None:
        from sreplat.tools.gcp.gcs_state import read_object

        data = read_object(self.access, self.bucket, self.release_object, timeout=timeout)
        if data is None:
            return None
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise OperationFailed(f"gs://{self.bucket}/{self.release_object} is not JSON: {exc}") from exc
        return ReleaseRecord.from_json(document)

    def write_release(self, record: ReleaseRecord) -> None:
        """Record ``record`` as what runs; the release it replaces goes into its history."""
        from sreplat.tools.gcp.gcs_state import write_object

        record = record.after(self.read_release())
        data = json.dumps(record.to_json(), indent=2, sort_keys=True).encode()
        write_object(self.access, self.bucket, self.release_object, data)

    def delete_release(self) -> bool:
        from sreplat.tools.gcp.gcs_state import delete_object

        return delete_object(self.access, self.bucket, self.release_object)
