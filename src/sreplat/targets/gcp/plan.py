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

from collections.abc import Callable
from functools import partial
from typing import Any

from sreplat.errors import OperationFailed, SreplatError, UsageError
from sreplat.targets.gcp.context import CLUSTER, FOUNDATION, HELM_RELEASES, GcpContext, short_reason
from sreplat.targets.gcp.data import APPS, FoundationOutputs
from sreplat.targets.gcp.observability import Observability
from sreplat.targets.gcp.record import read_record
from sreplat.targets.gcp.releases import ReleasePlan
from sreplat.targets.gcp.stacks import Stacks, describe_plan
from sreplat.tools.images.pipeline import BuiltImage, BuiltImages, registry_prefix_for

# One look at the bucket decides whether the cloud parts can be shown: keep it short.
STATE_READ_S = 10.0


def plan_details(ctx: GcpContext, stacks: Stacks, verb: str, sha: str | None) -> dict[str, Any]:
    blocked = cloud_blocker(ctx)
    details: dict[str, Any] = {}
    if verb == "bootstrap":
        details = {
            "terraform": terraform_changes(ctx, stacks, blocked),
            "helm": helm_changes(ctx, HELM_RELEASES, sha, blocked),
        }
    elif verb == "deploy" and sha:
        details = {
            "images": image_plan(ctx, sha, blocked),
            "helm": helm_changes(ctx, APPS, sha, blocked),
        }
    elif verb == "destroy":
        details = {"removes": destroy_scope(ctx, blocked)}
    if blocked is not None and details:
        details["unavailable"] = blocked.headline
        if blocked.hint:
            details["hint"] = blocked.hint
    return details


def cloud_blocker(ctx: GcpContext) -> SreplatError | None:
    """Why the parts that need Google Cloud cannot be shown, or None: credentials first, then one
    read of the foundation's state (which every part needs, and which is then cached)."""
    problem = ctx.access_problem()
    if problem is not None:
        return problem
    try:
        ctx.stack_state(FOUNDATION, timeout=STATE_READ_S)
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


def _has_state(ctx: GcpContext, stack: str) -> bool:
    state = ctx.stack_state(stack)
    return state is not None and not state.empty


def terraform_changes(ctx: GcpContext, stacks: Stacks, blocked: SreplatError | None = None) -> dict[str, str]:
    if blocked is not None:
        return {stack: _unavailable(blocked) for stack in (FOUNDATION, CLUSTER)}
    if not _has_state(ctx, FOUNDATION):
        return {
            FOUNDATION: f"no state yet: every resource would be created (state in gs://{ctx.bucket})",
            CLUSTER: "no state yet: would be created once the foundation exists",
        }
    return {stack: _attempt(partial(_stack_plan, stacks, stack)) for stack in (FOUNDATION, CLUSTER)}


def _stack_plan(stacks: Stacks, stack: str) -> str:
    return describe_plan(stacks.plan(stack))


def _foundation_or_expected(ctx: GcpContext, blocked: SreplatError | None) -> FoundationOutputs:
    """The foundation's outputs, or what they will be (the stacks' naming) before it exists or
    when it cannot be read."""
    if blocked is None and _has_state(ctx, FOUNDATION):
        return ctx.foundation()
    s, prefix = ctx.settings, ctx.settings.resource_name
    return FoundationOutputs(
        registry_url=registry_prefix_for(region=s.region, project=s.project, repository=s.repository),
        api_hostname=s.api_host,
        ingress_address="",
        ingress_address_name=f"{prefix}-ingress",
        dns_zone_name=s.dns_zone,
        workload_service_accounts={
            app: f"{prefix}-{app}@{s.project}.iam.gserviceaccount.com" for app in APPS
        },
        ssl_policy_name=f"{prefix}-ingress-tls",
        security_policy_name=f"{prefix}-ingress-armor" if s.cloud_armor.enabled else None,
        deployer_service_account_email=f"{prefix}-deployer@{s.project}.iam.gserviceaccount.com",
        build_service_account_email=f"{prefix}-build@{s.project}.iam.gserviceaccount.com",
    )


