"""Push small but real images to a registry over its HTTP API: blobs, image manifests with
layers, and multi-platform indexes. Layers are real gzipped tarballs, so the images are what a
builder would push, only smaller."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass

import httpx

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(files: dict[str, bytes]) -> bytes:
    """A gzipped tar layer holding ``files`` (deterministic: fixed mtime, no gzip name)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


@dataclass(frozen=True)
class Pushed:
    digest: str
    manifest: bytes
    blobs: tuple[str, ...]  # config + layers
    blob_bytes: int


class RegistryWriter:
    """Anonymous (or basic-auth) pushes to a loopback registry at ``url``."""

    def __init__(self, url: str, *, auth: tuple[str, str] | None = None):
        self.url = url
        self.auth = auth

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, auth=self.auth)

    def blob(self, path: str, data: bytes) -> str:
        digest = digest_of(data)
        with self._client() as http:
            started = http.post(f"/v2/{path}/blobs/uploads/")
            started.raise_for_status()
            location = started.headers["Location"]
            sep = "&" if "?" in location else "?"
            http.put(
                f"{location}{sep}digest={digest}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            ).raise_for_status()
        return digest

    def image(
        self, path: str, tag: str, *, layers: list[bytes], label: str = "", platform: str = "amd64"
    ) -> Pushed:
        config = json.dumps(
            {
                "architecture": platform,
                "os": "linux",
                "config": {"Labels": {"test": label}},
                "rootfs": {"type": "layers", "diff_ids": [digest_of(gzip.decompress(x)) for x in layers]},
            },
            sort_keys=True,
        ).encode()
        config_digest = self.blob(path, config)
        layer_digests = [self.blob(path, x) for x in layers]
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": len(config),
                    "digest": config_digest,
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(x),
                        "digest": d,
                    }
                    for x, d in zip(layers, layer_digests, strict=True)
                ],
            },
            indent=3,  # unusual formatting: a registry that re-serialised would change the digest
        ).encode()
        digest = self.manifest(path, tag, manifest, DOCKER_MANIFEST)
        return Pushed(digest, manifest, (config_digest, *layer_digests), len(config) + sum(map(len, layers)))

    def index(self, path: str, tag: str, children: list[tuple[Pushed, str]]) -> Pushed:
        """An OCI index of ``children`` (each with its architecture)."""
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": DOCKER_MANIFEST,
                        "size": len(child.manifest),
                        "digest": child.digest,
                        "platform": {"architecture": arch, "os": "linux"},
                    }
                    for child, arch in children
                ],
            }
        ).encode()
        digest = self.manifest(path, tag, body, OCI_INDEX)
        blobs = tuple(b for child, _ in children for b in child.blobs)
        return Pushed(digest, body, blobs, sum(child.blob_bytes for child, _ in children))

    def manifest(self, path: str, reference: str, body: bytes, media_type: str) -> str:
        with self._client() as http:
            put = http.put(
                f"/v2/{path}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
            )
            put.raise_for_status()
            return str(put.headers["Docker-Content-Digest"])

    def get_manifest(self, path: str, reference: str) -> httpx.Response:
        accept = f"{DOCKER_MANIFEST}, {OCI_MANIFEST}, {OCI_INDEX}"
        with self._client() as http:
            return http.get(f"/v2/{path}/manifests/{reference}", headers={"Accept": accept})

    def has_blob(self, path: str, digest: str) -> bool:
        with self._client() as http:
            return http.head(f"/v2/{path}/blobs/{digest}").status_code == 200

    def tags(self, path: str) -> list[str]:
        with self._client() as http:
            response = http.get(f"/v2/{path}/tags/list")
            if response.status_code == 404:
                return []
            response.raise_for_status()
            return list(response.json().get("tags") or [])
