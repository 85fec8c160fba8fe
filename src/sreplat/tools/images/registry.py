"""A small client for the Docker Registry HTTP API v2: does this tag exist, and what is its digest;
and one write: put an image that is already there under one more tag (``add_tag``: the manifest is
fetched by digest and put again under the new tag, byte for byte, so the digest is unchanged —
the distribution spec's "pushing manifests"; no layer moves).

Auth follows the registry's own challenge: anonymous first; on ``401`` with ``Basic`` the
credentials go straight in; with ``Bearer realm=…,service=…,scope=…`` they buy a token at the
realm first (what Artifact Registry does). For Artifact Registry the credentials are
``oauth2accesstoken`` and a short-lived access token from google-auth, held in memory only: no key
file or docker config is ever written.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sreplat.errors import OperationFailed, UsageError

if TYPE_CHECKING:
    import httpx

# Ask for every manifest kind a build can produce, so the registry answers with the digest of the
# manifest as pushed rather than converting it (which would change the digest).
MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)
ARTIFACT_REGISTRY_USER = "oauth2accesstoken"
DEFAULT_TIMEOUT_S = 15.0

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PATH_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_CHALLENGE_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class ImageRef:
    """``host[:port]/path:tag``: where an image lives and which tag names it."""

    host: str
    path: str
    tag: str

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        name, sep, tag = ref.rpartition(":")
        if not sep or "/" in tag:
            raise UsageError(f"image reference {ref!r} has no tag", hint="write it as host/path:tag")
        return cls.of(name, tag)

    @classmethod
    def of(cls, repository: str, tag: str) -> ImageRef:
        """From ``host[:port]/path`` (as in a registry prefix + app name) and a tag."""
        host, sep, path = repository.partition("/")
        if not sep or not ("." in host or ":" in host or host == "localhost"):
            raise UsageError(
                f"image repository {repository!r} does not start with a registry host",
                hint="e.g. europe-west1-docker.pkg.dev/PROJECT/REPO/api or 127.0.0.1:5000/sreplat/api",
            )
        if not _PATH_RE.match(path):
            raise UsageError(f"image repository path {path!r} is not a valid registry path")
        if not _TAG_RE.match(tag):
            raise UsageError(f"image tag {tag!r} is not a valid tag")
        return cls(host=host, path=path, tag=tag)

    @property
    def repository(self) -> str:
        return f"{self.host}/{self.path}"

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class RegistryCredentials:
    """Artifact Registry's: the user ``oauth2accesstoken`` and, as the password, an access token of
    google-auth credentials (refreshed when it has expired)."""

    _google: Any = field(repr=False)  # google-auth Credentials
    username: str = ARTIFACT_REGISTRY_USER

    @classmethod
    def from_google(cls, credentials: Any) -> RegistryCredentials:
        return cls(credentials)

    def password(self) -> str:
        if not self._google.valid:
            import google.auth.exceptions
            import google.auth.transport.requests

            try:
                self._google.refresh(google.auth.transport.requests.Request())
            except google.auth.exceptions.GoogleAuthError as exc:
                raise OperationFailed(
                    "could not get an access token for the image registry",
                    hint="check `gcloud auth application-default print-access-token`",
                    detail=str(exc),
                ) from exc
        return str(self._google.token)

    def docker_auth_config(self) -> dict[str, str]:
        """The ``auth_config`` the Docker engine API takes for a push (sent in a header, never stored)."""
        return {"username": self.username, "password": self.password()}


def registry_url(host: str) -> str:
    """Loopback registries speak plain HTTP (as the Docker engine assumes); everything else HTTPS."""
    bare = host.partition("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
    loopback = bare in ("localhost", "[::1]") or bare.startswith("127.")
    return f"{'http' if loopback else 'https'}://{host}"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → (``bearer``, {realm, service, …})."""
    scheme, _, params = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM_RE.findall(params))


