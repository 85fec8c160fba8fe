"""Copying images between repositories by digest against real registries (Debian's
``docker-registry``): cross-repository mounts within one registry, streamed copies between two,
a registry that answers a mount with ``202`` (a proxy drops the mount parameters), multi-platform
indexes, an interrupted copy resumed, and a source that lacks the image."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sreplat.errors import OperationFailed
from sreplat.events import Event
from sreplat.tools.images.copy import ImageMissing, copy_image
from sreplat.tools.images.registry import (
    ARTIFACT_REGISTRY_USER,
    ImageRef,
    RegistryClient,
    RegistryCredentials,
)
from tests.support.registry_images import Pushed, RegistryWriter, layer
from tests.support.registry_proxy import RegistryProxy
from tests.support.registry_server import RegistryServer

pytestmark = pytest.mark.registry


def two_layers(seed: str) -> list[bytes]:
    # Incompressible payloads, so a streamed copy moves a measurable number of bytes.
    return [layer({f"{seed}/a.bin": os.urandom(64 << 10)}), layer({f"{seed}/b.txt": seed.encode()})]


def assert_identical(
    writer_from: RegistryWriter, source: str, writer_to: RegistryWriter, target: str, ref: str
) -> None:
    """Same manifest bytes (hence the same digest) on both sides, every blob present."""
    got_from, got_to = writer_from.get_manifest(source, ref), writer_to.get_manifest(target, ref)
    assert got_from.status_code == got_to.status_code == 200
    assert got_to.content == got_from.content
    assert got_to.headers["Docker-Content-Digest"] == got_from.headers["Docker-Content-Digest"]


@pytest.fixture
def writer(registry: RegistryServer) -> RegistryWriter:
    return RegistryWriter(registry.url)


@pytest.fixture
def repos(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A staging and a prod repository of this test's own on the shared registry."""
    name = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:50].strip("-")
    return f"copy/{name}/staging/api", f"copy/{name}/prod/api"


def test_within_one_registry_blobs_are_mounted_and_the_digest_is_identical(
    registry: RegistryServer, writer: RegistryWriter, repos: tuple[str, str]
) -> None:
    staging, prod = repos
    image = writer.image(staging, "a" * 40, layers=two_layers("same"))
    events: list[Event] = []

    with RegistryClient(registry.host) as client:
        result = copy_image(client, staging, image.digest, client, prod, tag="a" * 40, emit=events.append)

    assert_identical(writer, staging, writer, prod, image.digest)
    assert_identical(writer, staging, writer, prod, "a" * 40)  # the tag names the same manifest
    assert (result.blobs_mounted, result.blobs_streamed, result.bytes_streamed) == (3, 0, 0)
    assert result.manifests == 1 and not result.already_there
    assert all(writer.has_blob(prod, blob) for blob in image.blobs)
    assert [e.kind for e in events] == ["image.copy_started", "image.copied"]

    # Again: nothing to do, nothing moves.
    with RegistryClient(registry.host) as client:
        again = copy_image(client, staging, image.digest, client, prod, tag="a" * 40)
    assert again.already_there and (again.blobs_mounted, again.blobs_streamed) == (0, 0)


def test_a_registry_that_does_not_mount_gets_the_blobs_streamed(
    registry: RegistryServer, writer: RegistryWriter, repos: tuple[str, str]
) -> None:
    staging, prod = repos
    image = writer.image(staging, "v1", layers=two_layers("nomount"))
    with RegistryProxy(registry.url, refuse_mounts=True) as proxy:
        with RegistryClient(registry.host, base_url=proxy.url) as client:
            result = copy_image(client, staging, image.digest, client, prod)
        mounts = [c for c in proxy.calls("POST", r"/blobs/uploads/") if c.param("mount")]

    # A mount was asked for each blob, the registry answered 202, and the upload went ahead.
    assert sorted(c.param("mount") for c in mounts) == sorted(image.blobs)
    assert (result.blobs_mounted, result.blobs_streamed) == (0, 3)
    assert result.bytes_streamed == image.blob_bytes
    assert_identical(writer, staging, writer, prod, image.digest)


def test_a_registry_that_denies_a_mount_gets_a_plain_upload(
    registry: RegistryServer, writer: RegistryWriter, repos: tuple[str, str]
) -> None:
    staging, prod = repos
    image = writer.image(staging, "v1", layers=two_layers("denied"))
    with RegistryProxy(registry.url, deny_mounts=True) as proxy:
        with RegistryClient(registry.host, base_url=proxy.url) as client:
            result = copy_image(client, staging, image.digest, client, prod)
        plain = [c for c in proxy.calls("POST", r"/blobs/uploads/") if not c.param("mount")]

    assert len(plain) == 3 and (result.blobs_mounted, result.blobs_streamed) == (0, 3)
    assert_identical(writer, staging, writer, prod, image.digest)


def test_between_two_registries_blobs_are_streamed(
    registry: RegistryServer, writer: RegistryWriter, tmp_path: Path, repos: tuple[str, str]
) -> None:
    staging, _ = repos
    image = writer.image(staging, "v1", layers=two_layers("cross"))
    with RegistryServer(tmp_path / "prod-registry") as other:
        with RegistryClient(registry.host) as source, RegistryClient(other.host) as target:
            result = copy_image(source, staging, image.digest, target, "sreplat-prod/api", tag="v1")
        assert_identical(writer, staging, RegistryWriter(other.url), "sreplat-prod/api", "v1")
    assert (result.blobs_mounted, result.blobs_streamed, result.bytes_streamed) == (0, 3, image.blob_bytes)


