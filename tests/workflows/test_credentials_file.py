"""Issue 12 item 3, repository side: the credentials file google-github-actions/auth writes into
the workspace (gha-creds-<random>.json in $GITHUB_WORKSPACE, its README; removed when the job
ends) must not make the work tree dirty, or the image step refuses to build.

A git repository with this repository's .gitignore gets the file where the action puts it (the
checkout's root); the image pipeline's own dirty check (sreplat.tools.git.is_dirty) must not
see it, while any other untracked file still counts.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

from sreplat.tools import git
from tests.workflows.workflows import REPO


def run(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


def test_the_auth_actions_credentials_file_does_not_dirty_the_tree(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    repo.mkdir()
    shutil.copy(REPO / ".gitignore", repo / ".gitignore")
    (repo / "apps").mkdir()
    (repo / "apps" / "Dockerfile").write_text("FROM scratch\n")
    run(repo, "init", "-q")
    run(repo, "add", "-A")
    run(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    assert not git.is_dirty(repo)

    (repo / f"gha-creds-{secrets.token_hex(8)}.json").write_text('{"type": "external_account"}')
    assert not git.is_dirty(repo), "the auth action's credentials file counts as a change"

    (repo / "stray.txt").write_text("x")
    assert git.is_dirty(repo), "other untracked files must still count"
