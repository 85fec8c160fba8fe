"""Helm releases on a cluster, through the Helm v4 Go SDK that helm-python-sdk bundles (import
``helm_python``): no ``helm`` binary, and no kubeconfig file written or changed.

The gcp target drives every release (``platform``, ``redis``, ``api``, ``worker``) through a
:class:`ReleaseManager`::

    access = KubeAccess.from_token(server="https://34.1.2.3", token=token, ca_pem=ca_pem)
    with ReleaseManager(access, namespace="sreplat", on_event=sink) as helm:
        if (stuck := helm.pending("api")) is not None:
            ...  # tell the user: revision stuck.revision is stuck.status; --recover rolls back
        result = helm.upgrade_install("api", Path("helm/api"), values, wait=True, timeout=600)
        plan = helm.diff("api", Path("helm/api"), values)  # for `sreplat plan`

Connection. :class:`KubeAccess` carries a kubeconfig *in memory* — given as text/mapping, or built
from (API server, bearer token, CA certificate). It reaches client-go through an anonymous
memory-backed file (``memfd_create``, read via ``/proc/self/fd/N``): nothing lands on disk and
``~/.kube/config`` / ``$KUBECONFIG`` are never read or written. Where memfd is unavailable
(non-Linux), the SDK's own ``kubeconfig_content`` is used: a private 0600 temp file that the SDK
removes when the connection closes. (client-go inside the SDK does keep its API discovery cache
under ``~/.kube/cache``, or ``$KUBECACHEDIR`` as set when the process started — as helm and
kubectl do; that cache holds no credentials.)

Semantics.
- ``upgrade_install`` installs when the release does not exist, else upgrades; both with
  rollback on failure (a failed install is removed, a failed upgrade rolls back to the previous
  revision), ``wait`` through Helm's status watcher, and ``timeout`` seconds for the whole action.
  Values are checked against the chart's ``values.schema.json`` before anything is contacted:
  bad values raise ``UsageError`` and change nothing.
- A release whose latest revision is ``pending-install``/``pending-upgrade``/``pending-rollback``
  (a deploy that died half-way, or one still running elsewhere) is never touched implicitly:
  ``upgrade_install`` raises :class:`ReleasePending` (exit code 4, "lock held") naming the
  revision. With ``recover=True`` it first rolls back to the last deployed revision (or, for a
  release that was never deployed, uninstalls the stuck install), then proceeds.
- Errors are ``sreplat.errors`` types; progress is reported as ``Event``\\ s (``helm.*`` kinds) to
  ``on_event``; nothing is printed.
- One manager serialises actions per release (concurrent writes to one release corrupt its
  history); different releases may be driven from different threads.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from sreplat.errors import LockHeld, OperationFailed, SreplatError, UsageError
from sreplat.events import Event, EventSink, discard
from sreplat.tools.helm_manifests import ObjectChange, diff_objects, join_rendered, parse_manifest, summarize

PENDING_STATES = frozenset({"pending-install", "pending-upgrade", "pending-rollback"})
# Revisions Helm keeps per release; older ones are pruned on upgrade.
MAX_HISTORY = 10
DEFAULT_TIMEOUT_S = 600


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseInfo:
    """One revision of a release, as Helm stores it."""

    name: str
    namespace: str
    revision: int
    status: str  # deployed | superseded | failed | uninstalled | pending-* | ...
    chart: str
    chart_version: str
    app_version: str
    updated: str  # RFC 3339, when this revision was written

    @property
    def pending(self) -> bool:
        return self.status in PENDING_STATES

    @classmethod
    def from_sdk(cls, raw: Mapping[str, Any]) -> ReleaseInfo:
        return cls(
            name=str(raw.get("name", "")),
            namespace=str(raw.get("namespace", "")),
            revision=int(raw.get("revision", 0)),
            status=str(raw.get("status", "unknown")),
            chart=str(raw.get("chart_name", "")),
            chart_version=str(raw.get("chart_version", "")),
            app_version=str(raw.get("app_version", "")),
            updated=str(raw.get("deployed_at", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "revision": self.revision,
            "status": self.status,
            "chart": self.chart,
            "chart_version": self.chart_version,
            "app_version": self.app_version,
            "updated": self.updated,
        }


@dataclass(frozen=True)
class UpgradeResult:
    """What ``upgrade_install`` did."""

    release: ReleaseInfo
    action: Literal["installed", "upgraded"]
    previous_revision: int | None
    recovered_from: ReleaseInfo | None  # the pending revision cleared first (recover=True)
    dry_run: bool = False  # rendered and validated only; nothing was stored or applied
    notes: str = field(default="", repr=False)
    manifest: str = field(default="", repr=False)  # what was (or would be) applied


@dataclass(frozen=True)
class ReleaseDiff:
    """Rendered manifests of the deployed release against what the new values would deploy."""

    release: str
    namespace: str
    deployed_revision: int | None  # None: not installed, everything is "added"
    changes: tuple[ObjectChange, ...]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def summary(self) -> dict[str, int]:
        return summarize(self.changes)


class ClusterUnreachable(OperationFailed):
    """The Kubernetes API server did not answer (endpoint, network, or credentials)."""


class ReleasePending(LockHeld):
    """The release's latest revision is ``pending-*``: a deploy is running elsewhere or died
    half-way. Nothing was changed; ``recover=True`` (``--recover``) rolls back to the last
    deployed revision."""

    def __init__(self, info: ReleaseInfo, *, last_deployed: int | None):
        fix = (
            f"roll back to revision {last_deployed}"
            if last_deployed
            else "uninstall the install that never completed"
        )
        super().__init__(
            f"release {info.name} in {info.namespace} is {info.status} at revision {info.revision}",
            hint=f"if no other deploy is running, re-run with --recover to {fix}",
        )
        self.info = info
        self.last_deployed = last_deployed


# --- connection ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KubeAccess:
    """How to reach the cluster, held in memory only (``repr`` never shows credentials)."""

    kubeconfig: str = field(repr=False)
    context: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_kubeconfig(
        cls, kubeconfig: str | Mapping[str, Any], *, context: str | None = None
    ) -> KubeAccess:
        """From kubeconfig text (YAML or JSON) or an already-parsed mapping."""
        text = json.dumps(kubeconfig) if isinstance(kubeconfig, Mapping) else kubeconfig
        if not text.strip() or "clusters" not in text:
            raise UsageError("the kubeconfig is empty or has no clusters")
        return cls(kubeconfig=text, context=context)

    @classmethod
    def from_token(cls, *, server: str, token: str, ca_pem: str | bytes | None) -> KubeAccess:
        """From an API server URL, a bearer token and the cluster CA (PEM).

        ``ca_pem`` may be omitted only for a plain-HTTP loopback server (test doubles).
        """
        if not token:
            raise UsageError("an empty bearer token cannot authenticate to the cluster")
        loopback = server.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        cluster: dict[str, Any] = {"server": server}
        if ca_pem:
            pem = ca_pem.encode() if isinstance(ca_pem, str) else ca_pem
            if b"BEGIN CERTIFICATE" not in pem:
                raise UsageError("the cluster CA is not a PEM certificate")
            cluster["certificate-authority-data"] = base64.b64encode(pem).decode()
        elif not loopback:
            raise UsageError(f"the cluster CA certificate is required for {server}")
        if not server.startswith("https://") and not loopback:
            raise UsageError(f"the API server must be an https:// URL, not {server!r}")
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sreplat", "cluster": cluster}],
            "users": [{"name": "sreplat", "user": {"token": token}}],
            "contexts": [{"name": "sreplat", "context": {"cluster": "sreplat", "user": "sreplat"}}],
            "current-context": "sreplat",
        }
        return cls(kubeconfig=json.dumps(doc), secrets=(token,))


class HelmConfig(Protocol):
    """The part of ``helm_python.Config`` the manager uses (tests substitute a double)."""

    def install(
        self, chart: Any, name: str, values: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]: ...
    def upgrade(
        self, chart: Any, name: str, values: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]: ...
    def uninstall(self, name: str, **kw: Any) -> dict[str, Any]: ...
    def rollback(self, name: str, **kw: Any) -> None: ...
    def status(self, name: str, **kw: Any) -> dict[str, Any]: ...
    def history(self, name: str, **kw: Any) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


ConfigFactory = Callable[[str], HelmConfig]


def _sdk_config_factory(access: KubeAccess, storage_driver: str) -> tuple[ConfigFactory, Callable[[], None]]:
    """A factory of ``helm_python.Config`` per namespace over one in-memory kubeconfig, and the
    function that releases that memory file."""
    import helm_python

    fd: int | None = None
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("sreplat-kubeconfig", os.MFD_CLOEXEC)
        os.write(fd, access.kubeconfig.encode())

    def make(namespace: str) -> HelmConfig:
        common: dict[str, Any] = {
            "namespace": namespace,
            "storage_driver": storage_driver,
            "kube_context": access.context,
        }
        if fd is not None:
            config = helm_python.Config(kubeconfig_path=f"/proc/self/fd/{fd}", **common)
        else:
            config = helm_python.Config(kubeconfig_content=access.kubeconfig, **common)
        return cast(HelmConfig, config)

    def release() -> None:
        if fd is not None:
            os.close(fd)

    return make, release


# --- errors -------------------------------------------------------------------------------------


def _translate(exc: Exception, what: str, secrets: tuple[str, ...] = ()) -> SreplatError:
    """A helm_python error as the sreplat error a user can act on."""
    import helm_python as hp

    text = str(exc)
    for secret in secrets:
        text = text.replace(secret, "***")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    if isinstance(
        exc, hp.HelmValuesError | hp.HelmChartLoadError | hp.HelmChartInvalidError | hp.HelmRenderError
    ):
        return UsageError(f"{what}: {first}", detail=text)
    if isinstance(exc, hp.HelmInvalidArgError):
        return UsageError(f"{what}: {first}", detail=text)
    if isinstance(exc, hp.HelmKubeError):
        return ClusterUnreachable(
            f"{what}: cannot reach the cluster: {first}",
            hint="check the cluster endpoint and credentials (sreplat doctor)",
            detail=text,
        )
    if "another operation" in text and "in progress" in text:
        return LockHeld(
            f"{what}: {first}", hint="another deploy of this release is running; wait for it", detail=text
        )
    return OperationFailed(f"{what}: {first}", detail=text)


def _plain_values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Values as plain JSON data (what the SDK serialises), or a UsageError naming the problem."""
    if values is None:
        return {}
    try:
        plain: dict[str, Any] = json.loads(json.dumps(dict(values)))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"chart values must be JSON-serialisable: {exc}") from exc
    return plain


