"""The environment's Helm releases: their values (a ``ReleasePlan``: the foundation's outputs and
one SHA's images), bringing one up to date, rolling the apps forward together — and back
together — and checking that what they run is served.

Values follow docs/contracts.md and the charts' ``ci/gke-values.yaml``: images by digest (the tag
is the full SHA, kept for people reading the pod spec), ``release`` = the SHA (it becomes
``SREPLAT_RELEASE``, what ``/healthz`` reports), Workload Identity service accounts, the API's
Ingress on the static IP Terraform reserved with the TLS policy (and, when on, the Cloud Armor
policy) of the foundation stack, and in ``platform`` the CI deployer's Role bound to its account.
Observability adds its own (``targets.gcp.observability``: the collector, Grafana, the SLO Rules
and the alert receiver in ``platform``; the OTLP endpoint and sampling ratio in the apps).

api and worker are upgraded concurrently; when either fails, the release manager has already
undone the failed one (tools/helm/upgrade.py) and the other is rolled back here, so the
environment never stays half on the new SHA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sreplat.errors import Interrupted, OperationFailed, SreplatError
from sreplat.pipeline.step import StepContext
from sreplat.targets.gcp.context import HELM_RELEASES, NAMESPACE, GcpContext
from sreplat.targets.gcp.data import APPS, FoundationOutputs
from sreplat.tools.images.mirror import MirroredImage
from sreplat.tools.images.pipeline import BuiltImage, BuiltImages

if TYPE_CHECKING:
    from sreplat.tools.helm.manager import ReleaseManager
    from sreplat.tools.helm.results import UpgradeResult

HEALTHZ_PROBE_S = 5.0
ROLLOUT_POLL_S = 1.0


@dataclass(frozen=True)
class ReleaseChange:
    release: str
    changed: bool
    revision: int
    detail: str


@dataclass(frozen=True)
class ReleasePlan:
    """What every release gets for one SHA's images on one foundation (docs/contracts.md and the
    charts' ``ci/gke-values.yaml``)."""

    foundation: FoundationOutputs
    images: BuiltImages
    # release → more top-level values: what turns observability on (``targets.gcp.observability``).
    observability: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    redis: MirroredImage | None = None  # Redis mirrored into the environment's registry

    @property
    def sha(self) -> str:
        return self.images.sha

    def values(self, release: str) -> dict[str, Any]:
        extra = self.observability.get(release, {})
        if release == "platform":
            return {**platform_values(self.foundation), **extra}
        if release == "redis":
            # by digest, from the environment's registry; without a mirror: the chart's defaults
            mirrored = {"image": self.redis.helm_image()} if self.redis is not None else {}
            return {**mirrored, **extra}
        if release not in APPS:
            return dict(extra)
        image = self.images.images[release]
        return {**app_values(release, foundation=self.foundation, image=image, sha=self.sha), **extra}


def app_values(app: str, *, foundation: FoundationOutputs, image: BuiltImage, sha: str) -> dict[str, Any]:
    """The values of the ``api`` or ``worker`` chart for one image of one SHA."""
    values: dict[str, Any] = {
        "image": {"repository": image.repository, "tag": image.tag or sha, "digest": image.digest},
        "release": sha,
        "serviceAccount": {"gcpServiceAccount": foundation.workload_service_accounts[app]},
    }
    if app == "api":
        values["ingress"] = {
            "enabled": True,
            "host": foundation.api_hostname,
            "staticIpName": foundation.ingress_address_name,
            "sslPolicy": foundation.ssl_policy_name,
        }
        if foundation.security_policy_name:  # None unless cloud_armor.enabled
            values["backendConfig"] = {"securityPolicy": foundation.security_policy_name}
    return values


