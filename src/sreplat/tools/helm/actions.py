"""Rolling a release back to an earlier revision (then awaiting its workloads), and uninstalling
it (its objects are deleted; nothing waits for the pods to go)."""

from __future__ import annotations

from sreplat.errors import OperationFailed, UsageError
from sreplat.tools.helm.charts import check_release_name
from sreplat.tools.helm.results import ReleaseInfo
from sreplat.tools.helm.session import HelmSession


def rollback(
    session: HelmSession, release: str, revision: int | None, *, ns: str, timeout: int
) -> ReleaseInfo:
    """See ``ReleaseManager.rollback``."""
    check_release_name(release)
    with session.locked(release, ns):
        if not session.history(release, ns):
            raise UsageError(f"release {release} does not exist in {ns}")
        session.event(
            "helm.rollback.started",
            f"roll back {release} to {revision or 'the previous revision'}",
            release=release,
            namespace=ns,
            to_revision=revision,
        )
        config = session.config(ns)
        with session.translated(f"rollback of {release}"):
            config.rollback(release, version=revision, timeout=timeout)
            manifest = str(config.status(release).get("manifest", ""))
        session.await_ready(manifest, ns, timeout)
        revisions = session.history(release, ns)
        if not revisions:
            raise OperationFailed(f"release {release} disappeared during its rollback")
        info = revisions[-1]
        session.event(
            "helm.rollback.done",
            f"{release} rolled back: revision {info.revision} {info.status}",
            release=release,
            namespace=ns,
            revision=info.revision,
            status=info.status,
        )
        return info


def uninstall(session: HelmSession, release: str, *, ns: str, timeout: int) -> ReleaseInfo | None:
    """See ``ReleaseManager.uninstall``."""
    check_release_name(release)
    with session.locked(release, ns):
        if not session.history(release, ns):
            session.event(
                "helm.uninstall.skipped", f"{release} is not installed in {ns}", release=release, namespace=ns
            )
            return None
        session.event(
            "helm.uninstall.started", f"uninstall {release} from {ns}", release=release, namespace=ns
        )
        with session.translated(f"uninstall of {release}"):
            raw = session.config(ns).uninstall(release, timeout=timeout)
        info = ReleaseInfo.from_sdk(raw.get("release", {}))
        session.event(
            "helm.uninstall.done",
            f"{release} uninstalled",
            release=release,
            namespace=ns,
            revision=info.revision,
        )
        return info
