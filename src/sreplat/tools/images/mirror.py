"""Mirror an upstream image (Redis, from ``base-images.json``) into an environment's registry by
digest, so no pod pulls from Docker Hub at run time: the cluster pulls ``<prefix>/<name>@<digest>``
from its own Artifact Registry, the same bytes that were pinned.

The copy goes registry to registry (``tools/images/copy.py``: streamed, every platform of a
multi-platform index); the mirror is tagged with the upstream tag so people can read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sreplat.events import EventSink, discard
from sreplat.tools.images.bases import PinnedImage
from sreplat.tools.images.copy import CopyResult, copy_image
from sreplat.tools.images.registry import ImageRef, RegistryClient


@dataclass(frozen=True)
class MirroredImage:
    repository: str  # <registry prefix>/<name>
    tag: str  # the upstream tag, for people
    digest: str  # what the cluster pulls

    @property
    def pinned(self) -> str:
        return f"{self.repository}@{self.digest}"

    def helm_image(self) -> dict[str, Any]:
        """The chart's ``image`` values (a digest wins over the tag: ``repository@digest``)."""
        return {"repository": self.repository, "tag": self.tag, "digest": self.digest}

    def to_json(self) -> dict[str, Any]:
        return {"repository": self.repository, "tag": self.tag, "digest": self.digest}

    @classmethod
    def from_json(cls, data: Any) -> MirroredImage:
        return cls(str(data["repository"]), str(data["tag"]), str(data["digest"]))


def mirrored_as(pin: PinnedImage, registry_prefix: str) -> MirroredImage:
    """Where ``pin`` lives once mirrored under ``registry_prefix`` (nothing is asked)."""
    return MirroredImage(f"{registry_prefix.rstrip('/')}/{pin.name}", pin.image.tag, pin.digest)


def mirror(
    pin: PinnedImage,
    *,
    registry_prefix: str,
    target: RegistryClient,
    upstream: Callable[[str], RegistryClient] = RegistryClient,
    emit: EventSink = discard,
) -> tuple[MirroredImage, CopyResult]:
    """Copy ``pin`` (by digest) to ``<registry_prefix>/<pin.name>``; idempotent.

    ``target`` is the environment registry's client (its credentials); ``upstream`` makes the
    client of the upstream host (anonymous: public images).
    """
    mirrored = mirrored_as(pin, registry_prefix)
    source = pin.image
    destination = ImageRef.of(mirrored.repository, mirrored.tag)
    with upstream(source.host) as client:
        result = copy_image(
            client, source.path, pin.digest, target, destination.path, tag=mirrored.tag, emit=emit
        )
    return mirrored, result
