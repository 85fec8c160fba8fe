"""Issue 12 item 3: what "dirty" means for the images — only a change that would reach an image.

Real git on a repository laid out like this one (``apps/`` with this repository's own
``apps/.dockerignore``). The CI case is the auth action's credentials file: google-github-actions/auth
writes ``gha-creds-<16 [a-z0-9]>.json`` (its src/utils.ts, ``generateCredentialsFilename``) into
the checkout, an untracked file; a repository whose ``.gitignore`` does not list it (any fork made
before the entry, or a user's own repository) must still deploy.
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
import tarfile
from pathlib import Path

import pytest

from sreplat.tools import git
from sreplat.tools.gcp.cloudbuild import CloudBuildBuilder
from sreplat.tools.images.context import context_changes
from sreplat.tools.images.pipeline import build_and_push
from tests.doubles.cloudbuild import CloudBuildDouble
from tests.images.conftest import AppsRepo
from tests.support.git_repo import GitRepo

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "checkout")
    (repo.path / "apps").mkdir()
    shutil.copy(REPO_ROOT / "apps" / ".dockerignore", repo.path / "apps" / ".dockerignore")
    repo.commit(
        {
            "README.md": "# sreplat\n",
            ".gitignore": "__pycache__/\n*.py[cod]\n",  # no gha-creds entry
            "apps/Dockerfile": "FROM scratch AS api\n",
            "apps/pyproject.toml": "[project]\nname = 'sreplat-apps'\n",
            "apps/src/sreplat_apps/api.py": "app = None\n",
            "apps/tests/test_api.py": "def test(): pass\n",
        },
        "layout",
    )
    return repo


def write_auth_action_credentials(workspace: Path) -> Path:
    """What the auth action's Workload Identity client writes (an external_account config)."""
    path = workspace / f"gha-creds-{secrets.token_hex(8)}.json"
    path.write_text(
        json.dumps(
            {
                "type": "external_account",
                "audience": "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/"
                "p/providers/github",
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "token_url": "https://sts.googleapis.com/v1/token",
                "credential_source": {
                    "url": "https://pipelines.actions.githubusercontent.com/token?audience=x",
                    "headers": {"Authorization": "***"},
                    "format": {"type": "json", "subject_token_field_name": "value"},
                },
                "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/"
                "serviceAccounts/deployer@p.iam.gserviceaccount.com:generateAccessToken",
            }
        )
    )
    path.chmod(0o600)
    return path


def test_the_auth_actions_credentials_file_is_not_dirt(checkout: GitRepo) -> None:
    write_auth_action_credentials(checkout.path)
    assert git.is_dirty(checkout.path)  # what used to refuse the CI deploy
    assert context_changes(checkout.path, "apps") == []


def test_changes_outside_the_image_context_are_not_dirt(checkout: GitRepo) -> None:
    (checkout.path / "README.md").write_text("# edited\n")
    (checkout.path / "sreplat.toml").write_text("[environments.dev]\n")
    (checkout.path / "apps" / "tests" / "test_api.py").write_text("def test(): assert 1\n")  # .dockerignore'd
    (checkout.path / "apps" / "notes.txt").write_text("todo\n")
    (checkout.path / "apps" / "src" / "sreplat_apps" / "__pycache__").mkdir()
    (checkout.path / "apps" / "src" / "sreplat_apps" / "__pycache__" / "api.cpython-311.pyc").write_bytes(
        b"x"
    )
    assert context_changes(checkout.path, "apps") == []


def test_every_kind_of_change_that_reaches_an_image_is_dirt(checkout: GitRepo) -> None:
    apps = checkout.path / "apps"
    (apps / "src" / "sreplat_apps" / "api.py").write_text("app = 1\n")  # modified
    (apps / "src" / "sreplat_apps" / "new.py").write_text("x = 1\n")  # untracked
    (apps / "src" / "sreplat_apps" / "staged.py").write_text("y = 1\n")
    checkout.git("add", "apps/src/sreplat_apps/staged.py")  # staged
    (apps / "pyproject.toml").unlink()  # deleted
    (apps / ".dockerignore").write_text((apps / ".dockerignore").read_text() + "!tests\n")  # shapes it
    assert sorted(context_changes(checkout.path, "apps")) == [
        "apps/.dockerignore",
        "apps/pyproject.toml",
        "apps/src/sreplat_apps/api.py",
        "apps/src/sreplat_apps/new.py",
        "apps/src/sreplat_apps/staged.py",
    ]


def test_a_rename_counts_both_names(checkout: GitRepo) -> None:
    checkout.git("mv", "apps/src/sreplat_apps/api.py", "apps/src/sreplat_apps/web.py")
    assert sorted(context_changes(checkout.path, "apps")) == [
        "apps/src/sreplat_apps/api.py",
        "apps/src/sreplat_apps/web.py",
    ]


def test_a_clean_tree_is_built_from_the_commit_not_from_the_work_tree(
    apps_clone: AppsRepo,
    prefix: str,
    cloudbuild_builder: CloudBuildBuilder,
    cloudbuild_double: CloudBuildDouble,
    tmp_path: Path,
) -> None:
    """A file git ignores but the .dockerignore would let in (and the credentials file at the
    root) leave the tree clean, and never reach the context: it is the commit's apps/."""
    ignored = apps_clone.path / "apps" / "src" / "sreplat_apps" / "local_settings.py"
    ignored.write_text("SECRET = 'x'\n")
    (apps_clone.path / ".git" / "info" / "exclude").write_text("apps/src/sreplat_apps/local_settings.py\n")
    write_auth_action_credentials(apps_clone.path)
    manifest = build_and_push(
        sha="HEAD",
        registry_prefix=prefix,
        builder=cloudbuild_builder,
        repo=apps_clone.path,
        apps=("api",),
    )
    assert manifest.images["api"].tag == apps_clone.sha
    [build_id] = cloudbuild_double.sources
    with tarfile.open(fileobj=io.BytesIO(cloudbuild_double.sources[build_id]), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert any(n.startswith("src/sreplat_apps/") for n in names)
    assert "src/sreplat_apps/local_settings.py" not in names
