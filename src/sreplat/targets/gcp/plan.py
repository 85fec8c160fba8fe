"""What ``sreplat plan`` shows for a gcp environment beside the ordered steps: the Terraform change
summary of each stack and the Helm diff of each release — computed without changing anything
(Terraform plans without the state lock in a scratch data dir, Helm diffs with dry runs).

Before anything exists it says what would be created instead of failing: a stack without state
is "would be created", a release on a cluster that does not exist yet is rendered offline and
counted.

When Google Cloud cannot be asked (no credentials, credentials that give no token, the state
bucket out of reach), the steps are still shown: the parts that need the cloud say
"unavailable: <why>", the reason and its hint are given once (``unavailable``, ``hint``), and the
charts are still rendered offline. Nothing is retried part by part: one look decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from sreplat.errors import OperationFailed, SreplatError, UsageError
from sreplat.targets.gcp import releases as gcp_releases
from sreplat.targets.gcp.context import APPS, CLUSTER, FOUNDATION, RELEASES, short_reason
from sreplat.targets.gcp.stacks import describe_plan
from sreplat.tools.images.pipeline import registry_prefix_for

if TYPE_CHECKING:
    from sreplat.targets.gcp import GcpTarget

# One look at the bucket decides whether the cloud parts can be shown: keep it short.
STATE_READ_S = 10.0


def plan_details(target: GcpTarget, verb: str, sha: str | None) -> dict[str, Any]:
    blocked = cloud_blocker(target)
    details: dict[str, Any] = {}
    if verb == "bootstrap":
        details = {
            "terraform": terraform_changes(target, blocked),
            "helm": helm_changes(target, RELEASES, sha, blocked),
        }
    elif verb == "deploy" and sha:
        details = {
            "images": image_plan(target, sha, blocked),
            "helm": helm_changes(target, APPS, sha, blocked),
        }
    elif verb == "destroy":
        details = {"removes": destroy_scope(target, blocked)}
    if blocked is not None and details:
        details["unavailable"] = blocked.headline
        if blocked.hint:
            details["hint"] = blocked.hint
    return details


def cloud_blocker(target: GcpTarget) -> SreplatError | None:
    """Why the parts that need Google Cloud cannot be shown, or None: credentials first, then one
    read of the foundation's state (which every part needs, and which is then cached)."""
    problem = target.ctx.access_problem()
    if problem is not None:
        return problem
    try:
        target.ctx.stack_state(FOUNDATION, timeout=STATE_READ_S)
    except OperationFailed as exc:
        return exc
    return None


def _unavailable(blocked: SreplatError) -> str:
    return f"unavailable: {short_reason(blocked)}"


def _attempt(what: Callable[[], str]) -> str:
    """One part's answer, or why it could not be found (bad input still raises: exit 2)."""
    try:
        return what()
    except UsageError:
        raise
    except SreplatError as exc:
        return f"unavailable: {exc.one_line()}"


def _has_state(target: GcpTarget, stack: str) -> bool:
    state = target.ctx.stack_state(stack)
    return state is not None and not state.empty


def terraform_changes(target: GcpTarget, blocked: SreplatError | None = None) -> dict[str, str]:
    if blocked is not None:
        return {stack: _unavailable(blocked) for stack in (FOUNDATION, CLUSTER)}
    if not _has_state(target, FOUNDATION):
        return {
            FOUNDATION: f"no state yet: every resource would be created (state in gs://{target.ctx.bucket})",
            CLUSTER: "no state yet: would be created once the foundation exists",
        }
    return {stack: _attempt(partial(_stack_plan, target, stack)) for stack in (FOUNDATION, CLUSTER)}


def _stack_plan(target: GcpTarget, stack: str) -> str:
    return describe_plan(target.stacks.plan(stack))


def _foundation_or_expected(target: GcpTarget, blocked: SreplatError | None) -> dict[str, Any]:
    """The foundation's outputs, or what they will be (the stacks' naming) before it exists or
    when it cannot be read."""
    if blocked is None and _has_state(target, FOUNDATION):
        return target.ctx.outputs(FOUNDATION)
    s, prefix = target.settings, f"sreplat-{target.env.name}"
    return {
        "registry_url": registry_prefix_for(region=s.region, project=s.project, repository=s.repository),
        "api_hostname": s.api_host,
        "ingress_address_name": f"{prefix}-ingress",
        "workload_service_accounts": {
            app: f"{prefix}-{app}@{s.project}.iam.gserviceaccount.com" for app in APPS
        },
    }


