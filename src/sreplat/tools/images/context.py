"""What makes a work tree "dirty" for the images: a change that would reach an image.

An image tagged with a commit's SHA must be that commit. The images are built from ``apps/`` (the
build context) minus what ``apps/.dockerignore`` keeps out, so only a change there can make the tag
lie: a path under ``apps/`` that is modified, deleted, staged, or untracked and not ignored by git,
and that the ``.dockerignore`` rules let into the context (the same matcher the builders use to
pack it: ``docker.utils.build``). Everything else — the credentials file
``google-github-actions/auth`` writes at the checkout's root (``gha-creds-*.json``), a local
``sreplat.toml``, notes, tests — is not dirt. A changed ``.dockerignore`` or ``Dockerfile`` always
is (they decide what is built).

A clean tree's images are then built from the commit itself (``git archive``), so files git
ignores can never reach an image either; ``--allow-dirty`` builds the work tree as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from sreplat.tools import git

DOCKERIGNORE = ".dockerignore"
ALWAYS = (DOCKERIGNORE, "Dockerfile")


def context_changes(repo: Path, context_subdir: str) -> list[str]:
    """Repository-relative paths whose change would reach an image built from ``context_subdir``."""
    from docker.utils.build import PatternMatcher

    context = context_subdir.strip("/")
    changed = [p for p in git.changed_paths(repo, context) if p.startswith(context + "/")]
    if not changed:
        return []
    ignore = repo / context / DOCKERIGNORE
    patterns = []
    if ignore.is_file():
        patterns = [
            line.strip()
            for line in ignore.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    matcher = PatternMatcher(patterns)

    def excluded(inside: str) -> bool:
        return bool(matcher.matches(cast(Any, inside)))  # the stubs say PathLike; it takes str

    inside = {path: path[len(context) + 1 :] for path in changed}
    return [path for path in changed if inside[path] in ALWAYS or not excluded(inside[path])]


def describe(paths: list[str], *, shown: int = 3) -> str:
    """``apps/src/x.py, apps/pyproject.toml and 2 more``."""
    head = ", ".join(paths[:shown])
    return head + (f" and {len(paths) - shown} more" if len(paths) > shown else "")
