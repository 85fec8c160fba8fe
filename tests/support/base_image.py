"""A local Debian base image for building and running the app images without pulling anything.

No image can be pulled on the machines the suite runs on, so the base is made here:
``debootstrap --variant=minbase`` (+ python3, python3-venv) into a folder, packed as a tarball,
``docker import``-ed. The tarball is cached between runs (keyed by its recipe) because making it
takes over a minute; the imported images are kept by the engine under the same key.

Two images come out of one tarball:
- ``builder``: the rootfs plus this machine's CA bundle, so pip inside the builder stage trusts
  the same TLS roots as the host (egress may be intercepted by a proxy with its own CA);
- ``runtime``: the builder image without any shell, standing in for distroless: if the final
  stage or the containers needed ``/bin/sh``, the build or the run fails.

Run directly to (re)make them: ``python -m tests.support.base_image``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
VARIANT = "minbase"
# python3-venv brings ensurepip (and pip's wheel) so the builder stage can make the venv offline.
INCLUDE = ("python3", "python3-venv")
# Bump when the way the rootfs is made changes, so an old cached tarball is not reused.
RECIPE_VERSION = 2
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SHELLS = ("/usr/bin/sh", "/usr/bin/dash", "/usr/bin/bash", "/usr/bin/rbash")


@dataclass(frozen=True)
class BaseImages:
    builder: str
    runtime: str


def recipe_key() -> str:
    recipe = {"suite": SUITE, "variant": VARIANT, "include": INCLUDE, "v": RECIPE_VERSION}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def cache_dir() -> Path:
    """Where the tarball is kept: ``$SREPLAT_TEST_CACHE``, /var/cache/sreplat as root, else .cache/."""
    override = os.environ.get("SREPLAT_TEST_CACHE")
    if override:
        return Path(override)
    if os.geteuid() == 0:
        return Path("/var/cache/sreplat")
    return Path(__file__).resolve().parents[2] / ".cache" / "sreplat"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Two test sessions (or a benchmark and a test run) must not debootstrap at the same time.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Package lists, caches, docs and translations: half the rootfs, none of it used by the images.
# A smaller base is what makes pushes (the engine gzips every layer) take seconds, not tens.
SLIM_GLOBS = (
    "var/lib/apt/lists/*",
    "var/cache/apt/*",
    "var/cache/debconf/*-old",
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
)


def _slim(root: Path) -> None:
    for pattern in SLIM_GLOBS:
        for entry in root.glob(pattern):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def rootfs_tarball() -> Path:
    """The cached minbase rootfs tarball, made with debootstrap when missing."""
    directory = cache_dir()
    tarball = directory / f"debian-{SUITE}-{VARIANT}-py3-{recipe_key()}.tar"
    with _locked(directory / ".base-image.lock"):
        if tarball.exists():
            return tarball
        debootstrap = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
        if debootstrap is None:
            raise RuntimeError("debootstrap not found: run `make test` (installs it via apt as root)")
        if os.geteuid() != 0:
            raise RuntimeError("making the base image needs root (debootstrap)")
        with tempfile.TemporaryDirectory(prefix="sreplat-rootfs-", dir=directory) as work:
            root = Path(work) / "rootfs"
            started = time.monotonic()
            subprocess.run(
                [
                    debootstrap,
                    f"--variant={VARIANT}",
                    f"--include={','.join(INCLUDE)}",
                    SUITE,
                    str(root),
                    MIRROR,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            _slim(root)
            partial = Path(work) / "rootfs.tar"
            subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True)
            partial.replace(tarball)
            for stale in directory.glob(f"debian-{SUITE}-{VARIANT}-py3-*.tar"):
                if stale != tarball:  # made by an older recipe: never used again
                    stale.unlink()
            print(f"debootstrap base made in {time.monotonic() - started:.0f}s: {tarball}", file=sys.stderr)
    return tarball


def _image_exists(client: object, ref: str) -> bool:
    import docker.errors

    try:
        client.images.get(ref)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        return False
    return True


def _build_from(client: object, dockerfile: str, files: dict[str, bytes], tag: str) -> None:
    """Build a tiny image from an in-memory context (Dockerfile + files)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in {"Dockerfile": dockerfile.encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    api = client.api  # type: ignore[attr-defined]
    for chunk in api.build(fileobj=buffer, custom_context=True, tag=tag, rm=True, decode=True):
        if "error" in chunk:
            raise RuntimeError(f"building {tag} failed: {chunk['error']}")


def ensure_base_images() -> BaseImages:
    """Return the builder and runtime base image refs, making whatever is missing."""
    import docker

    client = docker.from_env(timeout=600)
    key = recipe_key()
    # The CA bundle is the host's and may change; it is part of the image tag, not of the tarball.
    ca = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.exists() else b""
    ca_key = hashlib.sha256(ca).hexdigest()[:8]
    rootfs = f"sreplat-test-rootfs:{key}"
    builder = f"sreplat-test-base:{key}-{ca_key}"
    runtime = f"sreplat-test-runtime:{key}-{ca_key}"
    with _locked(cache_dir() / ".base-image-import.lock"):
        if not _image_exists(client, rootfs):
            client.api.import_image(src=str(rootfs_tarball()), repository="sreplat-test-rootfs", tag=key)
        if not _image_exists(client, builder):
            _build_from(
                client,
                f"FROM {rootfs}\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n"
                'CMD ["/usr/bin/python3"]\n',
                {"ca-certificates.crt": ca},
                builder,
            )
        if not _image_exists(client, runtime):
            # Exec form: the shell is what is being removed.
            _build_from(
                client,
                f'FROM {builder}\nRUN ["/usr/bin/rm", "-f", {", ".join(map(json.dumps, SHELLS))}]\n',
                {},
                runtime,
            )
    return BaseImages(builder=builder, runtime=runtime)


def fresh_copy(image: str, run_id: str) -> str:
    """``image`` under a new image id (one more label, no new layer): nothing in the layer cache
    was built on it, so a build from it is cold, while the cache still works within that build.
    """
    import docker

    client = docker.from_env(timeout=600)
    repository = image.rpartition(":")[0]
    tag = f"{repository}:cold-{run_id}"
    _build_from(client, f'FROM {image}\nLABEL sreplat.bench.run="{run_id}"\n', {}, tag)
    return tag


if __name__ == "__main__":
    images = ensure_base_images()
    print(json.dumps({"builder": images.builder, "runtime": images.runtime}))
