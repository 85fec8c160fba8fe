"""tools.git against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from sreplat.errors import UsageError
from sreplat.tools import git
from tests.support.git_repo import GitRepo


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


def test_resolve_sha_full_short_and_symbolic(repo: GitRepo) -> None:
    first = repo.commit({"a.txt": "1"})
    second = repo.commit({"a.txt": "2"})
    assert git.resolve_sha(repo.path, first) == first
    assert git.resolve_sha(repo.path, first[:8]) == first
    assert git.resolve_sha(repo.path, "HEAD") == second
    assert git.resolve_sha(repo.path, "HEAD~1") == first


@pytest.mark.parametrize("rev", ["0" * 40, "deadbeef", "nosuchbranch", "-h", "--all", "a b", ""])
def test_unresolvable_or_hostile_revisions_are_usage_errors(repo: GitRepo, rev: str) -> None:
    repo.commit({"a.txt": "1"})
    with pytest.raises(UsageError):
        git.resolve_sha(repo.path, rev)


def test_a_tree_object_is_not_a_commit(repo: GitRepo) -> None:
    repo.commit({"a.txt": "1"})
    tree = repo.git("rev-parse", "HEAD^{tree}")
    with pytest.raises(UsageError):
        git.resolve_sha(repo.path, tree)


def test_is_dirty(repo: GitRepo) -> None:
    repo.commit({"a.txt": "1"})
    assert not git.is_dirty(repo.path)
    (repo.path / "new.txt").write_text("x")
    assert git.is_dirty(repo.path)
    assert not git.is_dirty(repo.path, include_untracked=False)
    (repo.path / "a.txt").write_text("changed")
    assert git.is_dirty(repo.path, include_untracked=False)


def test_export_tree_writes_that_commits_subdir_only(repo: GitRepo, tmp_path: Path) -> None:
    old = repo.commit({"apps/src/pkg/__init__.py": "V = 1\n", "other/x": "no"})
    repo.commit({"apps/src/pkg/__init__.py": "V = 2\n", "apps/src/pkg/new.py": ""})
    dest = tmp_path / "releases" / "out"
    git.export_tree(repo.path, old, "apps/src", dest)
    assert (dest / "pkg" / "__init__.py").read_text() == "V = 1\n"
    assert not (dest / "pkg" / "new.py").exists()
    assert not (dest / "other").exists()
    assert [p.name for p in dest.parent.iterdir()] == ["out"]  # no staging left behind


def test_export_tree_of_a_missing_subdir_changes_nothing(repo: GitRepo, tmp_path: Path) -> None:
    sha = repo.commit({"a.txt": "1"})
    with pytest.raises(UsageError, match="has no apps/src/"):
        git.export_tree(repo.path, sha, "apps/src", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_has_path(repo: GitRepo) -> None:
    sha = repo.commit({"apps/src/pkg/__init__.py": ""})
    assert git.has_path(repo.path, sha, "apps/src/pkg")
    assert not git.has_path(repo.path, sha, "apps/nope")


def test_read_bytes_is_byte_exact_and_first_parent(repo: GitRepo) -> None:
    root = repo.commit({"a.txt": "1"})
    data = b"line one\r\nnot utf-8: \xff\x00\nno final newline"
    (repo.path / "blob.bin").write_bytes(data)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "binary")
    head = repo.git("rev-parse", "HEAD")

    assert git.read_bytes(repo.path, head, "blob.bin") == data
    assert git.read_bytes(repo.path, root, "blob.bin") is None
    assert git.first_parent(repo.path, head) == root
    assert git.first_parent(repo.path, root) is None