def _images(
    target: GcpTarget, foundation: Mapping[str, Any], sha: str | None, blocked: SreplatError | None
) -> tuple[str, dict[str, Any]]:
    record = target.ctx.read_release() if blocked is None and _has_state(target, FOUNDATION) else None
    if sha is None:
        from sreplat.tools import git

        sha = record.sha if record else git.resolve_sha(target.env.repo, "HEAD")
    if record is not None and record.sha == sha:
        return sha, {app: dict(image) for app, image in record.images.items()}
    registry = str(foundation["registry_url"])
    return sha, {app: {"repository": f"{registry}/{app}", "tag": sha, "digest": ""} for app in APPS}


def helm_changes(
    target: GcpTarget, releases: tuple[str, ...], sha: str | None, blocked: SreplatError | None = None
) -> dict[str, str]:
    from sreplat.tools.helm.charts import render
    from sreplat.tools.helm.manifests import parse_manifest

    foundation = _foundation_or_expected(target, blocked)
    sha, images = _images(target, foundation, sha, blocked)
    values = {
        r: gcp_releases.release_values(
            r,
            foundation=foundation,
            images=images,
            sha=sha,
            extra=target.observability.values_for(r, foundation),
        )
        for r in releases
    }
    if blocked is not None or not _has_state(target, CLUSTER):
        # The charts render without a cluster: what would be installed is still worth showing.
        out = {}
        for release in releases:
            manifest = render(target.ctx.chart(release), values[release], release=release)
            objects = len(parse_manifest(manifest))
            if blocked is None:
                out[release] = f"install: {objects} objects (no cluster yet)"
            else:
                out[release] = f"{objects} objects rendered; diff {_unavailable(blocked)}"
        return out
    try:
        return _diffs(target, releases, values)
    except UsageError:
        raise
    except SreplatError as exc:  # the cluster's API: not there, not ready, out of reach
        return dict.fromkeys(releases, f"unavailable: {exc.one_line()}")


def _diffs(target: GcpTarget, releases: tuple[str, ...], values: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    with target.ctx.helm() as manager:
        for release in releases:
            diff = manager.diff(release, target.ctx.chart(release), values[release])
            counts = diff.summary()
            if diff.deployed_revision is None:
                out[release] = f"install: {counts.get('added', 0)} objects"
            elif not diff.has_changes:
                out[release] = f"no change (revision {diff.deployed_revision})"
            else:
                changed = ", ".join(str(c.ref) for c in diff.changes[:4])
                added, edited = counts.get("added", 0), counts.get("changed", 0)
                out[release] = f"+{added} ~{edited} -{counts.get('removed', 0)}: {changed}"
    return out


def image_plan(target: GcpTarget, sha: str, blocked: SreplatError | None = None) -> dict[str, str]:
    from sreplat.tools.images.registry import ImageRef, RegistryClient, RegistryCredentials

    if blocked is not None:
        return dict.fromkeys(APPS, _unavailable(blocked))
    registry = str(target.ctx.outputs(FOUNDATION)["registry_url"])  # UsageError: not bootstrapped
    credentials = RegistryCredentials.from_google(target.ctx.access.resolved_credentials())
    out = {}
    for app in APPS:
        ref = ImageRef.of(f"{registry}/{app}", sha)
        client = RegistryClient(
            ref.host, credentials=credentials, base_url=target.ctx.endpoints.artifact_registry
        )
        try:
            digest = client.manifest_digest(ref)
        except SreplatError as exc:
            out[app] = f"unknown: {exc.one_line()}"
            continue
        out[app] = f"reused ({digest[:19]}…)" if digest else "would be built and pushed"
    return out


def destroy_scope(target: GcpTarget, blocked: SreplatError | None = None) -> dict[str, str]:
    kept = f"gs://{target.ctx.bucket} (versioned; may hold other environments' state)"
    if blocked is not None:
        unavailable = _unavailable(blocked)
        return {CLUSTER: unavailable, FOUNDATION: unavailable, "releases": unavailable, "kept": kept}
    out = {stack: _attempt(partial(_resources, target, stack)) for stack in (CLUSTER, FOUNDATION)}
    out["releases"] = _attempt(partial(_releases, target))
    out["kept"] = kept
    return out


def _resources(target: GcpTarget, stack: str) -> str:
    state = target.ctx.stack_state(stack)
    return f"{state.resources} resources" if state is not None and not state.empty else "nothing"


def _releases(target: GcpTarget) -> str:
    return ", ".join(reversed(RELEASES)) if _has_state(target, CLUSTER) else "none (no cluster)"
