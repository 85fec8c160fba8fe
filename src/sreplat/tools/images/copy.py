"""Copy an image from one repository to another by digest, through the registry API alone.

Nothing is pulled to this machine or rebuilt, and the digest on the other side is the same: the
manifest's exact bytes are pushed. The steps follow the OCI distribution spec:

- a blob the target already has (``HEAD /v2/<to>/blobs/<digest>`` = 200) is left alone;
- on the same registry, ``POST /v2/<to>/blobs/uploads/?mount=<digest>&from=<from>`` asks for a
  cross-repository mount: ``201 Created`` means mounted (no bytes moved); ``202 Accepted`` means the
  registry did not mount and opened an upload session instead, which the copy then uses (any
  other answer: a plain upload session is opened). Artifact Registry mounts across projects on
  one host (``<region>-docker.pkg.dev``: crane does, google/go-containerregistry#1321);
- otherwise the blob is streamed from the source (``GET``) into a monolithic upload
  (``PUT <location>?digest=<digest>`` with its length), its sha256 checked on the way;
- then the manifest is ``PUT`` by digest (an index: each child manifest first, so the target
  never holds an index whose children are missing), and tagged if asked.

Every step is idempotent, so an interrupted copy run again finishes the job.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sreplat.errors import OperationFailed
from sreplat.events import Event, EventSink, discard
from sreplat.tools.images.registry import MANIFEST_ACCEPT, RegistryClient, pull_scope, push_scope

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
CHUNK = 1 << 16
PARALLEL_BLOBS = 4


class ImageMissing(OperationFailed):
    """The source repository does not hold the manifest (or a blob) the copy needs."""


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def children(self) -> list[str]:
        return [str(m["digest"]) for m in self.document.get("manifests", [])]

    def blobs(self) -> list[tuple[str, int]]:
        """(digest, size) of the config and every layer."""
        doc = self.document
        descriptors = [doc["config"], *doc.get("layers", [])] if "config" in doc else doc.get("layers", [])
        return [(str(d["digest"]), int(d.get("size", 0))) for d in descriptors]


@dataclass
class CopyResult:
    source: str  # repository@digest
    target: str
    digest: str
    already_there: bool = False
    manifests: int = 0
    blobs_present: int = 0
    blobs_mounted: int = 0
    blobs_streamed: int = 0
    bytes_streamed: int = 0
    duration_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, how: str, size: int = 0) -> None:
        with self._lock:
            setattr(self, f"blobs_{how}", getattr(self, f"blobs_{how}") + 1)
            if how == "streamed":
                self.bytes_streamed += size

    def describe(self) -> str:
        if self.already_there:
            return f"{self.target} already there"
        return (
            f"copied {self.source} → {self.target}: {self.manifests} manifest(s); blobs "
            f"{self.blobs_mounted} mounted, {self.blobs_streamed} streamed ({self.bytes_streamed} bytes), "
            f"{self.blobs_present} already there"
        )


def get_manifest(client: RegistryClient, path: str, digest: str) -> Manifest:
    """The manifest ``digest`` of ``path``, byte for byte; ImageMissing when the registry has none."""
    where = f"/v2/{path}/manifests/{digest}"
    response = client.request("GET", where, scope=pull_scope(path), headers={"Accept": MANIFEST_ACCEPT})
    if response.status_code == 404:
        raise ImageMissing(f"{client.host}/{path}@{digest} is not in the registry")
    if response.status_code != 200:
        raise client.refusal(response, f"{path}@{digest}")
    body = response.content
    if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
        raise OperationFailed(f"{client.host}/{path} served a manifest that does not hash to {digest}")
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    media_type = str(json.loads(body).get("mediaType") or media_type)
    return Manifest(digest, media_type, body)


def copy_image(
    source: RegistryClient,
    source_path: str,
    digest: str,
    target: RegistryClient,
    target_path: str,
    *,
    tag: str | None = None,
    emit: EventSink = discard,
) -> CopyResult:
    """Make ``target/target_path@digest`` exist (and ``:tag`` name it); return what moved."""
    started = time.monotonic()
    result = CopyResult(
        source=f"{source.host}/{source_path}@{digest}",
        target=f"{target.host}/{target_path}@{digest}",
        digest=digest,
    )
    if target.digest_of(target_path, digest) == digest:
        result.already_there = True
    else:
        emit(
            Event("image.copy_started", f"copying {result.source} → {result.target}", data={"digest": digest})
        )
        _Copy(source, source_path, target, target_path, result).manifest(digest)
    if tag is not None:
        _tag(target, target_path, tag, digest)
    result.duration_s = round(time.monotonic() - started, 3)
    emit(
        Event(
            "image.copied",
            result.describe(),
            data={
                "source": result.source,
                "target": result.target,
                "tag": tag,
                "already_there": result.already_there,
                "mounted": result.blobs_mounted,
                "streamed": result.blobs_streamed,
                "present": result.blobs_present,
                "bytes": result.bytes_streamed,
                "duration_s": result.duration_s,
            },
        )
    )
    return result


@dataclass(frozen=True)
class _Copy:
    """One copy between two repositories; ``result`` counts what it did."""

    source: RegistryClient
    source_path: str
    target: RegistryClient
    target_path: str
    result: CopyResult

    def manifest(self, digest: str) -> None:
        manifest = get_manifest(self.source, self.source_path, digest)
        if manifest.is_index:
            for child in manifest.children():
                if self.target.digest_of(self.target_path, child) != child:
                    self.manifest(child)
        else:
            self.blobs(manifest.blobs())
        _put_manifest(self.target, self.target_path, digest, manifest)
        self.result.manifests += 1

    def blobs(self, blobs: Sequence[tuple[str, int]]) -> None:
        if not blobs:
            return
        with ThreadPoolExecutor(
            max_workers=min(PARALLEL_BLOBS, len(blobs)), thread_name_prefix="blob"
        ) as pool:
            list(pool.map(lambda blob: self.blob(*blob), blobs))  # list(): re-raise the first failure

    def blob(self, digest: str, size: int) -> None:
        target, to = self.target, self.target_path
        push = push_scope(to)
        if target.request("HEAD", f"/v2/{to}/blobs/{digest}", scope=push).status_code == 200:
            self.result.count("present")
            return
        started = None
        if self.source.base_url == target.base_url:
            started = target.request(
                "POST",
                f"/v2/{to}/blobs/uploads/",
                scope=f"{push} {pull_scope(self.source_path)}",
                params={"mount": digest, "from": self.source_path},
            )
            if started.status_code == 201:
                self.result.count("mounted")
                return
        if started is None or started.status_code != 202:
            # No mount asked, or a registry that answers a mount with neither 201 nor 202 (some
            # refuse one from a repository they cannot read): a plain upload session.
            started = target.request("POST", f"/v2/{to}/blobs/uploads/", scope=push)
        if started.status_code != 202 or "Location" not in started.headers:
            raise target.refusal(started, f"an upload to {to}")
        self.stream(_absolute(target, started.headers["Location"]), digest, size)

    def stream(self, location: str, digest: str, size: int) -> None:
        """Source GET → target PUT, chunk by chunk, hashing on the way."""
        source, where = self.source, f"blob {digest} of {self.source.host}/{self.source_path}"
        hasher = hashlib.sha256()
        moved = 0
        with source.open_blob(self.source_path, digest) as blob:
            if blob.status_code == 404:
                raise ImageMissing(f"{where} is not in the registry")
            if blob.status_code != 200:
                raise source.refusal(blob, where)

            def chunks() -> Iterator[bytes]:
                nonlocal moved
                for chunk in blob.iter_bytes(CHUNK):
                    hasher.update(chunk)
                    moved += len(chunk)
                    yield chunk

            # The session's own query (distribution's _state) stays: httpx's params= would replace it.
            put = self.target.request(
                "PUT",
                f"{location}{'&' if '?' in location else '?'}{urlencode({'digest': digest})}",
                scope=push_scope(self.target_path),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(size or int(blob.headers.get("Content-Length", "0"))),
                },
                content=chunks(),
            )
        if "sha256:" + hasher.hexdigest() != digest:
            raise OperationFailed(f"{where} did not hash to its digest")
        if put.status_code != 201:
            raise self.target.refusal(put, f"blob {digest} pushed to {self.target_path}")
        self.result.count("streamed", moved)


def _put_manifest(target: RegistryClient, path: str, reference: str, manifest: Manifest) -> None:
    response = target.request(
        "PUT",
        f"/v2/{path}/manifests/{reference}",
        scope=push_scope(path),
        headers={"Content-Type": manifest.media_type},
        content=manifest.body,
    )
    if response.status_code not in (200, 201):
        raise target.refusal(response, f"manifest {reference} pushed to {path}")
    pushed = response.headers.get("Docker-Content-Digest")
    if pushed and pushed != manifest.digest:
        raise OperationFailed(f"{target.host}/{path} stored the manifest as {pushed}, not {manifest.digest}")


def _tag(target: RegistryClient, path: str, tag: str, digest: str) -> None:
    current = target.digest_of(path, tag)
    if current == digest:
        return
    if current is not None:
        raise OperationFailed(
            f"{target.host}/{path}:{tag} already names {current}, not {digest}",
            hint="tags are immutable: the target repository holds a different build of this SHA",
        )
    manifest = get_manifest(target, path, digest)
    _put_manifest(target, path, tag, manifest)


def _absolute(client: RegistryClient, location: str) -> str:
    """Upload locations may be relative to the registry (the spec allows both)."""
    return location if location.startswith(("http://", "https://")) else f"{client.base_url}{location}"
