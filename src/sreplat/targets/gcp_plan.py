"""What ``sreplat plan`` shows for a gcp environment beside the ordered steps: the Terraform change
summary of each stack and the Helm diff of each release — computed without changing anything
(Terraform plans without the state lock, Helm diffs with dry runs).

Before anything exists it says what would be created instead of failing: a stack without state
is "would be created", a release on a cluster that does not exist yet is rendered offline and
counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sreplat.errors import SreplatError
from sreplat.targets import gcp_releases
from sreplat.targets.gcp_context import APPS, CLUSTER, FOUNDATION, RELEASES
from sreplat.targets.gcp_stacks import describe_plan
from sreplat.tools.images import registry_prefix_for

if TYPE_CHECKING:
    from sreplat.targets.gcp import GcpTarget


def plan_details(target: GcpTarget, verb: str, sha: str | None) -> dict[str, Any]:
    if verb == "bootstrap":
        return {"terraform": terraform_changes(target), "helm": helm_changes(target, RELEASES, sha)}
    if verb == "deploy" and sha:
        return {"images": image_plan(target, sha), "helm": helm_changes(target, APPS, sha)}
    if verb == "destroy":
        return {"removes": destroy_scope(target)}
    return {}


def _has_state(target: GcpTarget, stack: str) -> bool:
    state = target.ctx.stack_state(stack)
    return state is not None and not state.empty


def terraform_changes(target: GcpTarget) -> dict[str, str]:
    if not _has_state(target, FOUNDATION):
        return {
            FOUNDATION: f"no state yet: every resource would be created (state in gs://{target.ctx.bucket})",
            CLUSTER: "no state yet: would be created once the foundation exists",
        }
    return {stack: describe_plan(target.stacks.plan(stack)) for stack in (FOUNDATION, CLUSTER)}


def _foundation_or_expected(target: GcpTarget) -> dict[str, Any]:
    """The foundation's outputs, or what they will be (the stacks' naming) before it exists."""
    if _has_state(target, FOUNDATION):
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


def _images(target: GcpTarget, foundation: Mapping[str, Any], sha: str | None) -> tuple[str, dict[str, Any]]:
    record = target.ctx.read_release() if _has_state(target, FOUNDATION) else None
    if sha is None:
        from sreplat.tools import git

        sha = record.sha if record else git.resolve_sha(target.env.repo, "HEAD")
    if record is not None and record.sha == sha:
        return sha, {app: dict(image) for app, image in record.images.items()}
    registry = str(foundation["registry_url"])
    return sha, {app: {"repository": f"{registry}/{app}", "tag": sha, "digest": ""} for app in APPS}


def helm_changes(target: GcpTarget, releases: tuple[str, ...], sha: str | None) -> dict[str, str]:
    from sreplat.tools import helm
    from sreplat.tools.helm_manifests import parse_manifest

    foundation = _foundation_or_expected(target)
    sha, images = _images(target, foundation, sha)
    values = {
        r: gcp_releases.release_values(r, foundation=foundation, images=images, sha=sha) for r in releases
    }
    if not _has_state(target, CLUSTER):
        out = {}
        for release in releases:
            manifest = helm.render(target.ctx.chart(release), values[release], release=release)
            out[release] = f"install: {len(parse_manifest(manifest))} objects (no cluster yet)"
        return out
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


def image_plan(target: GcpTarget, sha: str) -> dict[str, str]:
    from sreplat.tools.registry import ImageRef, RegistryClient, RegistryCredentials

    registry = str(target.ctx.outputs(FOUNDATION)["registry_url"])
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


def destroy_scope(target: GcpTarget) -> dict[str, str]:
    out = {}
    for stack in (CLUSTER, FOUNDATION):
        state = target.ctx.stack_state(stack)
        out[stack] = f"{state.resources} resources" if state is not None and not state.empty else "nothing"
    out["releases"] = ", ".join(reversed(RELEASES)) if _has_state(target, CLUSTER) else "none (no cluster)"
    out["kept"] = f"gs://{target.ctx.bucket} (versioned; may hold other environments' state)"
    return out