# --- the manager --------------------------------------------------------------------------------


class ReleaseManager:
    """Install, upgrade, inspect, diff, roll back and uninstall Helm releases.

    ``access``: a :class:`KubeAccess` (ignored when ``config_factory`` is given).
    ``namespace``: default namespace of every call (each call may name another).
    ``storage_driver``: where Helm keeps release history: ``secret`` (Helm's default, in the
    release's namespace) or ``memory`` (tests, throw-away dry runs).
    ``config_factory``: namespace → Config-like object; for tests only.
    """

    def __init__(
        self,
        access: KubeAccess | None,
        *,
        namespace: str = "sreplat",
        storage_driver: Literal["secret", "configmap", "memory"] = "secret",
        on_event: EventSink = discard,
        config_factory: ConfigFactory | None = None,
    ) -> None:
        self.namespace = namespace
        self._storage_driver = storage_driver
        self._emit = on_event
        self._secrets = access.secrets if access else ()
        self._release_access: Callable[[], None] = lambda: None
        if config_factory is not None:
            self._factory = config_factory
        elif access is not None:
            self._factory, self._release_access = _sdk_config_factory(access, storage_driver)
        else:
            raise UsageError("no cluster access given (a kubeconfig, or API server + token + CA)")
        self._configs: dict[str, HelmConfig] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    # --- lifecycle ---
    def __enter__(self) -> ReleaseManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._guard:
            configs, self._configs = list(self._configs.values()), {}
        for config in configs:
            config.close()
        self._release_access()
        self._release_access = lambda: None

    # --- plumbing ---
    def _config(self, namespace: str | None) -> HelmConfig:
        ns = namespace or self.namespace
        with self._guard:
            if ns not in self._configs:
                self._configs[ns] = self._factory(ns)
            return self._configs[ns]

    @contextmanager
    def _locked(self, release: str, namespace: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault((namespace, release), threading.Lock())
        with lock:
            yield

    def _event(self, kind: str, message: str, **data: Any) -> None:
        self._emit(Event(kind=kind, message=message, data=data))

    @staticmethod
    def _check_name(release: str) -> None:
        import helm_python as hp

        try:
            hp.validate_release_name(release)
        except hp.HelmError as exc:
            raise UsageError(f"invalid release name {release!r}: {exc}") from exc

    @staticmethod
    @contextmanager
    def _chart(chart_dir: Path, values: dict[str, Any]) -> Iterator[Any]:
        """The loaded chart, after checking ``values`` against its schema (UsageError if not)."""
        import helm_python as hp

        if not Path(chart_dir, "Chart.yaml").is_file():
            raise UsageError(f"{chart_dir} is not a chart directory (no Chart.yaml)")
        try:
            chart = hp.Chart.load(chart_dir)
        except hp.HelmError as exc:
            raise _translate(exc, f"loading chart {chart_dir}") from exc
        try:
            try:
                chart.validate_schema(values)
            except hp.HelmError as exc:
                raise UsageError(
                    f"values for chart {chart.name} do not match its values.schema.json: {str(exc).strip()}",
                    detail=str(exc),
                ) from exc
            yield chart
        finally:
            chart.close()

    # --- reading ---
    def history(self, release: str, *, namespace: str | None = None) -> tuple[ReleaseInfo, ...]:
        """All kept revisions, oldest first; empty when the release does not exist."""
        import helm_python as hp

        ns = namespace or self.namespace
        try:
            raw = self._config(ns).history(release)
        except hp.HelmNotFoundError:
            return ()
        except hp.HelmError as exc:
            raise _translate(exc, f"reading the history of {release}", self._secrets) from exc
        return tuple(sorted((ReleaseInfo.from_sdk(r) for r in raw), key=lambda r: r.revision))

    def status(self, release: str, *, namespace: str | None = None) -> ReleaseInfo | None:
        """The latest revision, or None when the release does not exist."""
        revisions = self.history(release, namespace=namespace)
        return revisions[-1] if revisions else None

    def pending(self, release: str, *, namespace: str | None = None) -> ReleaseInfo | None:
        """The latest revision when it is stuck in ``pending-*`` (and an event saying so), else None."""
        latest = self.status(release, namespace=namespace)
        if latest is None or not latest.pending:
            return None
        self._event(
            "helm.pending",
            f"{release} is {latest.status} at revision {latest.revision}",
            release=release,
            namespace=latest.namespace,
            revision=latest.revision,
            status=latest.status,
        )
        return latest

    # --- writing ---
    def upgrade_install(
        self,
        release: str,
        chart_dir: Path,
        values: Mapping[str, Any] | None = None,
        *,
        namespace: str | None = None,
        wait: bool = True,
        timeout: int = DEFAULT_TIMEOUT_S,
        recover: bool = False,
        dry_run: bool = False,
        description: str | None = None,
    ) -> UpgradeResult:
        """Install ``chart_dir`` as ``release``, or upgrade it, rolling back on failure.

        ``wait``: wait (Helm's status watcher) until every object is ready, within ``timeout``
        seconds; a failed or timed-out rollout is rolled back. ``recover``: clear a stuck
        ``pending-*`` revision first (otherwise :class:`ReleasePending` is raised).
        ``dry_run``: a client-side dry run — render and validate the install or upgrade Helm
        would do, store and apply nothing (``result.manifest`` holds what would be applied).
        With the memory storage driver it needs no cluster at all (it is then a fresh install).
        Raises UsageError (bad name, chart or values; nothing changed), ReleasePending,
        LockHeld, OperationFailed (the action failed; the message says whether it was rolled back).
        """
        ns = namespace or self.namespace
        self._check_name(release)
        plain = _plain_values(values)
        with self._chart(chart_dir, plain) as chart, self._locked(release, ns):
            history = self._history_before_write(release, ns, dry_run=dry_run)
            recovered: ReleaseInfo | None = None
            if history and history[-1].pending:
                recovered = history[-1]
                # A dry run never recovers: it would have to change the cluster.
                self._clear_pending(
                    release, ns, history, recover=recover and not dry_run, wait=wait, timeout=timeout
                )
                history = self.history(release, namespace=ns)
            latest = history[-1] if history else None
            install = latest is None or latest.status == "uninstalled" or _last_deployed(history) is None
            if install and latest is not None and not dry_run:
                # Kept history of a release that never deployed (or was uninstalled with
                # --keep-history) blocks a fresh install; it holds nothing worth keeping.
                self._uninstall_quietly(release, ns, timeout=timeout)
            raw = self._install_or_upgrade(
                chart,
                release,
                ns,
                plain,
                install=install,
                latest=latest,
                wait=wait,
                timeout=timeout,
                dry_run=dry_run,
                description=description,
            )
        return UpgradeResult(
            release=ReleaseInfo.from_sdk(raw),
            action="installed" if install else "upgraded",
            previous_revision=None if install or latest is None else latest.revision,
            recovered_from=recovered,
            dry_run=dry_run,
            notes=str(raw.get("notes", "")),
            manifest=str(raw.get("manifest", "")),
        )

    def _history_before_write(self, release: str, ns: str, *, dry_run: bool) -> tuple[ReleaseInfo, ...]:
        try:
            return self.history(release, namespace=ns)
        except ClusterUnreachable:
            # With in-process (memory) storage and no cluster there is no history to read: a dry
            # run is then a fresh install, rendered and validated without any cluster.
            if dry_run and self._storage_driver == "memory":
                return ()
            raise

    def _clear_pending(
        self,
        release: str,
        ns: str,
        history: tuple[ReleaseInfo, ...],
        *,
        recover: bool,
        wait: bool,
        timeout: int,
    ) -> None:
        stuck, last_good = history[-1], _last_deployed(history)
        self._event(
            "helm.pending",
            f"{release} is {stuck.status} at revision {stuck.revision}",
            release=release,
            namespace=ns,
            revision=stuck.revision,
            status=stuck.status,
            last_deployed=last_good,
        )
        if not recover:
            raise ReleasePending(stuck, last_deployed=last_good)
        self._recover(release, ns, stuck, last_good, wait=wait, timeout=timeout)

    def _install_or_upgrade(
        self,
        chart: Any,
        release: str,
        ns: str,
        values: dict[str, Any],
        *,
        install: bool,
        latest: ReleaseInfo | None,
        wait: bool,
        timeout: int,
        dry_run: bool,
        description: str | None,
    ) -> dict[str, Any]:
        import helm_python as hp

        verb = "install" if install else "upgrade"
        self._event(
            f"helm.{verb}.started",
            f"{verb} {release} ({chart.name} {chart.version}) in {ns}" + (" (dry run)" if dry_run else ""),
            release=release,
            namespace=ns,
            chart=chart.name,
            chart_version=chart.version,
            from_revision=None if install or latest is None else latest.revision,
            dry_run=dry_run,
        )
        options: dict[str, Any] = {"namespace": ns, "description": description}
        if dry_run:
            options["dry_run"] = "client"
        else:
            options.update(timeout=timeout, wait="watcher" if wait else None, rollback_on_failure=True)
        config = self._config(ns)
        try:
            if install:
                raw = config.install(chart, release, values, create_namespace=not dry_run, **options)
            else:
                raw = config.upgrade(
                    chart,
                    release,
                    values,
                    reset_values=True,
                    max_history=MAX_HISTORY,
                    cleanup_on_fail=not dry_run,
                    **options,
                )
        except hp.HelmError as exc:
            if dry_run:
                raise _translate(exc, f"{verb} of {release} (dry run)", self._secrets) from exc
            raise self._failed(exc, verb, release, ns, previous=None if install else latest) from exc
        info = ReleaseInfo.from_sdk(raw)
        self._event(
            f"helm.{verb}.done",
            f"{release} {verb}: revision {info.revision} {info.status}" + (" (dry run)" if dry_run else ""),
            release=release,
            namespace=ns,
            revision=info.revision,
            status=info.status,
            dry_run=dry_run,
        )
        return raw

    def rollback(
        self,
        release: str,
        revision: int | None = None,
        *,
        namespace: str | None = None,
        wait: bool = True,
        timeout: int = DEFAULT_TIMEOUT_S,
    ) -> ReleaseInfo:
        """Roll back to ``revision`` (default: the previous one); returns the new revision."""
        import helm_python as hp

        ns = namespace or self.namespace
        self._check_name(release)
        with self._locked(release, ns):
            if not self.history(release, namespace=ns):
                raise UsageError(f"release {release} does not exist in {ns}")
            self._event(
                "helm.rollback.started",
                f"roll back {release} to {revision or 'the previous revision'}",
                release=release,
                namespace=ns,
                to_revision=revision,
            )
            try:
                self._config(ns).rollback(
                    release, version=revision, timeout=timeout, wait="watcher" if wait else None
                )
            except hp.HelmError as exc:
                raise _translate(exc, f"rollback of {release}", self._secrets) from exc
            info = self.status(release, namespace=ns)
            if info is None:
                raise OperationFailed(f"release {release} disappeared during its rollback")
            self._event(
                "helm.rollback.done",
                f"{release} rolled back: revision {info.revision} {info.status}",
                release=release,
                namespace=ns,
                revision=info.revision,
                status=info.status,
            )
            return info

    def uninstall(
        self,
        release: str,
        *,
        namespace: str | None = None,
        wait: bool = True,
        timeout: int = DEFAULT_TIMEOUT_S,
    ) -> ReleaseInfo | None:
        """Remove the release and its objects (those marked ``helm.sh/resource-policy: keep``
        stay); None when there was nothing to remove."""
        import helm_python as hp

        ns = namespace or self.namespace
        self._check_name(release)
        with self._locked(release, ns):
            if not self.history(release, namespace=ns):
                self._event(
                    "helm.uninstall.skipped",
                    f"{release} is not installed in {ns}",
                    release=release,
                    namespace=ns,
                )
                return None
            self._event(
                "helm.uninstall.started", f"uninstall {release} from {ns}", release=release, namespace=ns
            )
            try:
                raw = self._config(ns).uninstall(release, timeout=timeout, wait="watcher" if wait else None)
            except hp.HelmError as exc:
                raise _translate(exc, f"uninstall of {release}", self._secrets) from exc
            info = ReleaseInfo.from_sdk(raw.get("release", {}))
            self._event(
                "helm.uninstall.done",
                f"{release} uninstalled",
                release=release,
                namespace=ns,
                revision=info.revision,
            )
            return info

    # --- plan ---
    def diff(
        self,
        release: str,
        chart_dir: Path,
        values: Mapping[str, Any] | None = None,
        *,
        namespace: str | None = None,
    ) -> ReleaseDiff:
        """What ``upgrade_install`` would change: the last deployed revision's manifest against the
        one the chart renders with ``values`` — a server-side dry run, so ``lookup`` sees live
        objects (the Redis password stays the same) and the cluster validates; a client-side one
        when nothing is deployed yet. Nothing is changed; Secret values are redacted."""
        import helm_python as hp

        ns = namespace or self.namespace
        self._check_name(release)
        plain = _plain_values(values)
        with self._chart(chart_dir, plain) as chart:
            history = self.history(release, namespace=ns)
            deployed = _last_deployed(history)
            config = self._config(ns)
            try:
                if deployed is None:
                    # Nothing deployed: a client-side dry run, which also works before the
                    # namespace exists.
                    new = config.install(chart, release, plain, namespace=ns, dry_run="client")
                    old_manifest = ""
                else:
                    old_manifest = str(config.status(release, revision=deployed).get("manifest", ""))
                    new = config.upgrade(
                        chart, release, plain, namespace=ns, dry_run="server", reset_values=True
                    )
            except hp.HelmError as exc:
                raise _translate(exc, f"planning {release}", self._secrets) from exc
        changes = diff_objects(
            parse_manifest(old_manifest, default_namespace=ns),
            parse_manifest(str(new.get("manifest", "")), default_namespace=ns),
        )
        result = ReleaseDiff(release=release, namespace=ns, deployed_revision=deployed, changes=changes)
        self._event(
            "helm.diff",
            f"{release}: " + ", ".join(f"{n} {k}" for k, n in result.summary().items()),
            release=release,
            namespace=ns,
            deployed_revision=deployed,
            **result.summary(),
        )
        return result

    # --- recovery and failure reports ---
    def _recover(
        self, release: str, ns: str, stuck: ReleaseInfo, last_good: int | None, *, wait: bool, timeout: int
    ) -> None:
        import helm_python as hp

        config = self._config(ns)
        if last_good is None:
            self._event(
                "helm.recover",
                f"{release}: revision {stuck.revision} ({stuck.status}) never deployed; uninstalling it",
                release=release,
                namespace=ns,
                revision=stuck.revision,
                action="uninstall",
            )
            self._uninstall_quietly(release, ns, timeout=timeout)
            return
        self._event(
            "helm.recover",
            f"{release}: rolling back from {stuck.status} revision {stuck.revision} to revision {last_good}",
            release=release,
            namespace=ns,
            revision=stuck.revision,
            action="rollback",
            to_revision=last_good,
        )
        try:
            config.rollback(release, version=last_good, timeout=timeout, wait="watcher" if wait else None)
        except hp.HelmError as exc:
            raise _translate(
                exc, f"recovering {release} (rollback to revision {last_good})", self._secrets
            ) from exc

    def _uninstall_quietly(self, release: str, ns: str, *, timeout: int) -> None:
        import helm_python as hp

        try:
            self._config(ns).uninstall(release, timeout=timeout, wait="watcher", ignore_not_found=True)
        except hp.HelmError as exc:
            raise _translate(exc, f"removing the stuck release {release}", self._secrets) from exc

    def _failed(
        self, exc: Exception, verb: str, release: str, ns: str, *, previous: ReleaseInfo | None
    ) -> SreplatError:
        """The error for a failed install/upgrade, saying what state the release was left in."""
        import helm_python as hp

        base = _translate(exc, f"{verb} of {release}", self._secrets)
        if isinstance(base, UsageError | LockHeld):
            return base
        try:
            after = self.history(release, namespace=ns)
        except SreplatError:
            after = ()
        latest = after[-1] if after else None
        if previous is None:
            outcome = (
                "nothing is left installed"
                if latest is None or latest.status == "uninstalled"
                else f"it is {latest.status}"
            )
        elif latest is not None and latest.status == "deployed" and latest.revision > previous.revision:
            outcome = (
                f"rolled back: revision {latest.revision} now runs what revision {previous.revision} ran"
            )
        else:
            state = f"{latest.status} at revision {latest.revision}" if latest else "gone"
            outcome = f"the rollback did not complete; the release is {state}"
        self._event(
            "helm.failed",
            f"{verb} of {release} failed; {outcome}",
            release=release,
            namespace=ns,
            revision=latest.revision if latest else None,
            status=latest.status if latest else None,
            rolled_back=outcome.startswith("rolled back"),
        )
        timed_out = isinstance(exc, hp.HelmCancelledError) or "deadline exceeded" in str(exc)
        why = "not ready in time" if timed_out else base.message.split(": ", 1)[-1]
        return OperationFailed(
            f"{verb} of {release} failed ({why}); {outcome}",
            hint="see the rollout with `sreplat status`; -v shows Helm's full message",
            detail=base.detail,
        )


def _last_deployed(history: tuple[ReleaseInfo, ...]) -> int | None:
    """The revision a recovery rolls back to: the newest deployed one, else the newest that was."""
    for wanted in ("deployed", "superseded"):
        candidates = [r.revision for r in history if r.status == wanted]
        if candidates:
            return max(candidates)
    return None


def render(
    chart_dir: Path, values: Mapping[str, Any] | None = None, *, release: str, namespace: str = "sreplat"
) -> str:
    """The chart's manifest rendered offline (no cluster: ``lookup`` finds nothing), in the shape
    Helm stores; for a plan when there is no cluster yet."""
    import helm_python as hp

    plain = _plain_values(values)
    with ReleaseManager._chart(chart_dir, plain) as chart:
        try:
            templates = chart.render(plain, name=release, namespace=namespace, is_install=True)
        except hp.HelmError as exc:
            raise _translate(exc, f"rendering {chart_dir}") from exc
    return join_rendered(templates)