class RegistryClient:
    """Reads manifests from one registry host. Thread-safe enough for one call per thread."""

    def __init__(
        self,
        host: str,
        *,
        credentials: RegistryCredentials | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        base_url: str | None = None,
    ):
        self.host = host
        self.base_url = base_url or registry_url(host)
        self.credentials = credentials
        self.timeout_s = timeout_s

    def manifest_digest(self, image: ImageRef) -> str | None:
        """The digest the registry holds for ``image``'s tag, or None when the tag does not exist."""
        import httpx

        url = f"{self.base_url}/v2/{image.path}/manifests/{image.tag}"
        headers = {"Accept": MANIFEST_ACCEPT}
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=True) as http:
                response = http.head(url, headers=headers)
                if response.status_code == 401:
                    auth = self._authorization(http, response, image)
                    response = http.head(url, headers={**headers, "Authorization": auth})
                if response.status_code == 200 and not response.headers.get("Docker-Content-Digest"):
                    # Some registries omit the header on HEAD: the digest is the body's sha256.
                    response = http.get(url, headers={**headers, **_auth_header(response.request)})
                    if response.status_code == 200:
                        return "sha256:" + hashlib.sha256(response.content).hexdigest()
        except httpx.TransportError as exc:
            raise OperationFailed(
                f"image registry {self.host} is unreachable: {exc}",
                hint="check the registry address and the network; nothing was built or recorded",
            ) from exc
        if response.status_code == 200:
            return str(response.headers["Docker-Content-Digest"])
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise OperationFailed(
                f"image registry {self.host} refused access to {image.path} (HTTP {response.status_code})",
                hint="check the credentials and that they may read the repository",
            )
        raise OperationFailed(
            f"image registry {self.host} answered HTTP {response.status_code} for {image}",
            detail=response.text[:500],
        )

    def add_tag(self, image: ImageRef, digest: str, tag: str) -> bool:
        """Tag the manifest ``digest`` of ``image``'s repository as ``tag`` too; False when ``tag``
        already names that digest. A tag that names another image is an error (tags are never
        moved: Artifact Registry's immutable tags would refuse it anyway)."""
        import httpx

        target = ImageRef.of(image.repository, tag)
        current = self.manifest_digest(target)
        if current == digest:
            return False
        if current is not None:
            raise OperationFailed(
                f"{target} already names another image ({current[:19]}…), not {digest[:19]}…",
                hint="tags are never moved; check which release recorded it",
            )
        source = f"{self.base_url}/v2/{image.path}/manifests/{digest}"
        destination = f"{self.base_url}/v2/{image.path}/manifests/{tag}"
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=True) as http:
                response = http.get(source, headers={"Accept": MANIFEST_ACCEPT})
                if response.status_code == 401:
                    auth = {"Authorization": self._authorization(http, response, image, push=True)}
                    response = http.get(source, headers={"Accept": MANIFEST_ACCEPT, **auth})
                else:
                    auth = {}
                if response.status_code != 200:
                    raise OperationFailed(
                        f"image registry {self.host} has no manifest {digest} in {image.path} "
                        f"(HTTP {response.status_code})",
                        detail=response.text[:500],
                    )
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
                put = http.put(
                    destination, content=response.content, headers={"Content-Type": content_type, **auth}
                )
                if put.status_code == 401 and not auth:
                    auth = {"Authorization": self._authorization(http, put, image, push=True)}
                    put = http.put(
                        destination, content=response.content, headers={"Content-Type": content_type, **auth}
                    )
        except httpx.TransportError as exc:
            raise OperationFailed(f"image registry {self.host} is unreachable: {exc}") from exc
        if put.status_code not in (200, 201):
            raise OperationFailed(
                f"image registry {self.host} refused to tag {target} (HTTP {put.status_code})",
                hint="the credentials need write access to the repository (Artifact Registry Writer)",
                detail=put.text[:500],
            )
        written = put.headers.get("Docker-Content-Digest", digest)
        if written != digest:
            raise OperationFailed(f"tagging {target} stored {written}, not {digest}")
        return True

    def _authorization(
        self, http: httpx.Client, challenge: httpx.Response, image: ImageRef, *, push: bool = False
    ) -> str:
        scheme, params = parse_challenge(challenge.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if self.credentials is None:
                raise OperationFailed(
                    f"image registry {self.host} needs credentials and none were given",
                    hint="configure registry credentials for this environment",
                )
            return _basic(self.credentials)
        if scheme != "bearer" or "realm" not in params:
            raise OperationFailed(f"image registry {self.host} asked for unsupported auth {scheme!r}")
        query = {"service": params.get("service", self.host)}
        wanted = f"repository:{image.path}:pull,push" if push else f"repository:{image.path}:pull"
        query["scope"] = wanted if push else params.get("scope", wanted)
        headers = {"Authorization": _basic(self.credentials)} if self.credentials else {}
        response = http.get(params["realm"], params=query, headers=headers)
        if response.status_code != 200:
            raise OperationFailed(
                f"image registry {self.host} refused a token (HTTP {response.status_code})",
                hint="check the credentials and that they may read the repository",
            )
        body: Mapping[str, Any] = response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise OperationFailed(f"image registry {self.host} token endpoint returned no token")
        return f"Bearer {token}"


def _basic(credentials: RegistryCredentials) -> str:
    import base64

    pair = f"{credentials.username}:{credentials.password()}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _auth_header(request: httpx.Request) -> dict[str, str]:
    value = request.headers.get("Authorization")
    return {"Authorization": value} if value else {}
