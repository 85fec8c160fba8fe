"""The Terraform driver against the real ``terraform`` binary, on fixture modules that use only
built-in resources (``terraform_data`` and the ``local-exec`` provisioner for slow steps)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sreplat.errors import ExitCode, ToolMissing, UsageError
from sreplat.events import Event
from sreplat.tools.terraform.driver import (
    MIN_VERSION,
    Terraform,
    TerraformFailed,
    TerraformLockHeld,
)

pytestmark = pytest.mark.terraform

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Value-42"


@pytest.fixture
def tf_env(tmp_path: Path) -> dict[str, str]:
    """A private TF_DATA_DIR, no plugin cache, and an empty CLI config (HOME is isolated)."""
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text("")
    return {"TF_DATA_DIR": str(tmp_path / "tfdata"), "TF_CLI_CONFIG_FILE": str(cli_config)}


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """A fresh copy of the ``basic`` fixture (its state lands in the copy)."""
    target = tmp_path / "basic"
    shutil.copytree(FIXTURES / "basic", target)
    return target


def make(workdir: Path, tf_env: dict[str, str], events: list[Event] | None = None, **kw: object) -> Terraform:
    sink: Callable[[Event], None] = events.append if events is not None else (lambda _e: None)
    return Terraform(workdir, env=tf_env, emit=sink, step="test", **kw)  # type: ignore[arg-type]


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def for_address(events: list[Event], kind: str) -> list[str]:
    return [str(e.data.get("address")) for e in events if e.kind == kind]


def test_version_meets_the_minimum(stack: Path, tf_env: dict[str, str]) -> None:
    tf = make(stack, tf_env)
    assert tf.check_version() >= MIN_VERSION
    assert tf.version() == tf.check_version()


def test_missing_binary_raises_tool_missing_with_an_install_hint(stack: Path, tf_env: dict[str, str]) -> None:
    tf = Terraform(stack, binary="terraform-not-installed-here", env=tf_env)
    with pytest.raises(ToolMissing) as info:
        tf.version()
    assert info.value.hint is not None and "install Terraform" in info.value.hint


def test_bad_input_is_refused_before_anything_runs(
    stack: Path, tf_env: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(UsageError):
        Terraform(tmp_path / "nowhere", env=tf_env)
    with pytest.raises(UsageError):
        Terraform(stack, env=tf_env, lock_timeout="soon")
    with pytest.raises(UsageError):
        Terraform(stack, env=tf_env, secrets={"bad name": "x"})
    tf = make(stack, tf_env)
    tf.init()
    with pytest.raises(UsageError):
        tf.plan(tmp_path / "p.tfplan", {"not valid": 1})
    assert not (tmp_path / "p.tfplan").exists()
    assert not (stack / "terraform.tfstate").exists()


def test_init_plan_apply_output_noop_destroy(stack: Path, tf_env: dict[str, str], tmp_path: Path) -> None:
    events: list[Event] = []
    tf = make(stack, tf_env, events)
    tf.init()

    variables = {"name": "alpha", "tags": {"team": "sre", "tier": "1"}}
    plan = tf.plan(tmp_path / "plans" / "a.tfplan", variables)
    assert plan.has_changes
    assert plan.plan_path.is_file()
    assert (plan.summary.add, plan.summary.change, plan.summary.destroy) == (2, 0, 0)
    assert {(c.address, c.action) for c in plan.resource_changes} == {
        ("terraform_data.fast", "create"),
        ("terraform_data.slow", "create"),
    }
    assert sorted(for_address(events, "terraform.planned_change")) == [
        "terraform_data.fast",
        "terraform_data.slow",
    ]
    summary_events = [e for e in events if e.kind == "terraform.change_summary"]
    assert summary_events[-1].data["add"] == 2 and summary_events[-1].data["operation"] == "plan"
    assert all(e.step == "test" for e in events)

    events.clear()
    applied = tf.apply(plan.plan_path)
    assert (applied.summary.add, applied.summary.change, applied.summary.destroy) == (2, 0, 0)
    for kind in ("terraform.apply_start", "terraform.apply_complete"):
        assert sorted(for_address(events, kind)) == ["terraform_data.fast", "terraform_data.slow"], kind
    ordered = kinds(events)
    assert ordered.index("terraform.apply_start") < ordered.index("terraform.apply_complete")
    assert "terraform.apply_errored" not in ordered

    assert tf.output() == {"name": "alpha", "tags": {"team": "sre", "tier": "1"}}

    again = tf.plan(tmp_path / "plans" / "b.tfplan", variables)
    assert not again.has_changes
    assert again.summary.total == 0
    assert again.resource_changes == ()

    changed = tf.plan(tmp_path / "plans" / "c.tfplan", {**variables, "name": "beta"})
    assert changed.has_changes
    assert [(c.address, c.action) for c in changed.resource_changes] == [("terraform_data.fast", "update")]

    destroy_plan = tf.plan(tmp_path / "plans" / "d.tfplan", variables, destroy=True)
    assert destroy_plan.destroy and destroy_plan.summary.destroy == 2

    events.clear()
    destroyed = tf.destroy(variables)
    assert destroyed.summary.destroy == 2
    assert sorted(for_address(events, "terraform.apply_complete")) == [
        "terraform_data.fast",
        "terraform_data.slow",
    ]
    assert tf.output() == {}
    assert tf.plan(tmp_path / "plans" / "e.tfplan", variables).summary.add == 2


def test_secrets_go_through_the_environment_and_are_redacted(
    stack: Path, tf_env: dict[str, str], tmp_path: Path
) -> None:
    events: list[Event] = []
    tf = make(stack, tf_env, events, secrets={"token": SECRET})
    tf.init()
    plan = tf.plan(tmp_path / "s.tfplan")
    tf.apply(plan.plan_path)
    echoed = [e for e in events if e.kind == "terraform.provision_progress" and "token=" in e.message]
    assert echoed, "the fixture echoes the secret through local-exec"
    everything = json.dumps([e.to_dict() for e in events])
    assert SECRET not in everything
    assert "token=***" in everything


def test_plan_diagnostics_are_readable_errors(tmp_path: Path, tf_env: dict[str, str]) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(FIXTURES / "broken", broken)
    events: list[Event] = []
    tf = make(broken, tf_env, events)
    tf.init()
    with pytest.raises(TerraformFailed) as info:
        tf.plan(tmp_path / "x.tfplan")
    err = info.value
    assert "Reference to undeclared input variable" in err.message
    assert "main.tf:3" in err.message
    assert err.detail is not None and 'variable with the name "missing"' in err.detail
    assert err.exit_code == ExitCode.FAILED
    assert any(d.summary == "Reference to undeclared input variable" for d in err.diagnostics)
    assert "terraform.diagnostic" in kinds(events)
    assert not (tmp_path / "x.tfplan").exists()


def test_init_syntax_error_is_a_readable_error(tmp_path: Path, tf_env: dict[str, str]) -> None:
    bad = tmp_path / "syntax"
    bad.mkdir()
    (bad / "main.tf").write_text('resource "terraform_data" "x" {\n  input = \n}\n')
    with pytest.raises(TerraformFailed) as info:
        make(bad, tf_env).init()
    assert "Invalid expression" in info.value.message
    assert "main.tf:2" in info.value.message


def test_a_run_blocked_by_the_state_lock_exits_4_and_names_the_holder(
    stack: Path, tf_env: dict[str, str], tmp_path: Path
) -> None:
    holder_events: list[Event] = []
    holder = make(stack, tf_env, holder_events)
    holder.init()
    plan = holder.plan(tmp_path / "slow.tfplan", {"delay": 5})
    failures: list[BaseException] = []

    def run_holder() -> None:
        try:
            holder.apply(plan.plan_path)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run_holder)
    thread.start()
    try:
        lock_file = stack / ".terraform.tfstate.lock.info"
        deadline = time.monotonic() + 60
        while "terraform_data.slow" not in for_address(holder_events, "terraform.apply_start"):
            assert time.monotonic() < deadline, "the slow apply never started"
            time.sleep(0.05)
        assert lock_file.exists()
        holder_info = json.loads(lock_file.read_text())

        with pytest.raises(TerraformLockHeld) as info:
            make(stack, tf_env).plan(tmp_path / "other.tfplan", {"delay": 5})
        err = info.value
        assert err.exit_code == ExitCode.LOCKED
        assert int(err.exit_code) == 4
        assert err.lock.id == holder_info["ID"]
        assert err.lock.who == holder_info["Who"] and err.lock.who in err.message
        assert "apply" in err.message
        assert err.hint is not None and f"force-unlock {err.lock.id}" in err.hint
        assert lock_file.exists(), "the blocked run must not unlock"
        assert not (tmp_path / "other.tfplan").exists()
    finally:
        thread.join(timeout=120)
    assert not failures, failures
    assert not (stack / ".terraform.tfstate.lock.info").exists()
    assert not make(stack, tf_env).plan(tmp_path / "after.tfplan", {"delay": 5}).has_changes


# Runs one apply the way the CLI would, printing events as JSON lines; exits with the error's code.
RUNNER = """
import json, sys
from sreplat.errors import SreplatError
from sreplat.tools.terraform.driver import Terraform

