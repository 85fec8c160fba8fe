"""The environment's Helm releases: their values (from the foundation's outputs and the image
manifest), bringing one up to date, rolling the apps forward together — and back together.

Values follow docs/contracts.md and the charts' ``ci/gke-values.yaml``: images by digest (the tag
is the full SHA, kept for people reading the pod spec), ``release`` = the SHA (it becomes
``SREPLAT_RELEASE``, what ``/healthz`` reports), Workload Identity service accounts, and the API's
Ingress on the static IP Terraform reserved.

api and worker are upgraded concurrently; when either fails, Helm has already rolled the failed
one back (``rollback_on_failure``) and the other is rolled back here, so the environment never
stays half on the new SHA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sreplat.errors import OperationFailed, SreplatError
from sreplat.targets.gcp.context import APPS, RELEASES

if TYPE_CHECKING:
    from sreplat.tools.helm.manager import ReleaseManager
    from sreplat.tools.helm.results import UpgradeResult


@dataclass(frozen=True)
class ReleaseChange:
    release: str
    changed: bool
    revision: int
    detail: str


def app_values(
    app: str, *, foundation: Mapping[str, Any], image: Mapping[str, str], sha: str
) -> dict[str, Any]:
    """The values of the ``api`` or ``worker`` chart for one image of one SHA."""
    values: dict[str, Any] = {
        "image": {
            "repository": image["repository"],
            "tag": image.get("tag") or sha,
            "digest": image.get("digest", ""),
        },
        "release": sha,
        "serviceAccount": {"gcpServiceAccount": str(foundation["workload_service_accounts"][app])},
    }
    if app == "api":
        values["ingress"] = {
            "enabled": True,
            "host": str(foundation["api_hostname"]),
            "staticIpName": str(foundation["ingress_address_name"]),
        }
    return values


def release_values(
    release: str,
    *,
    foundation: Mapping[str, Any],
    images: Mapping[str, Mapping[str, str]],
    sha: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``extra``: more top-level values (observability: ``targets.gcp.observability``)."""
    if release not in APPS:
        # platform and redis: the charts' defaults are the production settings, plus ``extra``.
        return dict(extra or {})
    return {**app_values(release, foundation=foundation, image=images[release], sha=sha), **(extra or {})}


def ensure_release(
    helm: ReleaseManager,
    release: str,
    chart: Path,
    values: Mapping[str, Any],
    *,
    timeout_s: float,
    recover: bool,
) -> ReleaseChange:
    """Install or upgrade ``release`` unless what is deployed already renders the same."""
    current = helm.status(release)
    if current is not None and current.status == "deployed":
        diff = helm.diff(release, chart, values)
        if not diff.has_changes:
            return ReleaseChange(release, False, current.revision, f"revision {current.revision} up to date")
    result = helm.upgrade_install(release, chart, values, wait=True, timeout=int(timeout_s), recover=recover)
    info = result.release
    return ReleaseChange(release, True, info.revision, f"{result.action}: revision {info.revision}")


def upgrade_apps(
    helm: ReleaseManager,
    charts: Mapping[str, Path],
    values: Mapping[str, Mapping[str, Any]],
    *,
    timeout_s: float,
    recover: bool,
) -> dict[str, UpgradeResult]:
    """Upgrade every app concurrently (each waits for its rollout); all or none.

    On any failure, the apps that did upgrade are rolled back to their previous revision and
    OperationFailed says what happened to each.
    """

    def one(app: str) -> UpgradeResult:
        return helm.upgrade_install(
            app, charts[app], values[app], wait=True, timeout=int(timeout_s), recover=recover
        )

    apps = list(values)
    results: dict[str, UpgradeResult] = {}
    failures: dict[str, SreplatError | Exception] = {}
    with ThreadPoolExecutor(max_workers=len(apps), thread_name_prefix="upgrade") as pool:
        futures = {app: pool.submit(one, app) for app in apps}
        for app, future in futures.items():
            try:
                results[app] = future.result()
            except Exception as exc:
                failures[app] = exc
    if not failures:
        return results
    previous = {app: r.previous_revision for app, r in results.items() if r.previous_revision}
    undone = rollback_apps(helm, previous, timeout_s=timeout_s)
    first_app, first = next(iter(failures.items()))
    reason = first.message if isinstance(first, SreplatError) else f"{type(first).__name__}: {first}"
    parts = [f"{first_app}: {reason}"]
    parts += [f"{app}: {exc}" for app, exc in list(failures.items())[1:]]
    parts += undone
    error = OperationFailed("; ".join(parts), hint="see the rollout with `sreplat status`")
    if isinstance(first, SreplatError):
        error.detail = first.detail
    raise error from first


def rollback_apps(helm: ReleaseManager, previous: Mapping[str, int], *, timeout_s: float) -> list[str]:
    """Roll each app back to its revision in ``previous``; lines saying what became of each."""
    lines = []
    for app, revision in previous.items():
        try:
            info = helm.rollback(app, revision, timeout=int(timeout_s))
            lines.append(f"{app} rolled back: revision {info.revision} runs what revision {revision} ran")
        except SreplatError as exc:
            lines.append(f"{app} could NOT be rolled back to revision {revision}: {exc.one_line()}")
    return lines


def uninstall_all(helm: ReleaseManager, *, timeout_s: float, releases: Sequence[str] = RELEASES) -> list[str]:
    """Uninstall in reverse install order; the releases that were there."""
    removed = []
    for release in reversed(releases):
        if helm.uninstall(release, timeout=int(timeout_s)) is not None:
            removed.append(release)
    return removed
