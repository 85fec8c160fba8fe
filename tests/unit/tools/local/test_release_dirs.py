"""ReleaseDir directories: export, the version a Python process sees through ``current``, switch,
history, prune."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sreplat.errors import UsageError
from sreplat.tools.local.release_dirs import ReleaseDirs
from tests.support.git_repo import GitRepo

PKG = "apps/src/sreplat_apps/__init__.py"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


def version_seen_through(store: ReleaseDirs) -> tuple[str, str]:
    """What a fresh interpreter with PYTHONPATH=<current>/src imports and reports."""
    code = (
        "import importlib.metadata as m, sreplat_apps\n"
        "print(m.version('sreplat-apps')); print(sreplat_apps.MARK)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(store.python_path)},
        cwd=store.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], out[1]


def test_each_release_reports_its_commit_through_current(repo: GitRepo, tmp_path: Path) -> None:
    one = repo.commit({PKG: '__version__ = "1.2.0"\nMARK = "one"\n'})
    two = repo.commit({PKG: '__version__ = "1.2.0"\nMARK = "two"\n'})
    store = ReleaseDirs(tmp_path / "releases")
    first = store.create_from_git(repo.path, one, "apps/src")
    second = store.create_from_git(repo.path, two, "apps/src")
    assert first.version == f"1.2.0+g{one[:12]}"
    store.switch(one)
    assert version_seen_through(store) == (first.version, "one")
    store.switch(two)
    assert store.current() == two
    assert version_seen_through(store) == (second.version, "two")
    assert os.readlink(store.current_link) == two  # relative: the state dir can move


def test_create_is_idempotent(repo: GitRepo, tmp_path: Path) -> None:
    sha = repo.commit({PKG: '__version__ = "1"\n'})
    store = ReleaseDirs(tmp_path / "releases")
    assert store.create_from_git(repo.path, sha, "apps/src") == store.create_from_git(
        repo.path, sha, "apps/src"
    )
    assert [r.id for r in store.releases()] == [sha]


def test_a_commit_without_the_package_leaves_nothing_behind(repo: GitRepo, tmp_path: Path) -> None:
    sha = repo.commit({"apps/src/other/__init__.py": ""})
    store = ReleaseDirs(tmp_path / "releases")
    with pytest.raises(UsageError):
        store.create_from_git(repo.path, sha, "apps/src")
    assert list((tmp_path / "releases").iterdir()) == []


def test_switch_to_a_missing_release_changes_nothing(repo: GitRepo, tmp_path: Path) -> None:
    sha = repo.commit({PKG: ""})
    store = ReleaseDirs(tmp_path / "releases")
    store.create_from_git(repo.path, sha, "apps/src")
    store.switch(sha)
    with pytest.raises(FileNotFoundError):
        store.switch("f" * 40)
    assert store.current() == sha


def test_history_and_prune_keep_current_and_previous(repo: GitRepo, tmp_path: Path) -> None:
    store = ReleaseDirs(tmp_path / "releases")
    shas = [repo.commit({PKG: f'__version__ = "{i}"\n'}) for i in range(5)]
    for sha in shas:
        release = store.create_from_git(repo.path, sha, "apps/src")
        store.record(release, "activated")
    store.switch(shas[0])  # an old one is current
    store.save_state(current=shas[0], previous=shas[1])
    removed = store.prune(keep=2)
    assert sorted(removed) == sorted(shas[2:])
    assert {r.id for r in store.releases()} == {shas[0], shas[1]}
    assert [e.release for e in store.history()] == shas
    assert store.history()[0].event == "activated"


def test_installed_release_copies_the_installed_package(tmp_path: Path) -> None:
    store = ReleaseDirs(tmp_path / "releases")
    release = store.create_from_installed()
    assert release.id == "installed" and release.version.endswith("+installed")
    assert (store.path("installed") / "src" / "sreplat_apps" / "__init__.py").is_file()
