"""Bad input exits 2 with one line and changes nothing; other refusals keep their exit codes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sreplat.tools.local import processes
from tests.support.git_repo import GitRepo
from tests.support.local_env import port_settings, set_flags
from tests.unit.cli.conftest import Cli


def snapshot(root: Path) -> dict[str, tuple[int, float]]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*")}


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["bootstrap", "--bogus"],
        ["launch"],
        ["deploy"],  # --sha is required
        ["status", "--output", "yaml"],
        ["plan", "everything"],
    ],
)
def test_wrong_flags_exit_2_with_one_line(cli: Cli, state_root: Path, argv: list[str]) -> None:
    result = cli(*argv)
    assert result.code == 2
    one_line_error(result.err)
    assert not state_root.exists()


def test_unknown_environment(cli: Cli, state_root: Path) -> None:
    result = cli("--env", "prod", "bootstrap")
    assert result.code == 2
    assert "unknown environment 'prod'" in one_line_error(result.err)
    assert not state_root.exists()


def test_bad_config_value_from_env_var(cli: Cli, state_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SREPLAT_API_PORT", "eighty")
    result = cli("bootstrap", "--yes")
    assert result.code == 2
    line = one_line_error(result.err)
    assert "api_port = 'eighty'" in line and "SREPLAT_API_PORT" in line
    assert not state_root.exists()


def test_bad_config_file(cli: Cli, work: Path, state_root: Path) -> None:
    (work / "sreplat.toml").write_text('[environments.dev]\ntarget = "gcp"\nproject = "x"\n')
    result = cli("-e", "dev", "status")
    assert result.code == 2
    assert "project = 'x'" in one_line_error(result.err)
    assert not state_root.exists()


def test_a_float_port_in_the_file_is_a_type_error(cli: Cli, work: Path, state_root: Path) -> None:
    (work / "sreplat.toml").write_text("[environments.local]\napi_port = 18080.0\n")
    result = cli("bootstrap", "--yes")
    assert result.code == 2
    assert "api_port = 18080.0" in (line := one_line_error(result.err)) and "integer" in line
    assert not state_root.exists()


def test_two_environments_on_one_port_exit_2_naming_both(cli: Cli, work: Path, state_root: Path) -> None:
    ports = port_settings()
    (work / "sreplat.toml").write_text(
        "[environments.blue]\n"
        + "".join(f"{key} = {value}\n" for key, value in ports.items())
        + f"[environments.green]\nredis_port = {ports['api_port']}\n"
    )
    for env in ("blue", "green"):
        result = cli("--env", env, "bootstrap", "--yes")
        assert result.code == 2
        line = one_line_error(result.err)
        assert "'blue' and 'green'" in line and f"port {ports['api_port']}" in line
    assert not state_root.exists()


def test_json_output_reports_usage_errors_as_json(cli: Cli) -> None:
    result = cli("status", "-o", "json", "--bogus")
    assert result.code == 2
    [line] = result.json_lines()
    assert line["event"] == "error" and line["exit_code"] == 2


@pytest.mark.parametrize("sha", ["xyz", "HEAD", "12345"])
def test_deploy_sha_must_be_hex(cli: Cli, state_root: Path, sha: str) -> None:
    result = cli("deploy", "--sha", sha)
    assert result.code == 2
    assert "invalid SHA" in one_line_error(result.err)
    assert not state_root.exists()


def test_deploy_of_a_sha_that_does_not_resolve_changes_nothing(
    cli: Cli, work: Path, state_root: Path
) -> None:
    repo = GitRepo(work)
    repo.commit({"apps/src/sreplat_apps/__init__.py": ""})
    # An environment that exists: its state must stay exactly as it is.
    existing = state_root / "local"
    (existing / "releases").mkdir(parents=True)
    (existing / "local.json").write_text("{}")
    before = snapshot(state_root)
    result = cli("deploy", "--sha", "0123456789abcdef")
    assert result.code == 2
    assert "does not resolve" in one_line_error(result.err)
    assert snapshot(state_root) == before


def test_deploy_of_a_commit_without_the_apps(cli: Cli, work: Path, state_root: Path) -> None:
    sha = GitRepo(work).commit({"README": "no apps here"})
    result = cli("deploy", "--sha", sha[:10])
    assert result.code == 2
    assert "has no apps/src/sreplat_apps" in one_line_error(result.err)
    assert not state_root.exists()


def test_deploy_to_an_environment_that_is_not_up(cli: Cli, work: Path, state_root: Path) -> None:
    sha = GitRepo(work).commit({"apps/src/sreplat_apps/__init__.py": ""})
    result = cli("deploy", "--sha", sha)
    assert result.code == 1
    assert "is not running" in one_line_error(result.err)
    assert not state_root.exists()


@pytest.mark.signing
def test_a_local_environment_that_requires_signed_commits_refuses_an_unsigned_one(
    cli: Cli, work: Path, state_root: Path
) -> None:
    """Off by default for local; on, the same refusal as gcp, before the environment is even
    looked at (it is not running here: that would be exit 1)."""
    repo = GitRepo(work)
    repo.commit({".github/allowed_signers": "alice@example.com ssh-ed25519 AAAA\n"})
    sha = repo.commit({"apps/src/sreplat_apps/__init__.py": ""})

    result = cli("deploy", "--sha", sha, "--set", "require_signed_commits=true")

    assert result.code == 2
    line = one_line_error(result.err)
    assert f"commit {sha[:12]} is not signed" in line and ".github/allowed_signers as of" in line
    assert not state_root.exists()


def test_a_taken_port_fails_before_anything_starts(cli: Cli, state_root: Path) -> None:
    ports = port_settings()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", ports["redis_port"]))
        blocker.listen()
        result = cli("bootstrap", *set_flags(ports))
    assert result.code == 1
    line = one_line_error(result.err)
    assert f"port {ports['redis_port']} (redis) is already in use by python" in line
    assert "redis_port" in line  # the hint says which setting to change
    assert not state_root.exists()


def test_a_held_lock_exits_4_naming_the_holder(cli: Cli, state_root: Path) -> None:
    holder_code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from sreplat.pipeline import EnvironmentLock
        lock = EnvironmentLock(Path({str(state_root / "local")!r}), "local")
        lock.acquire("sreplat deploy")
        print("held", flush=True)
        sys.stdin.readline()
    """)
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = cli("bootstrap", *set_flags(port_settings()))
        assert result.code == 4
        line = one_line_error(result.err)
        assert f"locked by pid {holder.pid} (sreplat deploy" in line
        started = [f for f in processes.find(str(state_root) + os.sep) if f.pid != holder.pid]
        assert started == []  # nothing was started
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def test_destroy_of_nothing_is_ok_and_creates_nothing(cli: Cli, state_root: Path) -> None:
    result = cli("destroy", "--yes")
    assert result.code == 0
    assert "nothing to destroy" in result.out
    assert not state_root.exists()


