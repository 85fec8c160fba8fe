"""Every action the workflows use runs on the Node 24 runtime and is pinned by a full commit SHA;
actionlint (workflows) and hadolint (the Dockerfile) pass, and still catch what they should."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.workflows.workflows import REPO, WORKFLOWS_DIR, uses_lines, workflow_files

# action -> (commit SHA of the release, the release, where the SHA and runtime were checked).
# GitHub retires the Node 20 runtime (github.blog changelog 2025-09-19); each entry is the first
# release of a major whose action.yml says `runs.using: node24`.
NODE24_RELEASES = {
    # v5.0.0 release notes: "Update actions checkout to use node 24" (actions/checkout#2226).
    "actions/checkout": ("08c6903cd8c0fde910a37f88322edcfb5dd907a8", "v5.0.0"),
    # v6.0.0 release notes: "Upgrade to node 24" (breaking change of v6).
    "actions/setup-python": ("e797f83bcb11b83ae66e0230d6156d7c80228e7c", "v6.0.0"),
    # v3 (tag v3.0.0 at this SHA) declares `using: node24`: google-github-actions/auth#514 shows the
    # runner refusing exactly this SHA on runners older than Node 24 support.
    "google-github-actions/auth": ("7c6bc770dae815cd3e89ee6cdf493a5fab2cc093", "v3.0.0"),
    # v4.0.0 release notes: one breaking change, "Upgrade to Node.js 24"; v4.0.1 a dependency fix.
    "hashicorp/setup-terraform": ("dfe3c3f87815947d99a8997f908cb6525fc44e9e", "v4.0.1"),
}
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


def test_every_action_is_a_node24_release_pinned_by_commit_sha() -> None:
    found = [u for path in workflow_files() for u in uses_lines(path)]
    assert len(found) >= 6, found
    for use in found:
        where = f"{use.workflow}:{use.line} {use.action}@{use.ref}"
        assert FULL_SHA.match(use.ref), f"{where}: pin by full commit SHA, not a tag or branch"
        assert use.action in NODE24_RELEASES, f"{where}: not a known Node 24 release (add it with its source)"
        sha, release = NODE24_RELEASES[use.action]
        assert (use.ref, use.comment) == (sha, release), f"{where}: expected {sha}  # {release}"


def test_the_pin_check_refuses_a_tag(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("jobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n")
    [use] = uses_lines(bad)
    assert (use.action, use.ref) == ("actions/checkout", "v4") and not FULL_SHA.match(use.ref)


def tool(name: str) -> str:
    local = REPO / ".venv" / "bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: `make .venv/.dev` installs it (pyproject.toml dev extra)")
    return found


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=REPO)


def test_actionlint_passes_on_the_workflows() -> None:
    result = run([tool("actionlint"), "-no-color", *map(str, workflow_files())])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_flags_a_node20_action_and_a_bad_expression(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo ${{ github.nope }}\n"
    )
    result = run([tool("actionlint"), "-no-color", str(bad)])
    assert result.returncode == 1
    assert "node20" in result.stdout and "nope" in result.stdout


def test_hadolint_passes_on_the_dockerfile_with_only_reasoned_ignores() -> None:
    config = REPO / ".hadolint.yaml"
    result = run([tool("hadolint"), "--config", str(config), str(REPO / "apps" / "Dockerfile")])
    assert result.returncode == 0, result.stdout + result.stderr
    lines = config.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.fullmatch(r"\s*-\s*DL\d{4}\s*", line):
            assert lines[number - 1].lstrip().startswith("#"), f"{line.strip()} has no reason above it"


def test_hadolint_still_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN cd /tmp && apt-get install curl\n")
    result = run([tool("hadolint"), "--config", str(REPO / ".hadolint.yaml"), str(bad)])
    assert result.returncode == 1
    assert "DL3007" in result.stdout  # :latest
    assert "DL3003" in result.stdout  # cd instead of WORKDIR


def test_workflows_dir_is_where_github_reads_it() -> None:
    assert WORKFLOWS_DIR.is_dir() and workflow_files()


def test_ci_deploys_build_with_the_runners_docker_engine() -> None:
    """The deployer has no Cloud Build rights (terraform/modules/iam: clusterViewer only), so a
    step that deploys must not leave `image_builder = "auto"` free to fall back to Cloud Build."""
    from tests.terraform.hcl import blocks, module_dir
    from tests.workflows.workflows import load

    deploying = [
        step
        for path in workflow_files()
        for job in load(path)["jobs"].values()
        for step in job.get("steps", [])
        if re.search(r"\bsreplat\b.*\bdeploy\b", step.get("run", ""))
    ]
    assert deploying, "no workflow step runs `sreplat deploy`"
    for step in deploying:
        assert step.get("env", {}).get("SREPLAT_IMAGE_BUILDER") == "docker", step.get("name")
    (roles,) = [v for v in blocks("variable", module_dir("iam")) if v.labels[0] == "deployer_roles"]
    assert not [r for r in roles.body["default"] if "cloudbuild" in r]
