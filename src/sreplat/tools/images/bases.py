"""The upstream images sreplat builds on or runs, pinned by digest in one file: ``base-images.json``.

::

    {
      "resolved_at": "2026-12-03T08:00:00Z",
      "images": {
        "builder": {"ref": "docker.io/library/debian:12-slim", "digest": "sha256:…",
                    "build_arg": "BUILDER_IMAGE"},
        "runtime": {"ref": "gcr.io/distroless/python3-debian12:latest", "digest": "sha256:…",
                    "build_arg": "BASE_IMAGE"},
        "redis":   {"ref": "docker.io/library/redis:7.4-alpine", "digest": "sha256:…"}
      }
    }

``ref`` is what to follow (a tag), ``digest`` what is used. Images with a ``build_arg`` are the
Dockerfile's bases: the build passes ``<ref>@<digest>`` through that existing build argument, so
a moving tag never changes what is built. The others are run as they are (Redis, mirrored into
each environment's registry by digest). ``refresh`` asks each image's registry what its tag
names today and rewrites the file (``make base-digests``); the change is then a reviewed commit.
The pipeline reads the file *as committed at the SHA it builds*, so a build is reproducible.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sreplat.errors import UsageError
from sreplat.tools.images.registry import ImageRef, RegistryClient

BASES_FILE = "base-images.json"
REFRESH_COMMAND = "make base-digests"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_BUILD_ARG = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class PinnedImage:
    name: str
    ref: str  # host/path:tag, the tag refresh follows
    digest: str
    build_arg: str | None = None

    @property
    def image(self) -> ImageRef:
        return ImageRef.parse(self.ref)

    @property
    def pinned(self) -> str:
        """``host/path:tag@sha256:…``: what the build and the cluster use (the tag is a comment)."""
        return f"{self.ref}@{self.digest}"


@dataclass(frozen=True)
class BasePins:
    images: Mapping[str, PinnedImage]
    resolved_at: str | None = None

    def build_args(self) -> dict[str, str]:
        return {i.build_arg: i.pinned for i in self.images.values() if i.build_arg}

    def get(self, name: str, where: str) -> PinnedImage:
        try:
            return self.images[name]
        except KeyError:
            raise UsageError(
                f"{where} pins no {name!r} image", hint=f"add it and run `{REFRESH_COMMAND}`"
            ) from None

    def to_json(self) -> dict[str, Any]:
        images: dict[str, Any] = {}
        for name, image in self.images.items():
            images[name] = {"ref": image.ref, "digest": image.digest}
            if image.build_arg:
                images[name]["build_arg"] = image.build_arg
        return {"resolved_at": self.resolved_at, "images": images}


def parse(text: str | bytes, where: str) -> BasePins:
    """The pins in ``text``; UsageError naming ``where`` and what is wrong."""
    try:
        data = json.loads(text)
        entries = data["images"]
        images = {
            str(name): PinnedImage(
                name=str(name),
                ref=str(entry["ref"]),
                digest=str(entry["digest"]),
                build_arg=str(entry["build_arg"]) if entry.get("build_arg") else None,
            )
            for name, entry in entries.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{where} is not a base-image pin file: {exc}", hint=f"see `{REFRESH_COMMAND}`"
        ) from None
    for image in images.values():
        image.image  # noqa: B018  (UsageError for a reference without host or tag)
        if not _DIGEST.match(image.digest):
            raise UsageError(
                f"{where}: {image.name} has digest {image.digest!r}, not sha256:<64 hex>",
                hint=f"run `{REFRESH_COMMAND}`",
            )
        if image.build_arg is not None and not _BUILD_ARG.match(image.build_arg):
            raise UsageError(f"{where}: {image.name} has an invalid build_arg {image.build_arg!r}")
    return BasePins(images, data.get("resolved_at"))


def load_file(path: Path) -> BasePins:
    try:
        return parse(path.read_bytes(), str(path))
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist", hint=f"run `{REFRESH_COMMAND}`") from None


def write_file(path: Path, pins: BasePins) -> None:
    """Atomically, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(pins.to_json(), handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


ClientFor = Callable[[str], RegistryClient]


def refresh(path: Path, *, client_for: ClientFor | None = None) -> dict[str, tuple[str, str]]:
    """Ask each image's registry for the digest its tag names now; rewrite ``path``.

    Returns ``{name: (old digest, new digest)}`` for the images that changed. ``client_for``
    gives the registry client of a host (anonymous by default: public images).
    """
    pins = load_file(path)
    make: ClientFor = client_for or RegistryClient
    changed: dict[str, tuple[str, str]] = {}
    images: dict[str, PinnedImage] = {}
    for name, image in pins.images.items():
        ref = image.image
        with make(ref.host) as client:
            digest = client.manifest_digest(ref)
        if digest is None:
            raise UsageError(f"{image.ref} ({name} in {path}) does not exist in its registry")
        if digest != image.digest:
            changed[name] = (image.digest, digest)
        images[name] = PinnedImage(name, image.ref, digest, image.build_arg)
    write_file(path, BasePins(images, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    return changed
