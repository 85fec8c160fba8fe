"""The environment's images: built (or reused) for a SHA and pushed to its Artifact Registry,
and looked up there — by bootstrap, deploy, plan and status alike.

The builder is the local Docker engine when one answers (``image_builder = "auto"``), else Cloud
Build, which builds from a context uploaded to sreplat's own state bucket, as the foundation's
build service account.

Every recorded release's images also carry the tag ``release-<sha>`` (``tag_release``), which the
repository's cleanup policy keeps (module artifact_registry, ``release_tag_prefix``): what a
rollback may need is never deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sreplat.pipeline.step import StepContext, StepResult
from sreplat.tools.images.pipeline import APPS, BuiltImages

if TYPE_CHECKING:
    from sreplat.targets.gcp.context import GcpContext
    from sreplat.targets.gcp.data import FoundationOutputs
    from sreplat.tools.images.bases import PinnedImage
    from sreplat.tools.images.pipeline import Builder

REGISTRY_CALL_S = 15.0
CLOUD_BUILD_POLL_S = 1.0
RELEASE_TAG_PREFIX = "release-"  # the Artifact Registry cleanup policy keeps these (release_tag_prefix)


def registry_digest(
    ctx: GcpContext, repository: str, tag: str, *, timeout_s: float = REGISTRY_CALL_S
) -> str | None:
    """The digest the environment's registry holds for ``repository:tag`` (None: no such tag)."""
    from sreplat.tools.images.registry import ImageRef, RegistryClient, RegistryCredentials

    ref = ImageRef.of(repository, tag)
    client = RegistryClient(
        ref.host,
        credentials=RegistryCredentials.from_google(ctx.access.resolved_credentials()),
        timeout_s=timeout_s,
        base_url=ctx.endpoints.artifact_registry,
    )
    return client.manifest_digest(ref)


def all_present(ctx: GcpContext, images: BuiltImages) -> bool:
    """Whether the registry still holds every app's image with its recorded digest."""
    return all(
        app in images.images
        and registry_digest(ctx, images.images[app].repository, images.images[app].tag)
        == images.images[app].digest
        for app in APPS
    )


def builder(ctx: GcpContext, step: StepContext, foundation: FoundationOutputs) -> Builder:
    from sreplat.tools.images import docker_builder

    choice = ctx.settings.image_builder
    if choice == "auto":
        choice = "docker" if docker_builder.engine_answers() else "cloudbuild"
    step.progress(f"building with {choice}")
    if choice == "docker":
        made = ctx.seams.docker_builder
        return made() if made is not None else docker_builder.DockerEngineBuilder()
    from sreplat.tools.gcp.cloudbuild import CloudBuildBuilder

    return CloudBuildBuilder(
        project=ctx.settings.project,
        source_bucket=ctx.bucket,  # sreplat's own bucket: contexts go under source/
        location=ctx.settings.region,
        credentials=ctx.access.resolved_credentials(),
        cloudbuild_endpoint=ctx.endpoints.cloudbuild,
        storage_endpoint=ctx.endpoints.storage,
        poll_interval_s=CLOUD_BUILD_POLL_S,
        cancel=step.cancel,
        # The foundation's build account: reads source/ of the bucket and pushes, nothing else.
        service_account=foundation.build_service_account_email,
    )


def build(
    ctx: GcpContext, step: StepContext, sha: str, foundation: FoundationOutputs, *, allow_dirty: bool
) -> StepResult:
    """The images of ``sha`` in the registry, built and pushed where missing; a step's result
    whose output is the ``BuiltImages``."""
    from sreplat.tools.images.pipeline import build_and_push
    from sreplat.tools.images.registry import RegistryCredentials

    step.progress(f"images of {sha[:12]}")
    images = build_and_push(
        sha=sha,
        registry_prefix=foundation.registry_url,
        builder=builder(ctx, step, foundation),
        repo=ctx.env.repo,
        emit=step.sink,
        allow_dirty=allow_dirty,
        credentials=RegistryCredentials.from_google(ctx.access.resolved_credentials()),
        registry_base_url=ctx.endpoints.artifact_registry,
    )
    built = sorted(app for app, image in images.images.items() if image.built)
    if built:
        return StepResult.ok(
            f"built and pushed {', '.join(built)} at {images.sha[:12]}", output=images, sha=images.sha
        )
    return StepResult.skipped(
        f"images of {images.sha[:12]} already in the registry", output=images, sha=images.sha
    )


REDIS = "redis"  # its name in base-images.json, and in the environment's repository


def redis_pin(ctx: GcpContext, sha: str) -> PinnedImage:
    """The Redis image ``base-images.json`` pins at ``sha``; UsageError when it pins none."""
    from sreplat.errors import UsageError
    from sreplat.tools import git
    from sreplat.tools.images import bases

    text = git.read_bytes(ctx.env.repo, sha, bases.BASES_FILE)
    where = f"{bases.BASES_FILE} at {sha[:12]}"
    if text is None:
        raise UsageError(
            f"there is no {where}: the Redis image must be pinned by digest",
            hint=f"run `{bases.REFRESH_COMMAND}` and commit {bases.BASES_FILE}",
        )
    return bases.parse(text, where).get(REDIS, where)


def mirror_redis(ctx: GcpContext, step: StepContext, sha: str, registry_url: str) -> StepResult:
    """Redis in the environment's registry by digest (copied from its upstream registry when
    missing), so no pod pulls from Docker Hub; the step's output is the ``MirroredImage``."""
    from sreplat.tools.images.mirror import mirror
    from sreplat.tools.images.registry import ImageRef, RegistryClient, RegistryCredentials

    pin = redis_pin(ctx, sha)
    host = ImageRef.parse(f"{registry_url}/{REDIS}:x").host
    credentials = RegistryCredentials.from_google(ctx.access.resolved_credentials())
    step.progress(f"mirroring {pin.ref}@{pin.digest[:19]}…")
    with RegistryClient(host, credentials=credentials, base_url=ctx.endpoints.artifact_registry) as target:
        mirrored, copied = mirror(pin, registry_prefix=registry_url, target=target, emit=step.sink)
    if copied.already_there:
        return StepResult.skipped(f"{mirrored.pinned} already there", output=mirrored)
    return StepResult.ok(copied.describe(), output=mirrored)


def tag_release(ctx: GcpContext, images: BuiltImages) -> str:
    """Tag every app's image ``release-<sha>`` too (idempotent; a tag is never moved); a few words
    for the step's detail ("" when every tag was there)."""
    from sreplat.tools.images.registry import ImageRef, RegistryClient, RegistryCredentials

    credentials = RegistryCredentials.from_google(ctx.access.resolved_credentials())
    tag = f"{RELEASE_TAG_PREFIX}{images.sha}"
    added = 0
    for image in images.images.values():
        ref = ImageRef.of(image.repository, image.tag)
        client = RegistryClient(
            ref.host,
            credentials=credentials,
            timeout_s=REGISTRY_CALL_S,
            base_url=ctx.endpoints.artifact_registry,
        )
        added += client.add_tag(ref, image.digest, tag)
    return f"; images tagged {RELEASE_TAG_PREFIX}{images.sha[:12]}" if added else ""
