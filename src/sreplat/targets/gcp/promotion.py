"""Promotion, build once: what one environment runs becomes what another runs, by digest.

- ``choose_release``: the release of the source to promote — the one it runs, or with ``--sha`` one
  from its release history; anything else is refused (exit 2).
- ``copy_release``: first make sure every image of that release is in the source repository (an
  image missing there is refused before anything is copied, so the target is untouched), then
  copy each one by digest into the target's repository (``tools/images/copy.py``: mounted on one
  registry host, streamed otherwise), tagged with the SHA. Nothing is rebuilt: the digests the
  target then runs are the digests the source was tested with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sreplat.errors import OperationFailed, UsageError
from sreplat.events import EventSink, discard
from sreplat.targets.gcp.data import APPS
from sreplat.targets.gcp.record import DeployRecord, PastRelease
from sreplat.tools.images.copy import CopyResult, copy_image
from sreplat.tools.images.pipeline import BuiltImage, BuiltImages
from sreplat.tools.images.registry import ImageRef, RegistryClient


def choose_release(source_env: str, record: DeployRecord | None, sha: str | None) -> PastRelease:
    """The source's release to promote: what it runs, or the one of its history ``sha`` (a full
    SHA or an abbreviation) names; UsageError when there is none to speak of."""
    if record is None:
        raise UsageError(
            f"environment {source_env!r} has no release record: nothing to promote",
            hint=f"deploy to {source_env} first (sreplat --env {source_env} deploy --sha SHA)",
        )
    if sha is None:
        return record.current
    releases = (record.current, *record.history)
    matches = {r.sha: r for r in releases if r.sha.startswith(sha.lower())}
    if len(matches) > 1:
        raise UsageError(
            f"{sha} names several releases of {source_env}: {', '.join(m[:12] for m in matches)}"
        )
    if not matches:
        known = ", ".join(r.sha[:12] for r in releases)
        raise UsageError(
            f"{source_env} does not run {sha[:12]} and never ran it (its releases: {known})",
            hint=f"promote what {source_env} runs (no --sha), or deploy {sha[:12]} to {source_env} first",
        )
    return next(iter(matches.values()))


@dataclass(frozen=True)
class PromotedImages:
    images: BuiltImages  # in the target's repository: same digests, same inputs
    copies: Mapping[str, CopyResult]

    @property
    def sha(self) -> str:
        return self.images.sha

    def describe(self) -> str:
        def moved(copy: CopyResult) -> str:
            if copy.already_there:
                return "already there"
            return f"{copy.blobs_mounted} blobs mounted, {copy.blobs_streamed} streamed"

        parts = "; ".join(f"{app}: {moved(copy)}" for app, copy in self.copies.items())
        return f"images of {self.sha[:12]} copied by digest ({parts})"


ClientFor = Callable[[str], RegistryClient]


def copy_release(
    release: PastRelease,
    *,
    source_env: str,
    target_prefix: str,
    client_for: ClientFor,
    emit: EventSink = discard,
) -> PromotedImages:
    """Copy every app image of ``release`` to ``<target_prefix>/<app>`` by digest, tagged with the SHA.

    ``client_for(host)`` gives the registry client of a host (the same client for both sides on
    one host, so a mount can be asked for). ImageMissing (before anything is copied) when the
    source repository lacks one of the release's images.
    """
    from sreplat.tools.images.copy import ImageMissing

    missing = [app for app in APPS if app not in release.images.images]
    if missing:
        raise OperationFailed(
            f"{source_env}'s release {release.sha[:12]} records no {', '.join(missing)} image"
        )
    sources = {app: ImageRef.of(release.images.images[app].repository, release.sha) for app in APPS}
    clients: dict[str, RegistryClient] = {}

    def client(host: str) -> RegistryClient:
        if host not in clients:
            clients[host] = client_for(host)
        return clients[host]

    try:
        for app, source in sources.items():
            digest = release.images.images[app].digest
            if client(source.host).digest_of(source.path, digest) != digest:
                raise ImageMissing(
                    f"{source_env}'s {app} image {source.repository}@{digest} is not in its repository "
                    "(deleted by a cleanup policy?): nothing was copied",
                    hint=f"redeploy {release.sha[:12]} to {source_env} (it rebuilds), then promote",
                )
        images: dict[str, BuiltImage] = {}
        copies: dict[str, CopyResult] = {}
        for app, source in sources.items():
            digest = release.images.images[app].digest
            target = ImageRef.of(f"{target_prefix.rstrip('/')}/{app}", release.sha)
            copies[app] = copy_image(
                client(source.host),
                source.path,
                digest,
                client(target.host),
                target.path,
                tag=release.sha,
                emit=emit,
            )
            images[app] = BuiltImage(app, target.repository, release.sha, digest, built=False)
    finally:
        for opened in clients.values():
            opened.close()
    return PromotedImages(BuiltImages(release.sha, images, release.images.inputs), copies)