def test_destroy_needs_confirmation_without_a_terminal(cli: Cli, state_root: Path) -> None:
    (state_root / "local").mkdir(parents=True)
    before = snapshot(state_root)
    result = cli("destroy")
    assert result.code == 2
    assert "needs confirmation" in one_line_error(result.err)
    assert snapshot(state_root) == before


def test_destroy_refuses_a_protected_environment(cli: Cli, work: Path, state_root: Path) -> None:
    (work / "sreplat.toml").write_text("[environments.local]\nprotected = true\n")
    (state_root / "local").mkdir(parents=True)
    result = cli("destroy", "--yes")
    assert result.code == 2
    assert "protected" in one_line_error(result.err)
    assert (state_root / "local").is_dir()


def test_plan_deploy_needs_a_sha(cli: Cli) -> None:
    result = cli("plan", "deploy")
    assert result.code == 2
    assert "--sha" in one_line_error(result.err)


def test_a_broken_slo_file_stops_bootstrap_before_anything(
    cli: Cli, state_root: Path, tmp_path: Path
) -> None:
    slo_dir = tmp_path / "slo"
    slo_dir.mkdir()
    (slo_dir / "api.yaml").write_text("name: api\nservice: api\nobjective: 1.5\n")
    result = cli("bootstrap", "--set", f"slo_dir={slo_dir}", *set_flags(port_settings()))
    assert result.code == 2
    assert f"{slo_dir / 'api.yaml'}" in one_line_error(result.err)
    assert not state_root.exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["logs", "--since", "ten minutes"], "--since 'ten minutes': expected a duration"),
        (["logs", "--trace", "not-a-trace"], "--trace 'not-a-trace': expected a trace id of 32 hex digits"),
        (["logs", "database"], "'database' is not one of 'api', 'worker', 'redis'"),
    ],
)
def test_bad_logs_arguments_exit_2(cli: Cli, state_root: Path, argv: list[str], words: str) -> None:
    result = cli(*argv)
    assert result.code == 2
    assert words in one_line_error(result.err)
    assert not state_root.exists()


def test_logs_of_an_environment_never_bootstrapped(cli: Cli, state_root: Path) -> None:
    result = cli("logs")
    assert result.code == 1
    assert "has no logs (not bootstrapped" in one_line_error(result.err)
