"""Issue 12 security item: images a release used are kept — each recorded release's images get a
second tag ``release-<sha>``, which the repository's cleanup policy keeps (module artifact_registry,
``release_tag_prefix``).

``RegistryClient.add_tag`` puts the same manifest, byte for byte, under the new tag (the
distribution spec's manifest push; no layer moves, the digest is unchanged). Checked against
Debian's real ``docker-registry`` and against the Artifact Registry double with its immutable
tags and its bearer-token flow (push scope).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sreplat.errors import OperationFailed
from sreplat.tools.images.registry import ImageRef, RegistryClient, RegistryCredentials
from tests.doubles.artifact_registry import ArtifactRegistryDouble
from tests.doubles.cloudbuild import push_minimal_image
from tests.doubles.fixtures import GCP_TOKEN, serve
from tests.support.registry_server import RegistryServer


@pytest.fixture
def ar() -> Iterator[ArtifactRegistryDouble]:
    double = ArtifactRegistryDouble(require_token=GCP_TOKEN)
    double.add_repository("acme-sre-dev", "asia-south1", "sreplat-dev")
    yield from serve(double)


SHA = "a" * 40


@pytest.mark.registry
def test_a_real_registry_serves_the_same_manifest_under_the_release_tag(registry: RegistryServer) -> None:
    image = ImageRef.parse(f"{registry.host}/t/release/api:{SHA}")
    digest = push_minimal_image(str(image), labels=[f"GIT_SHA={SHA}"])
    client = RegistryClient(registry.host)
    assert client.add_tag(image, digest, f"release-{SHA}")
    release = ImageRef.of(image.repository, f"release-{SHA}")
    assert client.manifest_digest(release) == digest
    assert client.manifest_digest(image) == digest  # the SHA tag is untouched
    assert not client.add_tag(image, digest, f"release-{SHA}")  # already there: nothing written
    other = push_minimal_image(f"{image.repository}:{'b' * 40}", labels=[f"GIT_SHA={'b' * 40}"])
    with pytest.raises(OperationFailed, match="already names another image"):
        client.add_tag(image, other, f"release-{SHA}")  # never moved
    assert client.manifest_digest(release) == digest


def google_token(token: str) -> RegistryCredentials:
    from google.oauth2.credentials import Credentials

    return RegistryCredentials.from_google(Credentials(token=token))  # type: ignore[no-untyped-call]


def test_artifact_registry_takes_a_new_tag_with_a_push_token(
    ar: ArtifactRegistryDouble,
) -> None:
    registry = ar
    digest = registry.push("acme-sre-dev", "asia-south1", "sreplat-dev", "api", SHA)
    image = ImageRef.parse(f"{registry.registry_host}/acme-sre-dev/sreplat-dev/api:{SHA}")
    client = RegistryClient(image.host, credentials=google_token(GCP_TOKEN), base_url=registry.url)
    assert client.add_tag(image, digest, f"release-{SHA}")
    [stored] = registry.images[("acme-sre-dev", "asia-south1", "sreplat-dev", "api")].values()
    assert stored.tags == {SHA, f"release-{SHA}"} and stored.digest == digest
    [put] = registry.calls("PUT", "/manifests/")
    assert put.headers["content-type"] == "application/vnd.oci.image.manifest.v1+json"
    token = registry.calls("GET", "/v2/token")[-1]
    assert token.param("scope") == "repository:acme-sre-dev/sreplat-dev/api:pull,push"


def test_artifact_registry_immutable_tags_never_move(
    ar: ArtifactRegistryDouble,
) -> None:
    """The double's model: a new tag is allowed, an existing tag cannot be pointed elsewhere."""
    registry = ar
    registry.push("acme-sre-dev", "asia-south1", "sreplat-dev", "api", SHA)
    other = registry.push("acme-sre-dev", "asia-south1", "sreplat-dev", "api", "b" * 40)
    manifest = registry.images[("acme-sre-dev", "asia-south1", "sreplat-dev", "api")][other].manifest
    registry.require_token = None
    answer = httpx.put(
        f"{registry.url}/v2/acme-sre-dev/sreplat-dev/api/manifests/{SHA}",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert answer.status_code == 400 and "immutable" in answer.text
