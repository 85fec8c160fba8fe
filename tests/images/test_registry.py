"""The registry client against a real registry (anonymous and basic auth) and, for the bearer-token
challenge Artifact Registry uses, a small double of a token-protected registry."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from sreplat.errors import OperationFailed, UsageError
from sreplat.tools.images.registry import (
    ARTIFACT_REGISTRY_USER,
    ImageRef,
    RegistryClient,
    RegistryCredentials,
    parse_challenge,
    registry_url,
)
from tests.doubles.base import DoubleServer, Request, Response
from tests.doubles.cloudbuild import push_minimal_image
from tests.support.redis_server import free_port
from tests.support.registry_server import RegistryServer

pytestmark = pytest.mark.registry


def static_token_credentials(token: str) -> object:
    """Real google-auth credentials holding an access token (what ADC yields, minus the refresh)."""
    from google.oauth2.credentials import Credentials

    return Credentials(token=token)


# --- references and helpers -------------------------------------------------------------------


def test_image_ref_parses_host_path_and_tag() -> None:
    ref = ImageRef.parse("europe-west1-docker.pkg.dev/acme-sre-dev/sreplat/api:" + "a" * 40)
    assert ref.host == "europe-west1-docker.pkg.dev"
    assert ref.path == "acme-sre-dev/sreplat/api"
    assert ref.tag == "a" * 40
    assert str(ref) == "europe-west1-docker.pkg.dev/acme-sre-dev/sreplat/api:" + "a" * 40
    assert ImageRef.parse("127.0.0.1:5000/t/api:v1").repository == "127.0.0.1:5000/t/api"


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("sreplat/api:v1", "does not start with a registry host"),
        ("127.0.0.1:5000/t/api", "has no tag"),
        ("127.0.0.1:5000/T/Api:v1", "not a valid registry path"),
        ("127.0.0.1:5000/t/api:-bad", "not a valid tag"),
    ],
)
def test_bad_references_are_usage_errors(ref: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        ImageRef.parse(ref)


def test_loopback_registries_use_http_and_others_https() -> None:
    assert registry_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert registry_url("localhost:5000") == "http://localhost:5000"
    assert registry_url("[::1]:5000") == "http://[::1]:5000"
    assert registry_url("europe-west1-docker.pkg.dev") == "https://europe-west1-docker.pkg.dev"
    # Docker Hub's names say docker.io; its API is registry-1.docker.io.
    assert registry_url("docker.io") == "https://registry-1.docker.io"


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://r.example/v2/token",service="r.example",scope="repository:a/b:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://r.example/v2/token",
        "service": "r.example",
        "scope": "repository:a/b:pull",
    }


# --- a real registry --------------------------------------------------------------------------


def test_missing_tag_is_none_and_pushed_tag_has_its_digest(registry: RegistryServer) -> None:
    image = ImageRef.parse(f"{registry.host}/t/lookup/api:{'b' * 40}")
    client = RegistryClient(registry.host)
    assert client.manifest_digest(image) is None
    digest = push_minimal_image(str(image), labels=["GIT_SHA=" + "b" * 40])
    assert digest.startswith("sha256:")
    assert client.manifest_digest(image) == digest
    other_tag = ImageRef.of(image.repository, "c" * 40)
    assert client.manifest_digest(other_tag) is None


def test_unreachable_registry_is_a_clear_error() -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(OperationFailed, match=rf"image registry {host} is unreachable"):
        RegistryClient(host, timeout_s=2).manifest_digest(ImageRef.parse(f"{host}/t/api:v1"))


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path / "private", htpasswd=(ARTIFACT_REGISTRY_USER, "good-token")) as server:
        yield server


def test_basic_auth_with_an_access_token_from_google_credentials(private_registry: RegistryServer) -> None:
    image = ImageRef.parse(f"{private_registry.host}/t/private/api:v1")
    good = RegistryCredentials.from_google(static_token_credentials("good-token"))
    assert good.username == ARTIFACT_REGISTRY_USER
    assert RegistryClient(private_registry.host, credentials=good).manifest_digest(image) is None

    bad = RegistryCredentials.from_google(static_token_credentials("stale-token"))
    with pytest.raises(OperationFailed, match="refused access"):
        RegistryClient(private_registry.host, credentials=bad).manifest_digest(image)
    with pytest.raises(OperationFailed, match="needs credentials and none were given"):
        RegistryClient(private_registry.host).manifest_digest(image)


# --- the bearer-token challenge (Artifact Registry's flow), on a double ------------------------


class TokenRegistryDouble(DoubleServer):
    """A registry that answers 401 + ``Bearer realm`` and sells tokens for ``oauth2accesstoken``."""

    name = "token-registry-double"
    access_token = "ya29.test-access-token"
    registry_token = "registry-token-123"
    digest = "sha256:" + "d" * 64

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", r"/v2/token", self._token)
        self.route("HEAD", r"/v2/(?P<path>.+)/manifests/(?P<tag>[^/]+)", self._manifest)

    def _token(self, req: Request) -> Response:
        expected = base64.b64encode(f"{ARTIFACT_REGISTRY_USER}:{self.access_token}".encode()).decode()
        if req.headers.get("authorization") != f"Basic {expected}":
            return Response(401, {"errors": [{"code": "UNAUTHORIZED"}]})
        if (
            req.param("scope") != "repository:acme-sre-dev/sreplat/api:pull"
            or req.param("service") != "r.test"
        ):
            return Response(400, {"errors": [{"code": "DENIED", "message": "bad scope"}]})
        return Response(body={"token": self.registry_token})

    def _manifest(self, req: Request) -> Response:
        if req.headers.get("authorization") != f"Bearer {self.registry_token}":
            challenge = (
                f'Bearer realm="{self.url}/v2/token",service="r.test",'
                f'scope="repository:{req.match["path"]}:pull"'
            )
            return Response(401, headers={"WWW-Authenticate": challenge})
        if "application/vnd.docker.distribution.manifest.v2+json" not in req.headers.get("accept", ""):
            return Response(404)
        if req.match["tag"] != "present":
            return Response(404)
        return Response(200, headers={"Docker-Content-Digest": self.digest})


@pytest.fixture
def token_registry() -> Iterator[TokenRegistryDouble]:
    double = TokenRegistryDouble()
    with double:
        yield double
    assert not double.problems, double.problems


def test_bearer_challenge_buys_a_token_with_the_access_token(token_registry: TokenRegistryDouble) -> None:
    credentials = RegistryCredentials.from_google(static_token_credentials(token_registry.access_token))
    client = RegistryClient("r.test", credentials=credentials, base_url=token_registry.url)
    present = ImageRef.parse("r.test/acme-sre-dev/sreplat/api:present")
    assert client.manifest_digest(present) == token_registry.digest
    assert client.manifest_digest(ImageRef.of(present.repository, "absent")) is None
    # One token per scope per client: the second lookup reuses it.
    assert len(token_registry.calls("GET", r"/v2/token")) == 1


def test_bearer_challenge_with_a_wrong_token_is_refused(token_registry: TokenRegistryDouble) -> None:
    credentials = RegistryCredentials.from_google(static_token_credentials("ya29.wrong"))
    client = RegistryClient("r.test", credentials=credentials, base_url=token_registry.url)
    with pytest.raises(OperationFailed, match=r"refused a token \(HTTP 401\)"):
        client.manifest_digest(ImageRef.parse("r.test/acme-sre-dev/sreplat/api:present"))


def test_google_credentials_are_refreshed_when_not_valid() -> None:
    """An expired token is refreshed through google-auth before use, not sent stale."""
    from google.oauth2.credentials import Credentials

    class Refreshing(Credentials):  # type: ignore[misc]
        refreshed = 0

        def refresh(self, request: object) -> None:
            Refreshing.refreshed += 1
            self.token = "fresh-token"
            self.expiry = None

    import datetime

    stale = Refreshing(token="old", expiry=datetime.datetime(2000, 1, 1))
    creds = RegistryCredentials.from_google(stale)
    assert creds.password() == "fresh-token"
    assert Refreshing.refreshed == 1
    assert creds.docker_auth_config() == {"username": ARTIFACT_REGISTRY_USER, "password": "fresh-token"}


def test_credentials_never_show_their_secret_in_repr() -> None:
    google = RegistryCredentials.from_google(static_token_credentials("ya29.s3cret"))
    assert "s3cret" not in repr(google)
    assert google.password() == "ya29.s3cret"
