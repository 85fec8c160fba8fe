"""Artifact Registry double: the v1 API subset (repositories get, packages.tags get,
dockerImages list/get) and the Docker Registry v2 manifest GET/HEAD on the same port, so both a
`google-cloud-artifact-registry` client and a registry HTTP client can ask "does this tag exist,
and what is its digest".

With ``require_token`` set, the v1 API wants ``Bearer <token>`` and the v2 API does what
Artifact Registry does: a ``401`` with a ``Bearer realm=...`` challenge, and a token endpoint that
swaps Basic ``oauth2accesstoken:<token>`` for a registry token.

With ``upstream`` (the URL of a real registry, Debian's ``docker-registry``), the double is
Artifact Registry's front only: after the token check, every Docker Registry v2 request (manifests,
blobs, uploads, cross-repository mounts) goes to that registry, whose storage holds the images;
``push`` pushes a real (layerless) image there. Manifests pushed through the front are also
listed by the v1 API. Without it, images are small manifests held in memory.

Manifests can be put under a tag (v2 ``PUT .../manifests/<tag>``; in memory, or through to
``upstream``) with the repository's immutable tags (``dockerConfig.immutableTags``, which the
foundation stack turns on): a new tag is always allowed, the same manifest under the same tag
changes nothing, and a tag that names another image cannot be moved (400), whichever way the
manifest is held. ``immutable_tags = False`` lets tags move, as a mutable repository does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from tests.doubles.base import DoubleServer, Request, Response, rfc3339

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class StoredImage:
    manifest: bytes
    tags: set[str] = field(default_factory=set)
    uploaded: str = field(default_factory=rfc3339)

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()


class ArtifactRegistryDouble(DoubleServer):
    name = "artifact-registry-double"

    def __init__(
        self, *, host: str = "asia-south1-docker.pkg.dev", upstream: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.registry_host = host  # the host part of image URIs, as the real API reports them
        self.upstream = upstream.rstrip("/") if upstream else None
        self.repositories: set[tuple[str, str, str]] = set()
        # (project, location, repository, image) → digest → StoredImage
        self.images: dict[tuple[str, str, str, str], dict[str, StoredImage]] = {}
        repo = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/repositories/(?P<repo>[^/]+)"
        self.route("GET", repo, self._get_repository)
        self.route("GET", repo + r"/packages/(?P<package>[^/]+)/tags/(?P<tag>[^/]+)", self._get_tag)
        self.route("GET", repo + r"/dockerImages", self._list_images)
        self.route("GET", repo + r"/dockerImages/(?P<image>[^/]+)", self._get_image)
        self.registry_tokens: set[str] = set()
        self.route("GET", r"/v2/?", self._ping)
        self.route("GET", r"/v2/token", self._token)
        manifests = r"/v2/(?P<project>[^/]+)/(?P<repo>[^/]+)/(?P<image>.+)/manifests/(?P<ref>[^/]+)"
        self.route("GET", manifests, self._manifest)
        self.route("HEAD", manifests, self._manifest)
        self.route("PUT", manifests, self._put_manifest)
        blobs = r"/v2/(?P<project>[^/]+)/(?P<repo>[^/]+)/(?P<image>.+)/blobs/.+"
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH"):
            self.route(method, blobs, self._forward)
        self.immutable_tags = True

    # --- seeding ------------------------------------------------------------------------------
    def add_repository(self, project: str, location: str, repository: str) -> None:
        with self.lock:
            self.repositories.add((project, location, repository))

    def push(self, project: str, location: str, repository: str, image: str, tag: str) -> str:
        """Store an image (a small unique manifest) under ``tag``; return its digest."""
        if self.upstream is not None:
            return self._push_upstream(project, location, repository, image, tag)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA_TYPE,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": "sha256:" + "0" * 64,
                },
                "layers": [],
                "annotations": {"org.opencontainers.image.revision": tag, "image": image},
            },
            sort_keys=True,
        ).encode()
        stored = StoredImage(manifest)
        with self.lock:
            self.repositories.add((project, location, repository))
            by_digest = self.images.setdefault((project, location, repository, image), {})
            for other in by_digest.values():  # tags move: a tag names one image at a time
                other.tags.discard(tag)
            stored = by_digest.setdefault(stored.digest, stored)
            stored.tags.add(tag)
        return stored.digest

    def _push_upstream(self, project: str, location: str, repository: str, image: str, tag: str) -> str:
        from tests.doubles.cloudbuild import push_minimal_image

        assert self.upstream is not None
        host = self.upstream.removeprefix("http://")
        labels = [f"org.opencontainers.image.revision={tag}", f"image={image}"]
        digest = push_minimal_image(f"{host}/{project}/{repository}/{image}:{tag}", labels=labels)
        with httpx.Client(timeout=10) as http:
            got = http.get(
                f"{self.upstream}/v2/{project}/{repository}/{image}/manifests/{digest}",
                headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            )
        self._remember(project, location, repository, image, got.content, tag)
        return digest

    def _remember(
        self, project: str, location: str, repository: str, image: str, manifest: bytes, tag: str | None
    ) -> StoredImage:
        stored = StoredImage(manifest)
        with self.lock:
            self.repositories.add((project, location, repository))
            by_digest = self.images.setdefault((project, location, repository, image), {})
            stored = by_digest.setdefault(stored.digest, stored)
            if tag is not None:
                for other in by_digest.values():
                    other.tags.discard(tag)
                stored.tags.add(tag)
        return stored

    def delete_images(self) -> Callable[[], None]:
        """Delete every image (as a cleanup policy would); return what puts them back."""
        with self.lock:
            saved = {key: dict(by_digest) for key, by_digest in self.images.items()}
            self.images.clear()
        if self.upstream is not None:
            with httpx.Client(base_url=self.upstream, timeout=10) as http:
                for (project, _location, repository, image), by_digest in saved.items():
                    for digest in by_digest:
                        http.delete(f"/v2/{project}/{repository}/{image}/manifests/{digest}")

        def restore() -> None:
            if self.upstream is not None:
                with httpx.Client(base_url=self.upstream, timeout=10) as http:
                    for (project, _location, repository, image), by_digest in saved.items():
                        for stored in by_digest.values():
                            media = json.loads(stored.manifest).get("mediaType", MANIFEST_MEDIA_TYPE)
                            for ref in (stored.digest, *stored.tags):
                                http.put(
                                    f"/v2/{project}/{repository}/{image}/manifests/{ref}",
                                    content=stored.manifest,
                                    headers={"Content-Type": media},
                                ).raise_for_status()
            with self.lock:
                self.images.update(saved)

        return restore

    # --- v1 API -------------------------------------------------------------------------------
    def _repo_key(self, req: Request) -> tuple[str, str, str] | Response:
        key = (req.match["project"], req.match["location"], req.match["repo"])
        if key not in self.repositories:
            return self.error(404, f"Requested entity was not found: repository {key[2]!r}.", "notFound")
        return key

    def _image_resource(self, key: tuple[str, str, str, str], stored: StoredImage) -> dict[str, Any]:
        project, location, repository, image = key
        return {
            "name": f"projects/{project}/locations/{location}/repositories/{repository}/dockerImages/"
            f"{quote(image, safe='')}@{stored.digest}",
            "uri": f"{self.registry_host}/{project}/{repository}/{image}@{stored.digest}",
            "tags": sorted(stored.tags),
            "imageSizeBytes": str(len(stored.manifest)),
            "uploadTime": stored.uploaded,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "updateTime": stored.uploaded,
        }

    def _get_repository(self, req: Request) -> Response:
        key = self._repo_key(req)
        if isinstance(key, Response):
            return key
        project, location, repository = key
        return Response(
            body={
                "name": f"projects/{project}/locations/{location}/repositories/{repository}",
                "format": "DOCKER",
                "mode": "STANDARD_REPOSITORY",
                "dockerConfig": {"immutableTags": True},
            }
        )

    def _get_tag(self, req: Request) -> Response:
        key = self._repo_key(req)
        if isinstance(key, Response):
            return key
        image, tag = req.match["package"], req.match["tag"]
        for digest, stored in self.images.get((*key, image), {}).items():
            if tag in stored.tags:
                repo = f"projects/{key[0]}/locations/{key[1]}/repositories/{key[2]}"
                package = f"{repo}/packages/{quote(image, safe='')}"
                return Response(
                    body={"name": f"{package}/tags/{tag}", "version": f"{package}/versions/{digest}"}
                )
        return self.error(404, f"Requested entity was not found: tag {tag!r} of {image!r}.", "notFound")

    def _list_images(self, req: Request) -> Response:
        key = self._repo_key(req)
        if isinstance(key, Response):
            return key
        items = [
            self._image_resource(image_key, stored)
            for image_key, by_digest in sorted(self.images.items())
            if image_key[:3] == key
            for stored in by_digest.values()
        ]
        # Page through results as the real API does, so clients must follow nextPageToken.
        size = int(req.param("pageSize") or 2)
        start = int(req.param("pageToken") or 0)
        body: dict[str, Any] = {"dockerImages": items[start : start + size]}
        if start + size < len(items):
            body["nextPageToken"] = str(start + size)
        return Response(body=body)

    def _get_image(self, req: Request) -> Response:
        key = self._repo_key(req)
        if isinstance(key, Response):
            return key
        image, _, digest = req.match["image"].partition("@")
        stored = self.images.get((*key, image), {}).get(digest)
        if stored is None:
            return self.error(404, f"Requested entity was not found: {req.match['image']}.", "notFound")
        return Response(body=self._image_resource((*key, image), stored))

    # --- Docker Registry v2 -------------------------------------------------------------------
    def check_auth(self, request: Request) -> Response | None:
        if not request.path.startswith("/v2"):
            return super().check_auth(request)
        if self.require_token is None or request.path == "/v2/token":
            return None
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in self.registry_tokens:
            return None
        challenge = f'Bearer realm="{self.url}/v2/token",service="{self.registry_host}"'
        parts = re.split(r"/(?:manifests|blobs)/", request.path)[0].removeprefix("/v2/")
        if parts != request.path.removeprefix("/v2/"):
            actions = "pull" if request.method in ("GET", "HEAD") else "pull,push"
            challenge += f',scope="repository:{parts}:{actions}"'
        return Response(
            401,
            {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
            headers={"WWW-Authenticate": challenge},
        )

    def _token(self, req: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"oauth2accesstoken:{self.require_token}".encode()).decode()
        if req.headers.get("authorization") != expected:
            return Response(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
        token = secrets.token_hex(8)
        self.registry_tokens.add(token)
        return Response(body={"token": token, "access_token": token, "expires_in": 3600})

    def _ping(self, req: Request) -> Response:
        return Response(body={}, headers={"Docker-Distribution-API-Version": "registry/2.0"})

    def _forward(self, req: Request) -> Response:
        """Pass a v2 request to the real registry; its upload locations come back through here."""
        if self.upstream is None:
            return self.error(
                501, "this double keeps images in memory: start it with upstream=", "unsupported"
            )
        query = "&".join(f"{k}={quote(v, safe='')}" for k, values in req.query.items() for v in values)
        headers = {k: v for k, v in req.headers.items() if k in ("accept", "content-type")}
        with httpx.Client(timeout=60) as http:
            answer = http.request(
                req.method,
                f"{self.upstream}{req.path}" + (f"?{query}" if query else ""),
                headers=headers,
                content=req.body or None,
            )
        kept = {
            k: v.replace(self.upstream, self.url)
            for k, v in answer.headers.items()
            if k.lower() in ("location", "docker-content-digest", "docker-upload-uuid", "range")
        }
        return Response(
            answer.status_code,
            answer.content if req.method != "HEAD" else None,
            headers=kept,
            content_type=answer.headers.get("content-type", "application/octet-stream"),
        )

    def _put_manifest(self, req: Request) -> Response:
        project, repository, image, ref = (req.match[k] for k in ("project", "repo", "image", "ref"))
        stored = StoredImage(req.body)
        if ref.startswith("sha256:") and ref != stored.digest:
            return Response(400, {"errors": [{"code": "DIGEST_INVALID", "message": "digest does not match"}]})
        repo = next((r for r in self.repositories if (r[0], r[2]) == (project, repository)), None)
        if repo is None:
            return Response(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "repository not found"}]})
        by_digest = self.images.setdefault((*repo, image), {})
        holder = next((d for d, s in by_digest.items() if ref in s.tags), None)
        if holder is not None and holder != stored.digest and self.immutable_tags:
            return Response(
                400,
                {
                    "errors": [
                        {
                            "code": "TAG_INVALID",
                            "message": f"tag {ref} is immutable: it names {holder} and cannot be moved",
                        }
                    ]
                },
            )
        tag = None if ref.startswith("sha256:") else ref
        if self.upstream is not None:
            answer = self._forward(req)
            if answer.status == 201:
                assert answer.headers.get("docker-content-digest", "") == stored.digest
                self._remember(*repo, image, req.body, tag)
            return answer
        self._remember(*repo, image, req.body, tag)
        return Response(201, headers={"Docker-Content-Digest": stored.digest, "Location": req.path})

    def _manifest(self, req: Request) -> Response:
        if self.upstream is not None:
            return self._forward(req)
        project, repository, image, ref = (req.match[k] for k in ("project", "repo", "image", "ref"))
        for (p, _loc, r, i), by_digest in self.images.items():
            if (p, r, i) != (project, repository, image):
                continue
            for digest, stored in by_digest.items():
                if ref == digest or ref in stored.tags:
                    return Response(
                        body=stored.manifest,
                        content_type=MANIFEST_MEDIA_TYPE,
                        headers={"Docker-Content-Digest": digest},
                    )
        return Response(
            404,
            {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": ref}}]},
        )
