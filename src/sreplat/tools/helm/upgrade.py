"""Install a chart as a release, or upgrade it, all or nothing: the objects are applied, then the
release's workloads are awaited (``HelmSession.await_ready``). An apply that fails and a release
that does not become ready are undone here: a failed install is removed, a failed upgrade rolls
back to the previous revision (or to ``rollback_to``, the revision the caller knows was good).
The failure message says what state the release was left in.

Ctrl-C during the wait (``Interrupted``) undoes nothing — undoing takes seconds, and a run stops
at once: the revision stays as applied, and running the command again upgrades and waits again
(rolling back to the caller's good revision if it still does not become ready).

Helm's own all-or-nothing (``rollback_on_failure``, formerly ``--atomic``) is not used: it turns
the SDK's wait on (as ``--atomic`` did ``--wait``; with helm_python 0.2.2 an upgrade given it and
no ``wait`` still waited and rolled back by itself), and that wait cannot see the cancel token."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sreplat.errors import Interrupted, LockHeld, OperationFailed, SreplatError, UsageError
from sreplat.tools.api_calls import CallTimeout
from sreplat.tools.helm.charts import check_release_name, loaded_chart, plain_values
from sreplat.tools.helm.errors import ClusterUnreachable, translate
from sreplat.tools.helm.pending import clear_pending, uninstall_leftover
from sreplat.tools.helm.results import ReleaseInfo, UpgradeResult, last_deployed
from sreplat.tools.helm.session import HelmSession

# Revisions Helm keeps per release; older ones are pruned on upgrade.
MAX_HISTORY = 10


def upgrade_install(
    session: HelmSession,
    release: str,
    chart_dir: Path,
    values: Mapping[str, Any] | None,
    *,
    ns: str,
    timeout: int,
    recover: bool,
    dry_run: bool,
    description: str | None,
    rollback_to: int | None = None,
) -> UpgradeResult:
    """See ``ReleaseManager.upgrade_install``."""
    check_release_name(release)
    plain = plain_values(values)
    with loaded_chart(chart_dir, plain) as chart, session.locked(release, ns):
        history = _history_before_write(session, release, ns, dry_run=dry_run)
        recovered: ReleaseInfo | None = None
        if history and history[-1].pending:
            recovered = history[-1]
            # A dry run never recovers: it would have to change the cluster.
            clear_pending(session, release, ns, history, recover=recover and not dry_run, timeout=timeout)
            history = session.history(release, ns)
        latest = history[-1] if history else None
        install = latest is None or latest.status == "uninstalled" or last_deployed(history) is None
        if install and latest is not None and not dry_run:
            # Kept history of a release that never deployed (or was uninstalled with
            # --keep-history) blocks a fresh install; it holds nothing worth keeping.
            uninstall_leftover(session, release, ns, timeout=timeout)
        previous = None if install else latest
        good = None if previous is None else (rollback_to or previous.revision)
        raw = _install_or_upgrade(
            session,
            chart,
            release,
            ns,
            plain,
            previous=previous,
            good=good,
            timeout=timeout,
            dry_run=dry_run,
            description=description,
        )
        if not dry_run:
            info = ReleaseInfo.from_sdk(raw)
            try:
                session.await_ready(str(raw.get("manifest", "")), ns, timeout)
            except Interrupted as exc:
                raise Interrupted(
                    f"interrupted while waiting for {release}: revision {info.revision} is applied but "
                    "not ready yet; run the command again to finish (or undo) it"
                ) from exc
            except SreplatError as exc:
                why = "not ready in time" if isinstance(exc, CallTimeout) else exc.message
                raise _undone(session, exc, release, ns, why=why, good=good, timeout=timeout) from exc
    return UpgradeResult(
        release=ReleaseInfo.from_sdk(raw),
        action="installed" if install else "upgraded",
        previous_revision=None if previous is None else previous.revision,
        recovered_from=recovered,
        dry_run=dry_run,
        notes=str(raw.get("notes", "")),
        manifest=str(raw.get("manifest", "")),
    )


def _history_before_write(
    session: HelmSession, release: str, ns: str, *, dry_run: bool
) -> tuple[ReleaseInfo, ...]:
    try:
        return session.history(release, ns)
    except ClusterUnreachable:
        # With in-process (memory) storage and no cluster there is no history to read: a dry
        # run is then a fresh install, rendered and validated without any cluster.
        if dry_run and session.storage_driver == "memory":
            return ()
        raise


def _install_or_upgrade(
    session: HelmSession,
    chart: Any,
    release: str,
    ns: str,
    values: dict[str, Any],
    *,
    previous: ReleaseInfo | None,
    good: int | None,
    timeout: int,
    dry_run: bool,
    description: str | None,
) -> dict[str, Any]:
    import helm_python as hp

    verb = "install" if previous is None else "upgrade"
    dry = " (dry run)" if dry_run else ""
    session.event(
        f"helm.{verb}.started",
        f"{verb} {release} ({chart.name} {chart.version}) in {ns}{dry}",
        release=release,
        namespace=ns,
        chart=chart.name,
        chart_version=chart.version,
        from_revision=None if previous is None else previous.revision,
        dry_run=dry_run,
    )
    options: dict[str, Any] = {"namespace": ns, "description": description}
    if dry_run:
        options["dry_run"] = "client"
    else:
        options["timeout"] = timeout  # no SDK wait: readiness is awaited afterwards
    config = session.config(ns)
    try:
        if previous is None:
            # The namespace is a prerequisite (helm/namespace.yaml, applied by bootstrap with its Pod
            # Security labels): a release never creates it, and the CI deployer may not.
            raw = config.install(chart, release, values, create_namespace=False, **options)
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
        base = translate(exc, f"{verb} of {release}{dry}", session.secrets)
        if dry_run or isinstance(base, UsageError | LockHeld):
            raise base from exc  # nothing was changed
        why = base.message.split(": ", 1)[-1]
        raise _undone(session, base, release, ns, why=why, good=good, timeout=timeout) from exc
    info = ReleaseInfo.from_sdk(raw)
    session.event(
        f"helm.{verb}.done",
        f"{release} {verb}: revision {info.revision} {info.status}{dry}",
        release=release,
        namespace=ns,
        revision=info.revision,
        status=info.status,
        dry_run=dry_run,
    )
    return raw


def _undone(
    session: HelmSession,
    error: SreplatError,
    release: str,
    ns: str,
    *,
    why: str,
    good: int | None,
    timeout: int,
) -> OperationFailed:
    """Remove the failed install (``good`` None), or roll the failed upgrade back to revision
    ``good``; the error to raise, saying what state the release was left in."""
    verb = "install" if good is None else "upgrade"
    try:
        before = session.history(release, ns)
    except SreplatError:
        before = ()
    try:
        with session.translated(f"undoing the {verb} of {release}"):
            if good is None:
                session.config(ns).uninstall(release, timeout=timeout, ignore_not_found=True)
            else:
                session.config(ns).rollback(release, version=good, timeout=timeout)
    except SreplatError as undo_failed:  # said below, from the history: "did not complete"
        error.detail = "\n".join(filter(None, [error.detail, f"undo: {undo_failed.message}"]))
    outcome = _outcome(session, release, ns, good, before)
    session.event(
        "helm.failed",
        f"{verb} of {release} failed; {outcome}",
        release=release,
        namespace=ns,
        rolled_back=outcome.startswith("rolled back"),
    )
    return OperationFailed(
        f"{verb} of {release} failed ({why}); {outcome}",
        hint="see the rollout with `sreplat status`; -v shows Helm's full message",
        detail=error.detail or error.message,
    )


def _outcome(
    session: HelmSession, release: str, ns: str, good: int | None, before: tuple[ReleaseInfo, ...]
) -> str:
    """What state a failed install or upgrade left the release in, in words (``before``: its
    history before the undo)."""
    try:
        after = session.history(release, ns)
    except SreplatError:
        after = ()
    latest = after[-1] if after else None
    if good is None:
        return (
            "nothing is left installed"
            if latest is None or latest.status == "uninstalled"
            else f"it is {latest.status}"
        )
    newest_before = before[-1].revision if before else 0
    if latest is not None and latest.status == "deployed" and latest.revision > newest_before:
        return f"rolled back: revision {latest.revision} now runs what revision {good} ran"
    state = f"{latest.status} at revision {latest.revision}" if latest else "gone"
    return f"the rollback did not complete; the release is {state}"
