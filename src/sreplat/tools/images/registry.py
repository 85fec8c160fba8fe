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

import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator, Mapping
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


# Docker Hub's image names say ``docker.io``; its registry API answers elsewhere.
_API_HOSTS = {"docker.io": "registry-1.docker.io", "index.docker.io": "registry-1.docker.io"}


def registry_url(host: str) -> str:
    """Loopback registries speak plain HTTP (as the Docker engine assumes); everything else HTTPS."""
    bare = host.partition("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
    loopback = bare in ("localhost", "[::1]") or bare.startswith("127.")
    return f"{'http' if loopback else 'https'}://{_API_HOSTS.get(host, host)}"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → (``bearer``, {realm, service, …})."""
    scheme, _, params = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM_RE.findall(params))


def pull_scope(path: str) -> str:
    return f"repository:{path}:pull"


def push_scope(path: str) -> str:
    return f"repository:{path}:pull,push"


class RegistryClient:
    """One registry host through the Docker Registry HTTP API v2 (the OCI distribution spec).

    ``request`` answers the registry's auth challenge and keeps what it bought per scope, so the
    requests of one copy share a token. Thread-safe: one connection pool, tokens under a lock.
    """

    def __init__(
        self,
        host: str,
        *,
        credentials: RegistryCredentials | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        base_url: str | None = None,
    ):
        self.host = host
        self.base_url = (base_url or registry_url(host)).rstrip("/")
        self.credentials = credentials
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._auth: dict[str, str] = {}  # scope → Authorization header value

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _http(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                # Blob GETs redirect to storage (Docker Hub, Artifact Registry); httpx drops the
                # Authorization header when a redirect leaves the registry's origin.
                self._client = httpx.Client(timeout=self.timeout_s, follow_redirects=True)
            return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
    ) -> httpx.Response:
        """``method`` on ``/v2/...`` ``path`` (or an absolute upload URL), authorised for ``scope``.

        A 401 is answered once (with a token for the challenge's scope and ``scope``) and the request
        sent again, unless its body was a stream (already consumed: the caller authorises the
        scope first). The response is returned whatever its status. Unreachable: OperationFailed.
        """
        import httpx

        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        sent = dict(headers or {})
        try:
            with self._lock:
                cached = self._auth.get(scope)
            if cached:
                sent["Authorization"] = cached
            response = self._http().request(method, url, headers=sent, params=params, content=content)
            if response.status_code == 401 and not isinstance(content, Iterator):
                auth = self._authorization(response, scope)
                with self._lock:
                    self._auth[scope] = auth
                response = self._http().request(
                    method, url, headers={**sent, "Authorization": auth}, params=params, content=content
                )
        except httpx.TransportError as exc:
            raise OperationFailed(
                f"image registry {self.host} is unreachable: {exc}",
                hint="check the registry address and the network; nothing was built or recorded",
            ) from exc
        return response

    @contextlib.contextmanager
    def open_blob(self, path: str, digest: str) -> Iterator[httpx.Response]:
        """The blob's bytes as a streamed response (check ``status_code``; read ``iter_bytes``)."""
        scope = pull_scope(path)
        where = f"/v2/{path}/blobs/{digest}"
        self.request("HEAD", where, scope=scope)  # buys the token the stream then carries
        auth = self.authorization(scope)
        headers = {"Authorization": auth} if auth else {}
        with self._http().stream("GET", f"{self.base_url}{where}", headers=headers) as response:
            yield response

    def authorization(self, scope: str) -> str | None:
        """The Authorization value bought for ``scope`` so far (for requests made elsewhere)."""
        with self._lock:
            return self._auth.get(scope)

    def manifest_digest(self, image: ImageRef) -> str | None:
        """The digest the registry holds for ``image``'s tag, or None when the tag does not exist."""
        return self.digest_of(image.path, image.tag)

    def digest_of(self, path: str, reference: str) -> str | None:
        """The digest of manifest ``reference`` (a tag or a digest) in ``path``; None when absent."""
        where = f"/v2/{path}/manifests/{reference}"
        headers = {"Accept": MANIFEST_ACCEPT}
        response = self.request("HEAD", where, scope=pull_scope(path), headers=headers)
        if response.status_code == 200 and not response.headers.get("Docker-Content-Digest"):
            # Some registries omit the header on HEAD: the digest is the body's sha256.
            response = self.request("GET", where, scope=pull_scope(path), headers=headers)
            if response.status_code == 200:
                return "sha256:" + hashlib.sha256(response.content).hexdigest()
        if response.status_code == 200:
            return str(response.headers["Docker-Content-Digest"])
        if response.status_code == 404:
            return None
        raise self.refusal(response, f"{path}:{reference}" if ":" not in reference else f"{path}@{reference}")

    def refusal(self, response: httpx.Response, what: str) -> OperationFailed:
        """The error for an unexpected answer about ``what``."""
        if response.status_code in (401, 403):
            return OperationFailed(
                f"image registry {self.host} refused access to {what} (HTTP {response.status_code})",
                hint="check the credentials and that they may read (and push to) the repository",
            )
        return OperationFailed(
            f"image registry {self.host} answered HTTP {response.status_code} for {what}",
            detail=response.text[:500] if response.request.method != "HEAD" else None,
        )

    def add_tag(self, image: ImageRef, digest: str, tag: str) -> bool:
        """Tag the manifest ``digest`` of ``image``'s repository as ``tag`` too; False when ``tag``
        already names that digest. A tag that names another image is an error (tags are never
        moved: Artifact Registry's immutable tags would refuse it anyway)."""
        target = ImageRef.of(image.repository, tag)
        current = self.manifest_digest(target)
        if current == digest:
            return False
        if current is not None:
            raise OperationFailed(
                f"{target} already names another image ({current[:19]}…), not {digest[:19]}…",
                hint="tags are never moved; check which release recorded it",
            )
        scope = push_scope(image.path)
        manifest = f"/v2/{image.path}/manifests/"
        response = self.request("GET", manifest + digest, scope=scope, headers={"Accept": MANIFEST_ACCEPT})
        if response.status_code != 200:
            raise OperationFailed(
                f"image registry {self.host} has no manifest {digest} in {image.path} "
                f"(HTTP {response.status_code})",
                detail=response.text[:500],
            )
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        put = self.request(
            "PUT",
            manifest + tag,
            scope=scope,
            headers={"Content-Type": content_type},
            content=response.content,
        )
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

    def _authorization(self, challenge: httpx.Response, scope: str) -> str:
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
        # The token spec takes one ``scope`` parameter per scope; a challenge separates them by
        # spaces. Ask for what the challenge names and what the caller will need next (a push
        # after this read: the token is kept per ``scope``).
        scopes = (params.get("scope") or "").split()
        scopes += [wanted for wanted in scope.split() if wanted not in scopes]
        query = {"service": params.get("service", self.host), "scope": scopes}
        headers = {"Authorization": _basic(self.credentials)} if self.credentials else {}
        response = self._http().get(params["realm"], params=query, headers=headers)
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
