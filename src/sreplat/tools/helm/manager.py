"""Helm releases on a cluster, through the Helm v4 Go SDK that helm-python-sdk bundles (import
``helm_python``): no ``helm`` binary, and no kubeconfig file written or changed.

The gcp target drives every release (``platform``, ``redis``, ``api``, ``worker``) through a
:class:`ReleaseManager`::

    access = KubeAccess.from_token(server="https://34.1.2.3", token=token, ca_pem=ca_pem)
    with ReleaseManager(SdkConnection(access), namespace="sreplat", on_event=sink,
                        await_ready=rollout_wait) as helm:
        if (stuck := helm.pending("api")) is not None:
            ...  # tell the user: revision stuck.revision is stuck.status; --recover rolls back
        result = helm.upgrade_install("api", Path("helm/api"), values, timeout=600)
        plan = helm.diff("api", Path("helm/api"), values)  # for `sreplat plan`

Connection (``access``). :class:`KubeAccess` carries a kubeconfig *in memory*, handed to
client-go through an anonymous memory file: ``~/.kube/config`` / ``$KUBECONFIG`` are never read
or written. (client-go inside the SDK does keep its API discovery cache under ``~/.kube/cache``,
or ``$KUBECACHEDIR`` as set when the process started — as helm and kubectl do; that cache holds
no credentials.)

Semantics.
- ``upgrade_install`` (``upgrade``) installs when the release does not exist, else upgrades;
  the objects are applied with Helm's rollback on failure, then the release's workloads are
  awaited with ``await_ready`` (never the SDK's own wait, which Ctrl-C could not reach); a
  release that does not become ready in ``timeout`` seconds is undone (a failed install is
  removed, a failed upgrade rolls back to the previous revision); Ctrl-C ends the wait at once.
  Values are checked against the chart's ``values.schema.json`` before anything is contacted
  (``charts``): bad values raise ``UsageError`` and change nothing.
- A release whose latest revision is ``pending-install``/``pending-upgrade``/``pending-rollback``
  (a deploy that died half-way, or one still running elsewhere) is never touched implicitly
  (``pending``): ``upgrade_install`` raises :class:`ReleasePending` (exit code 4, "lock held")
  naming the revision. With ``recover=True`` it first rolls back to the last deployed revision
  (or, for a release that was never deployed, uninstalls the stuck install), then proceeds.
- Errors are ``sreplat.errors`` types (``errors``); progress is reported as ``Event``\\ s
  (``helm.*`` kinds) to ``on_event``; nothing is printed.
- One manager serialises actions per release (concurrent writes to one release corrupt its
  history); different releases may be driven from different threads (``session``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sreplat.events import EventSink, discard
from sreplat.tools.helm import actions as helm_actions
from sreplat.tools.helm import diff as helm_diff
from sreplat.tools.helm import pending as helm_pending
from sreplat.tools.helm import upgrade as helm_upgrade
from sreplat.tools.helm.access import HelmConnection
from sreplat.tools.helm.results import ReleaseDiff, ReleaseInfo, UpgradeResult
from sreplat.tools.helm.session import HelmSession, ReadinessWait

DEFAULT_TIMEOUT_S = 600


class ReleaseManager:
    """Install, upgrade, inspect, diff, roll back and uninstall Helm releases.

    ``connection``: the cluster (``access.SdkConnection`` over a ``KubeAccess``; tests may pass a
    double). ``namespace``: default namespace of every call (each call may name another).
    ``await_ready``: how installs, upgrades and rollbacks wait for their workloads (the gcp target
    gives ``tools.kube``'s rollout wait, with the run's cancel token); without it, nothing waits.
    """

    def __init__(
        self,
        connection: HelmConnection,
        *,
        namespace: str = "sreplat",
        on_event: EventSink = discard,
        await_ready: ReadinessWait | None = None,
    ):
        self.namespace = namespace
        self._session = HelmSession(connection, on_event=on_event, await_ready=await_ready)

    # --- lifecycle ---
    def __enter__(self) -> ReleaseManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # --- reading ---
    def history(self, release: str, *, namespace: str | None = None) -> tuple[ReleaseInfo, ...]:
        """All kept revisions, oldest first; empty when the release does not exist."""
        return self._session.history(release, namespace or self.namespace)

    def status(self, release: str, *, namespace: str | None = None) -> ReleaseInfo | None:
        """The latest revision, or None when the release does not exist."""
        revisions = self.history(release, namespace=namespace)
        return revisions[-1] if revisions else None

    def pending(self, release: str, *, namespace: str | None = None) -> ReleaseInfo | None:
        """The latest revision when it is stuck in ``pending-*`` (and an event saying so), else None."""
        latest = self.status(release, namespace=namespace)
        if latest is None or not latest.pending:
            return None
        helm_pending.announce(self._session, release, latest, namespace=latest.namespace)
        return latest

    # --- writing ---
    def upgrade_install(
        self,
        release: str,
        chart_dir: Path,
        values: Mapping[str, Any] | None = None,
        *,
        namespace: str | None = None,
        timeout: int = DEFAULT_TIMEOUT_S,
        recover: bool = False,
        dry_run: bool = False,
        description: str | None = None,
        rollback_to: int | None = None,
    ) -> UpgradeResult:
        """Install ``chart_dir`` as ``release``, or upgrade it, rolling back on failure.

        Then its Deployments and StatefulSets are awaited (``await_ready``) within ``timeout``
        seconds; a failed apply or a failed or timed-out rollout is undone (an install removed,
        an upgrade rolled back to ``rollback_to``, default the revision before it). Ctrl-C during
        the wait raises ``Interrupted`` at once and undoes nothing (a re-run finishes the job).
        ``recover``: clear a stuck ``pending-*`` revision first (otherwise :class:`ReleasePending`).
        ``dry_run``: a client-side dry run — render and validate the install or upgrade Helm
        would do, store and apply nothing (``result.manifest`` holds what would be applied).
        With the memory storage driver it needs no cluster at all (it is then a fresh install).
        Raises UsageError (bad name, chart or values; nothing changed), ReleasePending,
        LockHeld, OperationFailed (the action failed; the message says whether it was rolled back).
        """
        return helm_upgrade.upgrade_install(
            self._session,
            release,
            chart_dir,
            values,
            ns=namespace or self.namespace,
            timeout=timeout,
            recover=recover,
            dry_run=dry_run,
            description=description,
            rollback_to=rollback_to,
        )

    def rollback(
        self,
        release: str,
        revision: int | None = None,
        *,
        namespace: str | None = None,
        timeout: int = DEFAULT_TIMEOUT_S,
    ) -> ReleaseInfo:
        """Roll back to ``revision`` (default: the previous one) and await its workloads; returns
        the new revision."""
        return helm_actions.rollback(
            self._session, release, revision, ns=namespace or self.namespace, timeout=timeout
        )

    def uninstall(
        self,
        release: str,
        *,
        namespace: str | None = None,
        timeout: int = DEFAULT_TIMEOUT_S,
    ) -> ReleaseInfo | None:
        """Remove the release and its objects (those marked ``helm.sh/resource-policy: keep``
        stay; nothing waits for the pods to go); None when there was nothing to remove."""
        return helm_actions.uninstall(self._session, release, ns=namespace or self.namespace, timeout=timeout)

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
        return helm_diff.diff(self._session, release, chart_dir, values, ns=namespace or self.namespace)