def emit(event):
    print(json.dumps(event.to_dict()), flush=True)

try:
    Terraform(sys.argv[1], emit=emit).apply(sys.argv[2])
except SreplatError as exc:
    print(json.dumps({"event": "error", "type": type(exc).__name__, "message": exc.message}), flush=True)
    sys.exit(int(exc.exit_code))
"""


@pytest.mark.slow
def test_ctrl_c_during_a_slow_apply_stops_terraform_gracefully(
    stack: Path, tf_env: dict[str, str], tmp_path: Path
) -> None:
    tf = make(stack, tf_env)
    tf.init()
    plan = tf.plan(tmp_path / "slow.tfplan", {"delay": 120})

    env = {**os.environ, **tf_env, "PYTHONPATH": str(REPO / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(stack), str(plan.plan_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[dict[str, object]] = []
    try:
        assert child.stdout is not None
        for raw in child.stdout:
            lines.append(json.loads(raw))
            if lines[-1].get("event") == "terraform.provision_start":
                break
        else:
            pytest.fail(f"the slow step never started: {lines} {child.stderr.read() if child.stderr else ''}")
        # Two Ctrl-C: the driver must forward exactly one (a second would make Terraform exit
        # immediately, "data loss may have occurred").
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        rest, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    lines += [json.loads(raw) for raw in rest.splitlines() if raw.strip()]

    assert child.returncode == int(ExitCode.INTERRUPTED) == 130, stderr
    assert lines[-1]["event"] == "error" and lines[-1]["type"] == "Interrupted"
    logs = [str(line.get("message", "")) for line in lines if line.get("event") == "terraform.log"]
    assert sum("Interrupt received" in m for m in logs) == 1, logs
    assert not any("Two interrupts" in m for m in logs), logs

    # State was written (the fast step is recorded), the lock released, and the next plan works.
    state = json.loads((stack / "terraform.tfstate").read_text())
    recorded = {f"{r['type']}.{r['name']}" for r in state["resources"]}
    assert "terraform_data.fast" in recorded
    assert not (stack / ".terraform.tfstate.lock.info").exists()
    after = tf.plan(tmp_path / "after.tfplan", {"delay": 0})
    assert after.has_changes
    assert [c.address for c in after.resource_changes] == ["terraform_data.slow"]
