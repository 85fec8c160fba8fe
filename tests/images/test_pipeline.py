"""``build_and_push`` with the Cloud Build builder: the real google-cloud-build and
google-cloud-storage clients talk REST to local doubles, and "pushed" images land in a real
registry, so skip-if-exists and digests are checked against what a registry actually serves.
No Docker engine needed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from sreplat.errors import OperationFailed, UsageError
from sreplat.events import Event, discard
from sreplat.tools.gcp.cloudbuild import CloudBuildBuilder
from sreplat.tools.images import bases
from sreplat.tools.images.pipeline import (
    BuildInputs,
    BuildRequest,
    BuiltImage,
    BuiltImages,
    build_and_push,
    registry_prefix_for,
)
from sreplat.tools.images.registry import ImageRef, RegistryClient
from tests.doubles.cloudbuild import CloudBuildDouble
from tests.doubles.gcs import StorageDouble
from tests.images.conftest import PROJECT, SOURCE_BUCKET, AppsRepo, commit_change, make_cloudbuild_builder
from tests.support.redis_server import free_port
from tests.support.registry_server import RegistryServer

pytestmark = pytest.mark.registry


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def source_names(double: CloudBuildDouble, build_id: str) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(double.sources[build_id]), mode="r:gz") as tar:
        return set(tar.getnames())


def source_file(double: CloudBuildDouble, build_id: str, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(double.sources[build_id]), mode="r:gz") as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read().decode()


def build_of(double: CloudBuildDouble, app: str) -> dict[str, Any]:
    [build] = [b for b in double.builds.values() if b["tags"] == ["sreplat", app]]
    return build


def test_builds_push_and_record_the_manifest(
    apps_repo: AppsRepo,
    prefix: str,
    registry: RegistryServer,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
) -> None:
    events: list[Event] = []
    manifest = build_and_push(
        sha=apps_repo.sha[:10],  # any revision; tags use the full SHA
        registry_prefix=prefix,
        builder=cloudbuild_builder,
        repo=apps_repo.path,
        emit=events.append,
    )
    client = RegistryClient(registry.host)
    # The inputs: the pinned bases as committed, the lock's sha256 (what `sha256sum` prints).
    pinned = bases.load_file(apps_repo.path / "base-images.json").build_args()
    assert set(pinned) == {"BUILDER_IMAGE", "BASE_IMAGE"} and all("@sha256:" in v for v in pinned.values())
    lock_sha = hashlib.sha256((apps_repo.path / "apps" / "requirements.lock").read_bytes()).hexdigest()
    inputs = {"base_images": pinned, "requirements_lock_sha256": lock_sha}
    expected: dict[str, Any] = {"sha": apps_repo.sha, "images": {}, "inputs": inputs}
    for app in ("api", "worker"):
        record = manifest.images[app]
        assert record.built
        assert record.ref == f"{prefix}/{app}:{apps_repo.sha}"
        # The digest recorded is the one the registry serves for the tag.
        assert client.manifest_digest(ImageRef.parse(record.ref)) == record.digest
        expected["images"][app] = {
            "repository": f"{prefix}/{app}",
            "tag": apps_repo.sha,
            "digest": record.digest,
        }
    assert manifest.to_json() == expected
    assert BuiltImages.from_json(expected) == BuiltImages(
        apps_repo.sha,
        {a: BuiltImage(a, r.repository, r.tag, r.digest, built=False) for a, r in manifest.images.items()},
        BuildInputs(pinned, lock_sha),
    )
    assert manifest.images["api"].digest != manifest.images["worker"].digest

    # What Cloud Build was asked to do: docker build of the app's target, tagged and pushed.
    for app in ("api", "worker"):
        build = build_of(cloudbuild_double, app)
        args = build["steps"][0]["args"]
        assert args[args.index("-f") + 1] == "Dockerfile"
        assert args[args.index("--target") + 1] == app
        assert args[args.index("-t") + 1] == f"{prefix}/{app}:{apps_repo.sha}"
        assert f"GIT_SHA={apps_repo.sha}" in args
        # The bases by digest, through the Dockerfile's existing build arguments.
        assert {f"{arg}={value}" for arg, value in pinned.items()} <= set(args)
        assert build["images"] == [f"{prefix}/{app}:{apps_repo.sha}"]
        assert build["source"]["storageSource"]["bucket"] == SOURCE_BUCKET
        names = source_names(cloudbuild_double, build["id"])
        assert {"Dockerfile", "pyproject.toml"} <= names
        assert any(n.startswith("src/sreplat_apps/") for n in names)

    seen = kinds(events)
    assert seen.count("image.build_started") == 2
    assert seen.count("image.pushed") == 2
    assert seen.count("image.digest") == 2
    assert "image.build_step" in seen
    assert seen[-1] == "images.done"
    assert {e.data["app"] for e in events if e.kind == "image.build_started"} == {"api", "worker"}


def test_rerun_for_the_same_sha_skips_the_builds(
    apps_repo: AppsRepo,
    prefix: str,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
) -> None:
    first = build_and_push(
        sha=apps_repo.sha,
        registry_prefix=prefix,
        builder=cloudbuild_builder,
        repo=apps_repo.path,
    )
    assert len(cloudbuild_double.builds) == 2
    events: list[Event] = []
    second = build_and_push(
        sha=apps_repo.sha,
        registry_prefix=prefix,
        builder=cloudbuild_builder,
        repo=apps_repo.path,
        emit=events.append,
    )
    assert len(cloudbuild_double.builds) == 2  # nothing new was built
    for app in ("api", "worker"):
        assert not second.images[app].built
        assert second.images[app].digest == first.images[app].digest
    assert sorted(kinds(events)) == ["image.skipped", "image.skipped", "images.done"]
    assert second.to_json() == first.to_json()


def test_a_failing_build_names_its_step(
    apps_repo: AppsRepo,
    prefix: str,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
) -> None:
    cloudbuild_double.fail_next = (
        'Build step failure: build step 0 "gcr.io/cloud-builders/docker" failed: exit status 1'
    )
    with pytest.raises(OperationFailed) as caught:
        build_and_push(
            sha=apps_repo.sha,
            registry_prefix=prefix,
            builder=cloudbuild_builder,
            repo=apps_repo.path,
            apps=("api",),
        )
    message = caught.value.one_line()
    assert "Cloud Build failure for the api image at step 1/1 (docker-build)" in message
    assert "exit status 1" in message
    assert "cloud-build/builds/" in (caught.value.hint or "")


def test_unreachable_registry_builds_nothing_and_records_nothing(
    apps_repo: AppsRepo,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(OperationFailed, match=rf"image registry {dead} is unreachable"):
        build_and_push(
            sha=apps_repo.sha,
            registry_prefix=f"{dead}/sreplat",
            builder=cloudbuild_builder,
            repo=apps_repo.path,
        )
    assert cloudbuild_double.builds == {}


def test_dirty_work_tree_is_refused_unless_allowed(
    apps_clone: AppsRepo,
    prefix: str,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
) -> None:
    (apps_clone.path / "apps" / "src" / "sreplat_apps" / "__init__.py").write_text('__version__ = "dirty"\n')
    with pytest.raises(UsageError, match="uncommitted changes") as caught:
        build_and_push(
            sha="HEAD",
            registry_prefix=prefix,
            builder=cloudbuild_builder,
            repo=apps_clone.path,
        )
    assert "--allow-dirty" in (caught.value.hint or "")
    assert cloudbuild_double.builds == {}

    events: list[Event] = []
    manifest = build_and_push(
        sha="HEAD",
        registry_prefix=prefix,
        builder=cloudbuild_builder,
        repo=apps_clone.path,
        apps=("api",),
        allow_dirty=True,
        emit=events.append,
    )
    assert manifest.images["api"].tag == apps_clone.sha
    assert "image.dirty_tree" in kinds(events)
    # allow_dirty builds the work tree as it is, uncommitted change included.
    build = build_of(cloudbuild_double, "api")
    assert (
        source_file(cloudbuild_double, build["id"], "src/sreplat_apps/__init__.py")
        == '__version__ = "dirty"\n'
    )


def test_an_older_sha_is_built_from_that_commit_not_the_work_tree(
    apps_clone: AppsRepo,
    prefix: str,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
) -> None:
    original = (apps_clone.path / "apps" / "pyproject.toml").read_text()
    commit_change(apps_clone.path, "apps/pyproject.toml", original + "\n# changed later\n")
    (apps_clone.path / "apps" / "untracked.txt").write_text("dirty, but not what is built\n")
    manifest = build_and_push(
        sha=apps_clone.sha,  # the first commit, no longer HEAD
        registry_prefix=prefix,
        builder=cloudbuild_builder,
        repo=apps_clone.path,
        apps=("worker",),
    )
    assert manifest.sha == apps_clone.sha
    assert set(manifest.images) == {"worker"}
    build = build_of(cloudbuild_double, "worker")
    assert source_file(cloudbuild_double, build["id"], "pyproject.toml") == original


def test_dockerignore_keeps_non_image_files_out_of_the_uploaded_context(
    apps_clone: AppsRepo,
    prefix: str,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
) -> None:
    commit_change(apps_clone.path, "apps/notes/todo.txt", "not part of any image\n")
    commit_change(apps_clone.path, "apps/tests/test_nothing.py", "def test_x(): pass\n")
    sha = commit_change(apps_clone.path, "apps/src/sreplat_apps/__pycache__/x.cpython-311.pyc", "junk")
    build_and_push(
        sha=sha,
        registry_prefix=prefix,
        builder=cloudbuild_builder,
        repo=apps_clone.path,
        apps=("api",),
    )
    names = source_names(cloudbuild_double, build_of(cloudbuild_double, "api")["id"])
    assert "Dockerfile" in names
    assert not [n for n in names if n.startswith(("notes", "tests")) or "__pycache__" in n]


@pytest.mark.parametrize(
    ("layout", "fragment", "hint"),
    [
        ("per-app Dockerfiles", "there is no apps/Dockerfile at", "a stage per app (api, worker)"),
        ("no worker stage", "has no build stage named worker", "FROM runtime AS <app>"),
    ],
)
def test_a_commit_without_a_target_per_app_is_refused_before_any_build(
    apps_clone: AppsRepo,
    prefix: str,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
    layout: str,
    fragment: str,
    hint: str,
) -> None:
    dockerfile = apps_clone.path / "apps" / "Dockerfile"
    text = dockerfile.read_text()
    if layout == "per-app Dockerfiles":  # how commits before the multi-target file have it
        dockerfile.unlink()
        commit_change(apps_clone.path, "apps/api/Dockerfile", text)
        sha = commit_change(apps_clone.path, "apps/worker/Dockerfile", text)
    else:
        sha = commit_change(apps_clone.path, "apps/Dockerfile", text.replace(" AS worker\n", " AS wrk\n"))
    with pytest.raises(UsageError, match=fragment) as caught:
        build_and_push(
            sha=sha,
            registry_prefix=prefix,
            builder=cloudbuild_builder,
            repo=apps_clone.path,
        )
    assert sha[:12] in caught.value.one_line()
    assert hint in (caught.value.hint or "")
    assert cloudbuild_double.builds == {}
    assert cloudbuild_double.storage.objects[SOURCE_BUCKET] == {}  # no context was uploaded either


def test_regional_builds_use_the_location_routes(
    apps_repo: AppsRepo,
    prefix: str,
    cloudbuild_double: CloudBuildDouble,
    storage_double: StorageDouble,
) -> None:
    builder = make_cloudbuild_builder(cloudbuild_double, storage_double, location="europe-west1")
    build_and_push(
        sha=apps_repo.sha,
        registry_prefix=prefix,
        builder=builder,
        repo=apps_repo.path,
        apps=("api",),
    )
    assert cloudbuild_double.calls("POST", rf"^/v1/projects/{PROJECT}/locations/europe-west1/builds$")
    assert cloudbuild_double.calls("GET", rf"^/v1/projects/{PROJECT}/locations/europe-west1/builds/[^/]+$")
    assert not cloudbuild_double.calls("POST", rf"^/v1/projects/{PROJECT}/builds$")


def test_missing_source_bucket_is_a_clear_error(
    apps_repo: AppsRepo,
    prefix: str,
    cloudbuild_double: CloudBuildDouble,
    storage_double: StorageDouble,
) -> None:
    builder = make_cloudbuild_builder(cloudbuild_double, storage_double, source_bucket="no-such-bucket")
    with pytest.raises(OperationFailed, match=r"could not upload the build context to gs://no-such-bucket/"):
        build_and_push(
            sha=apps_repo.sha,
            registry_prefix=prefix,
            builder=builder,
            repo=apps_repo.path,
            apps=("api",),
        )
    assert cloudbuild_double.builds == {}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"sha": "0" * 40}, "does not resolve to a commit"),
        ({"sha": "--all"}, "invalid git revision"),
        ({"registry_prefix": "not a registry"}, "does not start with a registry host"),
        ({"apps": ("api", "db")}, "unknown app"),
        ({"apps": ()}, "unknown app"),
    ],
)
def test_bad_input_is_refused_before_anything_happens(
    apps_repo: AppsRepo,
    prefix: str,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
    kwargs: dict[str, Any],
    fragment: str,
) -> None:
    args: dict[str, Any] = {
        "sha": apps_repo.sha,
        "registry_prefix": prefix,
        "builder": cloudbuild_builder,
        "repo": apps_repo.path,
        **kwargs,
    }
    with pytest.raises(UsageError, match=fragment):
        build_and_push(**args)
    assert cloudbuild_double.builds == {}


# --- the images document ---------------------------------------------------------------------


def test_built_images_round_trip_in_the_contract_format() -> None:
    built = BuiltImages(
        "a" * 40,
        {
            "worker": BuiltImage("worker", "r.test/p/worker", "a" * 40, "sha256:" + "2" * 64),
            "api": BuiltImage("api", "r.test/p/api", "a" * 40, "sha256:" + "1" * 64),
        },
    )
    document = built.to_json()
    assert document == {
        "sha": "a" * 40,
        "images": {
            "api": {"repository": "r.test/p/api", "tag": "a" * 40, "digest": "sha256:" + "1" * 64},
            "worker": {"repository": "r.test/p/worker", "tag": "a" * 40, "digest": "sha256:" + "2" * 64},
        },
    }
    loaded = BuiltImages.from_json(json.loads(json.dumps(document)))
    assert loaded.pinned("api") == "r.test/p/api@sha256:" + "1" * 64
    assert loaded.to_json() == document
    with pytest.raises(ValueError, match="not an images document"):
        BuiltImages.from_json({"sha": "x"})


def test_registry_prefix_for_artifact_registry() -> None:
    assert (
        registry_prefix_for(region="asia-south1", project="acme-sre-dev", repository="sreplat")
        == "asia-south1-docker.pkg.dev/acme-sre-dev/sreplat"
    )


def test_the_double_fails_a_build_of_a_target_the_dockerfile_lacks(
    apps_repo: AppsRepo, prefix: str, cloudbuild_builder: CloudBuildBuilder
) -> None:
    # What the pipeline's own check keeps from happening: proof the double's stage check has teeth,
    # so the builds above that pass it named real stages.
    request = BuildRequest(
        app="api",
        image=ImageRef.parse(f"{prefix}/api:{apps_repo.sha}"),
        context_dir=apps_repo.path / "apps",
        dockerfile="Dockerfile",
        target="apiserver",
    )
    with pytest.raises(OperationFailed, match="failed to reach build target apiserver in Dockerfile"):
        cloudbuild_builder.build_and_push(request, discard)


def test_pack_context_is_gzip(apps_repo: AppsRepo) -> None:
    from sreplat.tools.gcp.cloudbuild import pack_context

    data = pack_context(apps_repo.path / "apps", "Dockerfile")
    assert gzip.decompress(data)[:1]  # a valid gzip stream


def test_no_docker_engine_is_a_clear_error(apps_repo: AppsRepo, prefix: str, tmp_path: Path) -> None:
    from sreplat.tools.images.docker_builder import DockerEngineBuilder

    builder = DockerEngineBuilder(base_url=f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(OperationFailed, match="no Docker engine answers at unix://") as caught:
        build_and_push(
            sha=apps_repo.sha,
            registry_prefix=prefix,
            builder=builder,
            repo=apps_repo.path,
        )
    assert "Cloud Build" in (caught.value.hint or "")


def test_engine_answers_is_false_without_an_engine(tmp_path: Path) -> None:
    from sreplat.tools.images.docker_builder import engine_answers

    assert engine_answers(f"unix://{tmp_path}/no-engine.sock", timeout_s=1) is False
