"""What the verbs print: text and JSON lines with the same facts; plan and --dry-run touch nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sreplat import __version__
from tests.support.git_repo import GitRepo
from tests.unit.cli.conftest import Cli

BOOTSTRAP_STEPS = ["prepare", "release", "supervisord", "redis", "api", "workers", "verify"]
ANSI = re.compile(r"\x1b\[")


def test_version(cli: Cli) -> None:
    assert cli("version").out.strip().startswith(f"sreplat {__version__}")
    [line] = cli("version", "-o", "json").json_lines()
    assert line["version"] == __version__ and line["verb"] == "version"


@pytest.mark.parametrize("argv", [["plan"], ["bootstrap", "--dry-run"]])
def test_plan_of_bootstrap_prints_ordered_steps_and_creates_nothing(
    cli: Cli, state_root: Path, argv: list[str]
) -> None:
    result = cli(*argv)
    assert result.code == 0
    assert "nothing will be changed" in result.out
    rows = [line.split() for line in result.out.splitlines() if line[:1].isdigit()]
    assert [row[1] for row in rows] == BOOTSTRAP_STEPS
    assert not ANSI.search(result.out + result.err)  # NO_COLOR is set by the suite
    assert not state_root.exists()


def test_plan_as_json_lines_has_the_same_steps(cli: Cli, state_root: Path) -> None:
    lines = cli("plan", "-o", "json").json_lines()
    assert lines[0]["event"] == "run.start" and lines[0]["log"] is None
    steps = [line for line in lines if line["event"] == "plan.step"]
    assert [s["step"] for s in steps] == BOOTSTRAP_STEPS
    assert steps[4]["needs"] == ["redis", "release"]
    assert lines[-1] == {
        "event": "result",
        "verb": "plan",
        "plan_of": "bootstrap",
        "env": "local",
        "target": "local",
        "steps": BOOTSTRAP_STEPS,
    }
    assert not state_root.exists()


def test_plan_of_deploy_resolves_the_sha(cli: Cli, work: Path, state_root: Path) -> None:
    sha = GitRepo(work).commit({"apps/src/sreplat_apps/__init__.py": ""})
    lines = cli("plan", "deploy", "--sha", sha[:8], "-o", "json").json_lines()
    assert [line["step"] for line in lines if line["event"] == "plan.step"] == [
        "export",
        "smoke-test",
        "activate",
        "prune",
    ]
    assert lines[-1]["sha"] == sha
    assert cli("deploy", "--sha", sha[:8], "--dry-run").code == 0
    assert not state_root.exists()


def test_plan_of_destroy(cli: Cli, state_root: Path) -> None:
    result = cli("plan", "destroy")
    assert result.code == 0 and "stop" in result.out and "leftovers" in result.out
    assert not state_root.exists()


def test_status_of_an_environment_that_was_never_bootstrapped(cli: Cli, state_root: Path) -> None:
    text = cli("status")
    assert text.code == 3
    assert "UNHEALTHY" in text.out and "not bootstrapped" in text.out
    lines = cli("status", "-o", "json").json_lines()
    assert [line["event"] for line in lines] == ["run.start", "check", "result"]
    assert lines[1]["verdict"] == "unhealthy" and lines[1]["summary"] == "not bootstrapped"
    assert lines[-1]["healthy"] is False
    assert not state_root.exists()


def test_doctor_lists_each_prerequisite_with_a_verdict(cli: Cli) -> None:
    lines = cli("doctor", "-o", "json").json_lines()
    checks = {line["check"]: line for line in lines if line["event"] == "check"}
    for name in ("python", "redis-server", "git", "supervisor", "apps", "port 8080", "port 6379"):
        assert name in checks
    assert checks["python"]["verdict"] == "healthy"
    assert checks["terraform"].get("required") is False