def _images(
    ctx: GcpContext, foundation: FoundationOutputs, sha: str | None, blocked: SreplatError | None
) -> BuiltImages:
    """The images a run would deploy: the recorded ones for the SHA that runs, else the tags a
    build would push (digests unknown yet)."""
    record = read_record(ctx) if blocked is None and _has_state(ctx, FOUNDATION) else None
    if sha is None:
        from sreplat.tools import git

        sha = record.sha if record else git.resolve_sha(ctx.env.repo, "HEAD")
    if record is not None and record.sha == sha:
        return record.images
    registry = foundation.registry_url
    return BuiltImages(sha, {app: BuiltImage(app, f"{registry}/{app}", sha, "", built=False) for app in APPS})


def helm_changes(
    ctx: GcpContext, releases: tuple[str, ...], sha: str | None, blocked: SreplatError | None = None
) -> dict[str, str]:
    from sreplat.targets.gcp.images import redis_pin
    from sreplat.tools.helm.charts import render
    from sreplat.tools.helm.manifests import parse_manifest
    from sreplat.tools.images.mirror import mirrored_as

    foundation = _foundation_or_expected(ctx, blocked)
    images = _images(ctx, foundation, sha, blocked)
    # Where bootstrap mirrors Redis (nothing asked: the pin and the registry say it).
    redis = mirrored_as(redis_pin(ctx, images.sha), foundation.registry_url) if "redis" in releases else None
    observability = Observability(ctx).values(foundation)
    plan = ReleasePlan(foundation, images, observability, redis)
    if blocked is not None or not _has_state(ctx, CLUSTER):
        # The charts render without a cluster: what would be installed is still worth showing.
        out = {}
        for release in releases:
            manifest = render(ctx.chart(release), plan.values(release), release=release)
            objects = len(parse_manifest(manifest))
            if blocked is None:
                out[release] = f"install: {objects} objects (no cluster yet)"
            else:
                out[release] = f"{objects} objects rendered; diff {_unavailable(blocked)}"
        return out
    try:
        return _diffs(ctx, releases, plan)
    except UsageError:
        raise
    except SreplatError as exc:  # the cluster's API: not there, not ready, out of reach
        return dict.fromkeys(releases, f"unavailable: {exc.one_line()}")


def _diffs(ctx: GcpContext, releases: tuple[str, ...], plan: ReleasePlan) -> dict[str, str]:
    out = {}
    with ctx.helm() as manager:
        for release in releases:
            diff = manager.diff(release, ctx.chart(release), plan.values(release))
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


def image_plan(ctx: GcpContext, sha: str, blocked: SreplatError | None = None) -> dict[str, str]:
    from sreplat.targets.gcp.images import registry_digest

    if blocked is not None:
        return dict.fromkeys(APPS, _unavailable(blocked))
    registry = ctx.foundation().registry_url  # UsageError: not bootstrapped
    out = {}
    for app in APPS:
        try:
            digest = registry_digest(ctx, f"{registry}/{app}", sha)
        except SreplatError as exc:
            out[app] = f"unknown: {exc.one_line()}"
            continue
        out[app] = f"reused ({digest[:19]}…)" if digest else "would be built and pushed"
    return out


def destroy_scope(ctx: GcpContext, blocked: SreplatError | None = None) -> dict[str, str]:
    kept = f"gs://{ctx.bucket} (versioned; may hold other environments' state)"
    if blocked is not None:
        unavailable = _unavailable(blocked)
        return {CLUSTER: unavailable, FOUNDATION: unavailable, "releases": unavailable, "kept": kept}
    out = {stack: _attempt(partial(_resources, ctx, stack)) for stack in (CLUSTER, FOUNDATION)}
    out["releases"] = _attempt(partial(_releases, ctx))
    out["kept"] = kept
    return out


def _resources(ctx: GcpContext, stack: str) -> str:
    state = ctx.stack_state(stack)
    return f"{state.resources} resources" if state is not None and not state.empty else "nothing"


def _releases(ctx: GcpContext) -> str:
    return ", ".join(reversed(HELM_RELEASES)) if _has_state(ctx, CLUSTER) else "none (no cluster)"