def test_a_multi_platform_index_is_copied_with_its_children(
    registry: RegistryServer, writer: RegistryWriter, repos: tuple[str, str]
) -> None:
    staging, prod = repos
    amd = writer.image(staging, "amd64", layers=two_layers("amd"), platform="amd64")
    arm = writer.image(staging, "arm64", layers=two_layers("arm"), platform="arm64")
    index = writer.index(staging, "7.4-alpine", [(amd, "amd64"), (arm, "arm64")])

    with RegistryClient(registry.host) as client:
        result = copy_image(client, staging, index.digest, client, prod, tag="7.4-alpine")

    assert result.manifests == 3
    for manifest in (index, amd, arm):
        assert_identical(writer, staging, writer, prod, manifest.digest)
    assert all(writer.has_blob(prod, blob) for blob in index.blobs)


def test_an_interrupted_copy_resumes_where_it_stopped(
    registry: RegistryServer, writer: RegistryWriter, repos: tuple[str, str]
) -> None:
    staging, prod = repos
    image = writer.image(staging, "v1", layers=two_layers("resume"))
    with RegistryProxy(registry.url) as proxy:
        proxy.inject(r"/manifests/", method="PUT", status=503, times=1)  # blobs landed, manifest not
        with RegistryClient(registry.host, base_url=proxy.url) as client:
            with pytest.raises(OperationFailed, match="HTTP 503"):
                copy_image(client, staging, image.digest, client, prod, tag="v1")
            assert writer.tags(prod) == []
            result = copy_image(client, staging, image.digest, client, prod, tag="v1")

    assert result.blobs_present == 3 and result.blobs_mounted == 0
    assert_identical(writer, staging, writer, prod, "v1")


def test_a_source_without_the_image_is_a_clear_error_and_the_target_is_untouched(
    registry: RegistryServer, writer: RegistryWriter, repos: tuple[str, str]
) -> None:
    staging, prod = repos
    writer.image(staging, "v1", layers=two_layers("present"))
    missing = "sha256:" + "0" * 64

    with (
        RegistryClient(registry.host) as client,
        pytest.raises(ImageMissing, match=rf"{staging}@{missing} is not in"),
    ):
        copy_image(client, staging, missing, client, prod, tag="v1")

    assert writer.tags(prod) == []


def test_a_tag_naming_another_image_in_the_target_is_refused(
    registry: RegistryServer, writer: RegistryWriter, repos: tuple[str, str]
) -> None:
    staging, prod = repos
    image = writer.image(staging, "v1", layers=two_layers("one"))
    other = writer.image(prod, "v1", layers=two_layers("two"))

    with (
        RegistryClient(registry.host) as client,
        pytest.raises(OperationFailed, match="already names") as caught,
    ):
        copy_image(client, staging, image.digest, client, prod, tag="v1")

    assert other.digest in caught.value.message and image.digest in caught.value.message
    assert writer.get_manifest(prod, "v1").headers["Docker-Content-Digest"] == other.digest


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path / "private", htpasswd=(ARTIFACT_REGISTRY_USER, "s3cret")) as server:
        yield server


def test_a_registry_that_needs_credentials_mounts_with_them(private_registry: RegistryServer) -> None:
    from google.oauth2.credentials import Credentials

    writer = RegistryWriter(private_registry.url, auth=(ARTIFACT_REGISTRY_USER, "s3cret"))
    image: Pushed = writer.image("staging/api", "v1", layers=two_layers("private"))
    credentials = RegistryCredentials.from_google(Credentials(token="s3cret"))

    with RegistryClient(private_registry.host, credentials=credentials) as client:
        result = copy_image(client, "staging/api", image.digest, client, "prod/api", tag="v1")

    assert result.blobs_mounted == 3
    assert_identical(writer, "staging/api", writer, "prod/api", "v1")


def test_through_the_artifact_registry_front_between_two_projects(
    registry: RegistryServer, writer: RegistryWriter
) -> None:
    """Artifact Registry's auth (the double: bearer challenge, oauth2accesstoken) in front of the
    real registry's storage; staging's and prod's repositories live in two projects on one host."""
    from google.oauth2.credentials import Credentials

    from tests.doubles.artifact_registry import ArtifactRegistryDouble

    staging, prod = "acme-sre-staging/sreplat-staging/api", "acme-sre-prod/sreplat-prod/api"
    image = writer.image(staging, "a" * 40, layers=two_layers("projects"))
    credentials = RegistryCredentials.from_google(Credentials(token="ya29.front"))
    with ArtifactRegistryDouble(upstream=registry.url, require_token="ya29.front") as front:
        # Artifact Registry takes pushes into repositories that exist only (the stacks make them).
        front.add_repository("acme-sre-prod", "asia-south1", "sreplat-prod")
        with RegistryClient(
            "asia-south1-docker.pkg.dev", credentials=credentials, base_url=front.url
        ) as client:
            result = copy_image(client, staging, image.digest, client, prod, tag="a" * 40)
            assert (
                client.manifest_digest(ImageRef.parse(f"asia-south1-docker.pkg.dev/{prod}:{'a' * 40}"))
                == image.digest
            )
        listed = front.images[("acme-sre-prod", "asia-south1", "sreplat-prod", "api")]
        assert not front.problems, front.problems

    assert result.blobs_mounted == 3
    assert_identical(writer, staging, writer, prod, "a" * 40)
    assert listed[image.digest].tags == {"a" * 40}
