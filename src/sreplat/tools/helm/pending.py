"""Releases stuck in ``pending-install``/``pending-upgrade``/``pending-rollback`` (a deploy that
died half-way, or one still running elsewhere): never touched implicitly. Reported as
:class:`ReleasePending` (exit code 4, "lock held"); on request (``recover``) rolled back to the
last deployed revision, or, for a release that was never deployed, uninstalled."""

from __future__ import annotations

from typing import Any

from sreplat.tools.helm.errors import ReleasePending
from sreplat.tools.helm.results import ReleaseInfo, last_deployed
from sreplat.tools.helm.session import HelmSession


def announce(session: HelmSession, release: str, stuck: ReleaseInfo, *, namespace: str, **data: Any) -> None:
    """The ``helm.pending`` event for ``release``, whose latest revision is ``stuck``."""
    session.event(
        "helm.pending",
        f"{release} is {stuck.status} at revision {stuck.revision}",
        release=release,
        namespace=namespace,
        revision=stuck.revision,
        status=stuck.status,
        **data,
    )


def clear_pending(
    session: HelmSession,
    release: str,
    ns: str,
    history: tuple[ReleaseInfo, ...],
    *,
    recover: bool,
    timeout: int,
) -> None:
    """Recover a release whose latest revision is pending, or raise ReleasePending."""
    stuck, last_good = history[-1], last_deployed(history)
    announce(session, release, stuck, namespace=ns, last_deployed=last_good)
    if not recover:
        raise ReleasePending(stuck, last_deployed=last_good)
    if last_good is None:
        session.event(
            "helm.recover",
            f"{release}: revision {stuck.revision} ({stuck.status}) never deployed; uninstalling it",
            release=release,
            namespace=ns,
            revision=stuck.revision,
            action="uninstall",
        )
        uninstall_leftover(session, release, ns, timeout=timeout)
        return
    session.event(
        "helm.recover",
        f"{release}: rolling back from {stuck.status} revision {stuck.revision} to revision {last_good}",
        release=release,
        namespace=ns,
        revision=stuck.revision,
        action="rollback",
        to_revision=last_good,
    )
    with session.translated(f"recovering {release} (rollback to revision {last_good})"):
        session.config(ns).rollback(release, version=last_good, timeout=timeout)


def uninstall_leftover(session: HelmSession, release: str, ns: str, *, timeout: int) -> None:
    """Remove a release that holds nothing worth keeping (stuck, or never deployed)."""
    with session.translated(f"removing the stuck release {release}"):
        session.config(ns).uninstall(release, timeout=timeout, ignore_not_found=True)
