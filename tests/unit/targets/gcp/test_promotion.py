"""Choosing the release to promote and copying its images by digest, against a real registry
(two repositories: staging's and prod's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sreplat.errors import ExitCode, UsageError
from sreplat.targets.gcp.promotion import choose_release, copy_release
from sreplat.targets.gcp.record import DeployRecord
from sreplat.tools.images.copy import ImageMissing
from sreplat.tools.images.pipeline import BuiltImage, BuiltImages
from sreplat.tools.images.registry import RegistryClient
from tests.support.registry_images import RegistryWriter, layer
from tests.support.registry_server import RegistryServer

OLD, NEW = "1" * 40, "2" * 40


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("registry")) as server:
        yield server


def staging_record(registry: RegistryServer, writer: RegistryWriter, *shas: str) -> DeployRecord:
    record = None
    for sha in shas:
        images = {}
        for app in ("api", "worker"):
            path = f"acme-staging/sreplat-staging/{app}"
            pushed = writer.image(path, sha, layers=[layer({f"{app}/{sha}": sha.encode()})])
            images[app] = BuiltImage(app, f"{registry.host}/{path}", sha, pushed.digest, built=False)
        record = DeployRecord.now(BuiltImages(sha, images), {}).after(record)
    assert record is not None
    return record


def record_of(sha: str) -> DeployRecord:
    image = BuiltImage("api", "r.example/api", sha, "sha256:" + "a" * 64)
    return DeployRecord(BuiltImages(sha, {"api": image}))


def test_the_release_staging_runs_or_one_from_its_history_and_nothing_else() -> None:
    record = record_of(NEW).after(record_of(OLD))

    assert choose_release("staging", record, None).sha == NEW
    assert choose_release("staging", record, OLD).sha == OLD
    with pytest.raises(UsageError, match=r"staging does not run 333333333333 and never ran it") as caught:
        choose_release("staging", record, "3" * 40)
    assert caught.value.exit_code is ExitCode.USAGE
    with pytest.raises(UsageError, match="has no release record: nothing to promote"):
        choose_release("staging", None, None)


@pytest.mark.registry
def test_the_images_are_copied_by_digest_into_the_target_repository(registry: RegistryServer) -> None:
    writer = RegistryWriter(registry.url)
    record = staging_record(registry, writer, OLD, NEW)
    prefix = f"{registry.host}/acme-prod/sreplat-prod"

    promoted = copy_release(
        record.current, source_env="staging", target_prefix=prefix, client_for=RegistryClient
    )

    for app in ("api", "worker"):
        staged = record.images.images[app]
        promoted_image = promoted.images.images[app]
        assert (promoted_image.repository, promoted_image.tag) == (f"{prefix}/{app}", NEW)
        assert promoted_image.digest == staged.digest
        served = writer.get_manifest(f"acme-prod/sreplat-prod/{app}", NEW)
        assert served.headers["Docker-Content-Digest"] == staged.digest
        assert promoted.copies[app].blobs_mounted == 2  # config + layer, mounted: one registry
    again = copy_release(
        record.current, source_env="staging", target_prefix=prefix, client_for=RegistryClient
    )
    assert all(copy.already_there for copy in again.copies.values())


@pytest.mark.registry
def test_an_image_missing_from_the_source_repository_copies_nothing(registry: RegistryServer) -> None:
    writer = RegistryWriter(registry.url)
    record = staging_record(registry, writer, "4" * 40)
    gone = dict(record.images.images)
    worker = gone["worker"]
    gone["worker"] = BuiltImage("worker", worker.repository, worker.tag, "sha256:" + "f" * 64)  # cleaned up
    release = DeployRecord(BuiltImages(record.sha, gone)).current
    prefix = f"{registry.host}/acme-prod2/sreplat-prod"

    with pytest.raises(ImageMissing, match=r"staging's worker image .* is not in its repository") as caught:
        copy_release(release, source_env="staging", target_prefix=prefix, client_for=RegistryClient)

    assert "nothing was copied" in caught.value.message
    assert writer.tags("acme-prod2/sreplat-prod/api") == []  # api was fine, and still not copied