def platform_values(foundation: FoundationOutputs) -> dict[str, Any]:
    """The ``platform`` chart's values: the CI deployer's Role, bound to its Google account (GKE
    names a Google identity's Kubernetes user by its email); no Role without one."""
    email = foundation.deployer_service_account_email
    return {"deployer": {"user": email}} if email else {}


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
    result = helm.upgrade_install(release, chart, values, timeout=int(timeout_s), recover=recover)
    info = result.release
    return ReleaseChange(release, True, info.revision, f"{result.action}: revision {info.revision}")


def upgrade_apps(
    helm: ReleaseManager,
    charts: Mapping[str, Path],
    values: Mapping[str, Mapping[str, Any]],
    *,
    timeout_s: float,
    recover: bool,
    good: Mapping[str, int],
) -> dict[str, UpgradeResult]:
    """Upgrade every app concurrently (each waits for its rollout); all or none.

    ``good``: app → the revision known to work (the deploy record's), which a failed app goes back
    to (by default: its revision before the upgrade, which may be one a Ctrl-C left unready). On
    any failure, the apps that did upgrade are rolled back too and OperationFailed says what
    happened to each. Ctrl-C (Interrupted) stops at once: a re-run finishes or undoes the upgrade.
    """

    def one(app: str) -> UpgradeResult:
        return helm.upgrade_install(
            app, charts[app], values[app], timeout=int(timeout_s), recover=recover, rollback_to=good.get(app)
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
    first_app, first = next(iter(failures.items()))
    if interrupted := next((e for e in failures.values() if isinstance(e, Interrupted)), None):
        raise interrupted
    previous = {app: good.get(app) or r.previous_revision for app, r in results.items()}
    undone = rollback_apps(helm, {app: rev for app, rev in previous.items() if rev}, timeout_s=timeout_s)
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
        except Interrupted:
            raise
        except SreplatError as exc:
            lines.append(f"{app} could NOT be rolled back to revision {revision}: {exc.one_line()}")
    return lines


def uninstall_all(
    helm: ReleaseManager, *, timeout_s: float, releases: Sequence[str] = HELM_RELEASES
) -> list[str]:
    """Uninstall in reverse install order; the releases that were there."""
    removed = []
    for release in reversed(releases):
        if helm.uninstall(release, timeout=int(timeout_s)) is not None:
            removed.append(release)
    return removed


ROLLOUTS = (("Deployment", "api"), ("Deployment", "worker"))
WORKLOADS = (*ROLLOUTS, ("StatefulSet", "redis"))


def check_release(
    ctx: GcpContext,
    step: StepContext,
    sha: str,
    foundation: FoundationOutputs,
    workloads: Sequence[tuple[str, str]],
) -> bool:
    """Rollouts complete, then /healthz over HTTPS reports ``sha``. False when HTTPS cannot be
    checked yet (the managed certificate is still provisioning). Ctrl-C ends either wait."""
    from sreplat.tools.gcp import https_probe
    from sreplat.tools.kube.certificates import managed_certificate
    from sreplat.tools.kube.workloads import wait_for_rollout

    timeout = ctx.settings.ready_timeout_s
    step.progress("waiting for the rollouts")
    with ctx.kube_api() as api:
        wait_for_rollout(
            api,
            NAMESPACE,
            workloads,
            timeout=timeout,
            poll_interval=ROLLOUT_POLL_S,
            on_event=step.sink,
            cancel=step.cancel,
        )
        certificate = managed_certificate(api, NAMESPACE, "api")
    if not certificate.active:
        step.emit("gcp.certificate", certificate.describe(), state=certificate.state)
        return False
    host = foundation.api_hostname
    base = ctx.load_balancer_url(foundation.ingress_address)

    def healthz() -> str | None:
        answer = https_probe.get(base, "/healthz", host=host, timeout_s=HEALTHZ_PROBE_S)
        if answer.status != 200:
            return answer.describe()
        version = (answer.json() or {}).get("release")
        return None if version == sha else f"it reports release {version!r}"

    step.progress(f"https://{host}/healthz")
    what = f"https://{host}/healthz did not report {sha[:12]}"
    step.wait_until(healthz, timeout_s=timeout, what=what, interval_s=1.0)
    return True
