"""Git, read-only: resolve revisions, check for local changes, export a commit's subtree.

Every call goes through ``proc.run``. Nothing here changes the repository: deploys and image
builds read commits, they never check them out, so a developer's working tree is never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from sreplat import proc
from sreplat.errors import ProcessFailed, UsageError

GIT_HINT = "install git (Debian: apt-get install git)"
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
# Deterministic, non-interactive git: English messages, no pager, never a credential prompt.
_GIT_ENV = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "GIT_OPTIONAL_LOCKS": "0"}


def _git(
    repo: Path, *args: str, ok_codes: tuple[int, ...] = (0,), env: dict[str, str] | None = None
) -> proc.ProcResult:
    return proc.run(
        ["git", "-C", str(repo), *args],
        env={**_GIT_ENV, **(env or {})},
        ok_codes=ok_codes,
        install_hint=GIT_HINT,
        timeout=120,
    )


def run(
    repo: Path, *args: str, ok_codes: tuple[int, ...] = (0,), env: dict[str, str] | None = None
) -> proc.ProcResult:
    """Any read-only git command in ``repo``, with the deterministic environment above."""
    return _git(repo, *args, ok_codes=ok_codes, env=env)


def resolve_sha(repo: Path, rev: str) -> str:
    """The full 40-hex commit SHA ``rev`` names in ``repo``; UsageError if it names no commit."""
    if not rev or rev.startswith("-") or any(ch.isspace() for ch in rev):
        # A leading dash would be read as an option by git.
        raise UsageError(f"invalid git revision {rev!r}")
    result = _git(
        repo,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{rev}^{{commit}}",
        ok_codes=(0, 1, 128),
    )
    sha = result.stdout.strip()
    if result.returncode != 0 or not FULL_SHA.match(sha):
        raise UsageError(
            f"{rev!r} does not resolve to a commit in {repo}", hint="check the SHA with `git log --oneline`"
        )
    return sha


def has_path(repo: Path, sha: str, path: str) -> bool:
    """Whether commit ``sha`` contains ``path`` (a file or a directory)."""
    result = _git(repo, "cat-file", "-e", f"{sha}:{path.strip('/')}", ok_codes=(0, 1, 128))
    return result.returncode == 0


def read_bytes(repo: Path, sha: str, path: str) -> bytes | None:
    """The bytes of ``path`` as committed at ``sha``; None when the commit has no such file."""
    if not has_path(repo, sha, path):
        return None
    with tempfile.TemporaryFile() as blob:
        proc.run(
            ["git", "-C", str(repo), "cat-file", "blob", f"{sha}:{path.strip('/')}"],
            env=_GIT_ENV,
            install_hint=GIT_HINT,
            timeout=120,
            stdout_to=blob,
        )
        blob.seek(0)
        return blob.read()


def first_parent(repo: Path, sha: str) -> str | None:
    """The commit's first parent; None for a root commit."""
    result = _git(repo, "rev-parse", "--verify", "--quiet", f"{sha}^1", ok_codes=(0, 1, 128))
    parent = result.stdout.strip()
    return parent if result.returncode == 0 and FULL_SHA.match(parent) else None


def changed_paths(repo: Path, under: str) -> list[str]:
    """Paths under ``under`` (repository-relative) that differ from HEAD: modified or deleted in
    the work tree, staged, or untracked and not ignored (``.gitignore``). Renames give both names."""
    result = _git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", under.strip("/"))
    fields = result.stdout.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        paths.append(path)
        if "R" in status or "C" in status:  # -z: the original name follows as its own field
            paths.append(fields[i])
            i += 1
    return paths


def is_dirty(repo: Path, *, include_untracked: bool = True) -> bool:
    """Whether the work tree differs from HEAD (modified, staged or, by default, untracked files)."""
    untracked = "normal" if include_untracked else "no"
    result = _git(repo, "status", "--porcelain", f"--untracked-files={untracked}")
    return bool(result.stdout.strip())


def export_tree(repo: Path, sha: str, subdir: str, dest: Path) -> None:
    """Write the contents of ``subdir`` at commit ``sha`` into ``dest`` (created; must not exist).

    ``dest`` appears complete or not at all: the archive is unpacked next to it and renamed into
    place, so an interrupted export never leaves a half-written tree behind. UsageError when the
    commit has no such directory.
    """
    subdir = subdir.strip("/")
    if dest.exists():
        raise FileExistsError(dest)
    if not has_path(repo, sha, subdir):
        raise UsageError(f"commit {sha[:12]} has no {subdir}/ in {repo}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        archive = staging / "tree.tar"
        try:
            _git(repo, "archive", "--format=tar", f"--output={archive}", f"{sha}:{subdir}")
        except ProcessFailed as exc:
            raise UsageError(f"cannot export {subdir}/ of {sha[:12]}: {exc.message}") from exc
        unpacked = staging / "tree"
        unpacked.mkdir()
        with tarfile.open(archive) as tar:
            # The "data" filter refuses absolute paths, links out of the tree and device files.
            tar.extractall(unpacked, filter="data")
        os.replace(unpacked, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
