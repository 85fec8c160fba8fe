"""Install a chart as a release, or upgrade it: rollback on failure (a failed install is removed,
a failed upgrade rolls back to the previous revision), ``wait`` through Helm's status watcher,
and a failure message that says what state the release was left in."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sreplat.errors import LockHeld, OperationFailed, SreplatError, UsageError
from sreplat.tools.helm.charts import check_release_name, loaded_chart, plain_values
from sreplat.tools.helm.errors import ClusterUnreachable, translate
from sreplat.tools.helm.pending import clear_pending, uninstall_leftover
from sreplat.tools.helm.results import ReleaseInfo, UpgradeResult, last_deployed
from sreplat.tools.helm.session import HelmSession, wait_mode

# Revisions Helm keeps per release; older ones are pruned on upgrade.
MAX_HISTORY = 10


def upgrade_install(
    session: HelmSession,
    release: str,
    chart_dir: Path,
    values: Mapping[str, Any] | None,
    *,
    ns: str,
    wait: bool,
    timeout: int,
    recover: bool,
    dry_run: bool,
    description: str | None,
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
            clear_pending(
                session, release, ns, history, recover=recover and not dry_run, wait=wait, timeout=timeout
            )
            history = session.history(release, ns)
        latest = history[-1] if history else None
        install = latest is None or latest.status == "uninstalled" or last_deployed(history) is None
        if install and latest is not None and not dry_run:
            # Kept history of a release that never deployed (or was uninstalled with
            # --keep-history) blocks a fresh install; it holds nothing worth keeping.
            uninstall_leftover(session, release, ns, timeout=timeout)
        raw = _install_or_upgrade(
            session,
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
    install: bool,
    latest: ReleaseInfo | None,
    wait: bool,
    timeout: int,
    dry_run: bool,
    description: str | None,
) -> dict[str, Any]:
    import helm_python as hp

    verb = "install" if install else "upgrade"
    dry = " (dry run)" if dry_run else ""
    session.event(
        f"helm.{verb}.started",
        f"{verb} {release} ({chart.name} {chart.version}) in {ns}{dry}",
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
        options.update(timeout=timeout, wait=wait_mode(wait), rollback_on_failure=True)
    config = session.config(ns)
    try:
        if install:
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
        if dry_run:
            raise translate(exc, f"{verb} of {release}{dry}", session.secrets) from exc
        raise _failure(session, exc, verb, release, ns, previous=None if install else latest) from exc
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


def _failure(
    session: HelmSession, exc: Exception, verb: str, release: str, ns: str, *, previous: ReleaseInfo | None
) -> SreplatError:
    """The error for a failed install/upgrade, saying what state the release was left in."""
    import helm_python as hp

    base = translate(exc, f"{verb} of {release}", session.secrets)
    if isinstance(base, UsageError | LockHeld):
        return base
    try:
        after = session.history(release, ns)
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
        outcome = f"rolled back: revision {latest.revision} now runs what revision {previous.revision} ran"
    else:
        state = f"{latest.status} at revision {latest.revision}" if latest else "gone"
        outcome = f"the rollback did not complete; the release is {state}"
    session.event(
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
