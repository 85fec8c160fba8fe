"""Fixtures for the image pipeline: a real registry, a git repo holding a copy of ``apps/``, the
Cloud Build and Cloud Storage doubles, and (for ``docker`` tests) the engine and its base images.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.doubles.cloudbuild import CloudBuildDouble
from tests.doubles.gcs import StorageDouble
from tests.support.pinned_inputs import add_pinned_inputs
from tests.support.registry_server import RegistryServer

if TYPE_CHECKING:
    from sreplat.tools.gcp.cloudbuild import CloudBuildBuilder

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "acme-sre-dev"
SOURCE_BUCKET = "acme-sre-dev-builds"
GIT_IDENTITY = ["-c", "user.name=sreplat tests", "-c", "user.email=tests@sreplat.invalid"]
# What the test copy of apps/ leaves out (local build leftovers, not source).
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".venv", "build")


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *GIT_IDENTITY, *args], check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


@dataclass(frozen=True)
class AppsRepo:
    path: Path
    sha: str  # HEAD: the commit holding the copy of apps/


def make_apps_repo(dest: Path, apps_dir: Path = REPO_ROOT / "apps") -> AppsRepo:
    """A git repo whose one commit holds a copy of ``apps/`` and the pinned inputs (base images,
    a lock): the real work tree may be dirty."""
    dest.mkdir(parents=True)
    shutil.copytree(apps_dir, dest / "apps", ignore=COPY_IGNORE)
    add_pinned_inputs(dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "apps")
    return AppsRepo(dest, git(dest, "rev-parse", "HEAD"))


def commit_change(repo: Path, relpath: str, text: str, message: str = "change") -> str:
    path = repo / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="session")
def apps_repo(tmp_path_factory: pytest.TempPathFactory) -> AppsRepo:
    return make_apps_repo(tmp_path_factory.mktemp("apps-repo") / "repo")


@pytest.fixture
def apps_clone(apps_repo: AppsRepo, tmp_path: Path) -> AppsRepo:
    """A clone of ``apps_repo`` the test may commit to."""
    dest = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(apps_repo.path), str(dest)], check=True)
    return AppsRepo(dest, apps_repo.sha)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("registry")) as server:
        yield server


@pytest.fixture
def prefix(registry: RegistryServer, request: pytest.FixtureRequest) -> str:
    """A registry prefix of this test's own, so tests never see each other's tags."""
    name = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:60].strip("-")
    return f"{registry.host}/t/{name}"


@pytest.fixture
def storage_double() -> Iterator[StorageDouble]:
    double = StorageDouble(project=PROJECT)
    with double:
        double.add_bucket(SOURCE_BUCKET)
        yield double
    assert not double.problems, double.problems


@pytest.fixture
def cloudbuild_double(storage_double: StorageDouble) -> Iterator[CloudBuildDouble]:
    double = CloudBuildDouble(storage=storage_double, project=PROJECT)
    with double:
        yield double
    assert not double.problems, double.problems


def make_cloudbuild_builder(
    cloudbuild: CloudBuildDouble, storage: StorageDouble, **overrides: Any
) -> CloudBuildBuilder:
    """A Cloud Build builder talking to the doubles, polling fast; ``overrides`` change its arguments."""
    from google.auth.credentials import AnonymousCredentials

    from sreplat.tools.gcp.cloudbuild import CloudBuildBuilder

    args: dict[str, Any] = {
        "project": PROJECT,
        "source_bucket": SOURCE_BUCKET,
        "credentials": AnonymousCredentials(),
        "cloudbuild_endpoint": cloudbuild.url,
        "storage_endpoint": storage.url,
        "poll_interval_s": 0.01,
        "timeout_s": 60,
    }
    return CloudBuildBuilder(**{**args, **overrides})


@pytest.fixture
def cloudbuild_builder(
    cloudbuild_double: CloudBuildDouble, storage_double: StorageDouble
) -> CloudBuildBuilder:
    return make_cloudbuild_builder(cloudbuild_double, storage_double)


# --- Docker engine ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> None:
    import docker
    import docker.errors

    try:
        docker.from_env(timeout=10).ping()
    except docker.errors.DockerException as exc:
        pytest.fail(
            f"no Docker engine answers ({exc}); `make test` starts one as root (scripts/start-dockerd.sh)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def base_images(docker_engine: None) -> object:
    from tests.support.base_image import ensure_base_images

    return ensure_base_images()


@pytest.fixture(scope="session")
def engine_build_args(base_images: object) -> dict[str, str]:
    """Point both Dockerfile stages at the locally made Debian base (nothing can be pulled)."""
    return {"BUILDER_IMAGE": base_images.builder, "BASE_IMAGE": base_images.runtime}  # type: ignore[attr-defined]
