"""Pinned build inputs: the base images by digest (``base-images.json``, refreshed from a real
registry by ``scripts/refresh_base_digests.py``) and the apps' lock, which must match
``apps/pyproject.toml`` or the build refuses before anything is built, naming the command that
refreshes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sreplat.errors import ExitCode, UsageError
from sreplat.tools.gcp.cloudbuild import CloudBuildBuilder
from sreplat.tools.images import bases, lock
from sreplat.tools.images.pipeline import build_and_push
from tests.doubles.cloudbuild import CloudBuildDouble
from tests.images.conftest import AppsRepo, commit_change
from tests.support.pinned_inputs import fixture_lock
from tests.support.registry_images import RegistryWriter, layer
from tests.support.registry_server import RegistryServer

pytestmark = pytest.mark.registry
REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = '[project]\nname = "x"\ndependencies = ["flask>=3.1,<4", "rq>=3.0,<4"]\n'


def build(repo: AppsRepo, sha: str, prefix: str, builder: CloudBuildBuilder) -> None:
    build_and_push(sha=sha, registry_prefix=prefix, builder=builder, repo=repo.path)


# --- the lock ---------------------------------------------------------------------------------


def test_a_matching_lock_gives_its_sha256_and_pins() -> None:
    text = fixture_lock(PYPROJECT).encode()

    info = lock.check(PYPROJECT.encode(), text, "abc")

    assert set(info.pins) == {"flask", "rq"}
    assert len(info.sha256) == 64


@pytest.mark.parametrize(
    ("pyproject", "lock_text", "problem"),
    [
        (PYPROJECT, None, "there is no apps/requirements.lock"),
        (
            PYPROJECT.replace('"rq>=3.0,<4"', '"rq>=3.0,<4", "pydantic>=2,<3"'),
            "locked",
            "pydantic is not locked",
        ),
        (PYPROJECT.replace("flask>=3.1,<4", "flask>=99"), "locked", "flask is locked at"),
        (
            PYPROJECT,
            "flask==3.1.0\nrq==3.0.0 \\\n    --hash=sha256:" + "a" * 64 + "\n",
            "flask has no --hash",
        ),
        (PYPROJECT, "flask>=3.1 --hash=sha256:" + "a" * 64 + "\nrq==3.0.0\n", "'flask>=3.1' is not pinned"),
    ],
)
def test_a_lock_that_does_not_match_pyproject_is_refused_with_the_refresh_command(
    pyproject: str, lock_text: str | None, problem: str
) -> None:
    text = fixture_lock(PYPROJECT) if lock_text == "locked" else lock_text

    with pytest.raises(UsageError) as caught:
        lock.check(pyproject.encode(), None if text is None else text.encode(), "1a2b3c4d5e6f")

    assert problem in caught.value.message and "1a2b3c4d5e6f" in caught.value.message
    assert caught.value.exit_code is ExitCode.USAGE
    assert caught.value.hint is not None and "make lock" in caught.value.hint


def test_a_dependency_the_images_never_install_need_not_be_locked() -> None:
    windows_only = PYPROJECT.replace(
        '"rq>=3.0,<4"', '"rq>=3.0,<4", "pywin32>=300; sys_platform == \'win32\'"'
    )

    assert set(lock.check(windows_only.encode(), fixture_lock(PYPROJECT).encode(), "abc").pins) == {
        "flask",
        "rq",
    }


def test_the_build_refuses_a_stale_lock_before_building_anything(
    apps_clone: AppsRepo,
    prefix: str,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
) -> None:
    pyproject = apps_clone.path / "apps" / "pyproject.toml"
    text = pyproject.read_text().replace(
        "dependencies = [", 'dependencies = [\n    "left-pad-never-locked>=1",', 1
    )
    sha = commit_change(apps_clone.path, "apps/pyproject.toml", text, "a new dependency, lock not refreshed")

    with pytest.raises(UsageError, match="left-pad-never-locked is not locked") as caught:
        build(apps_clone, sha, prefix, cloudbuild_builder)

    assert "make lock" in (caught.value.hint or "") and sha[:12] in caught.value.message
    assert cloudbuild_double.builds == {}


# --- base images ------------------------------------------------------------------------------


def test_a_commit_without_pinned_bases_is_refused_before_building_anything(
    apps_clone: AppsRepo,
    prefix: str,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
) -> None:
    (apps_clone.path / "base-images.json").unlink()
    sha = commit_change(apps_clone.path, "README", "bases gone")

    with pytest.raises(UsageError, match=r"there is no base-images.json at") as caught:
        build(apps_clone, sha, prefix, cloudbuild_builder)

    assert "make base-digests" in (caught.value.hint or "")
    assert cloudbuild_double.builds == {}


def test_a_pin_that_is_not_a_digest_is_refused(
    apps_clone: AppsRepo, prefix: str, cloudbuild_builder: CloudBuildBuilder
) -> None:
    pins = json.loads((apps_clone.path / "base-images.json").read_text())
    pins["images"]["builder"]["digest"] = "latest"
    sha = commit_change(apps_clone.path, "base-images.json", json.dumps(pins))

    with pytest.raises(UsageError, match=r"builder has digest 'latest', not sha256:<64 hex>"):
        build(apps_clone, sha, prefix, cloudbuild_builder)


def test_the_committed_pins_parse_and_name_the_dockerfile_build_arguments() -> None:
    pins = bases.load_file(REPO_ROOT / bases.BASES_FILE)
    dockerfile = (REPO_ROOT / "apps" / "Dockerfile").read_text()

    for arg in pins.build_args():
        assert f"ARG {arg}=" in dockerfile, f"{arg} is not a build argument of apps/Dockerfile"
    assert pins.get("redis", "base-images.json").image.path == "library/redis"


def test_refresh_writes_the_digests_the_registry_serves(registry: RegistryServer, tmp_path: Path) -> None:
    writer = RegistryWriter(registry.url)
    builder = writer.image("upstream/debian", "12-slim", layers=[layer({"etc/debian_version": b"12.8\n"})])
    redis = writer.image("upstream/redis", "7.4-alpine", layers=[layer({"usr/bin/redis-server": b"x"})])
    path = tmp_path / "base-images.json"
    stale = "sha256:" + "0" * 64
    path.write_text(
        json.dumps(
            {
                "resolved_at": None,
                "images": {
                    "builder": {
                        "ref": f"{registry.host}/upstream/debian:12-slim",
                        "digest": stale,
                        "build_arg": "BUILDER_IMAGE",
                    },
                    "redis": {"ref": f"{registry.host}/upstream/redis:7.4-alpine", "digest": redis.digest},
                },
            }
        )
    )
    script = [sys.executable, str(REPO_ROOT / "scripts" / "refresh_base_digests.py"), str(path)]

    first = subprocess.run(script, capture_output=True, text=True, timeout=60, check=False)

    assert first.returncode == 0, first.stderr
    assert f"builder: {stale} -> {builder.digest}" in first.stdout
    pins = bases.load_file(path)
    assert pins.images["builder"].digest == builder.digest
    assert pins.images["redis"].digest == redis.digest
    assert pins.resolved_at is not None
    assert pins.build_args() == {"BUILDER_IMAGE": f"{registry.host}/upstream/debian:12-slim@{builder.digest}"}

    second = subprocess.run(script, capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 0 and "up to date" in second.stdout

    # A tag the registry does not have: exit 2, the file unchanged.
    before = path.read_text()
    data = json.loads(before)
    data["images"]["redis"]["ref"] = f"{registry.host}/upstream/redis:no-such-tag"
    path.write_text(json.dumps(data))
    missing = subprocess.run(script, capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2
    assert "upstream/redis:no-such-tag (redis in" in missing.stderr and "does not exist" in missing.stderr
