"""The pipeline runner: order, bounded concurrency, first failure stops, checkpoints, plan, Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sreplat.errors import Interrupted, OperationFailed, UsageError
from sreplat.events import Event
from sreplat.pipeline import (
    Checkpoints,
    Pipeline,
    Step,
    StepContext,
    StepResult,
    StepStatus,
    plan,
    run_pipeline,
)


class Recorder:
    """Steps that record when they start and finish, and can be told to fail or wait."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[str] = []
        self.running = 0
        self.max_running = 0

    def step(
        self,
        name: str,
        needs: tuple[str, ...] = (),
        *,
        fail: Exception | None = None,
        gate: threading.Event | None = None,
        data: dict[str, Any] | None = None,
        resumable: bool = True,
        status: str = "ok",
    ) -> Step:
        def run(ctx: StepContext) -> StepResult:
            with self.lock:
                self.log.append(f"start {name}")
                self.running += 1
                self.max_running = max(self.max_running, self.running)
            try:
                if gate is not None:
                    assert gate.wait(30), f"{name}: gate never opened"
                if fail is not None:
                    raise fail
                if status == "skipped":
                    return StepResult.skipped("already there", **(data or {}))
                return StepResult.ok("done", **(data or {}))
            finally:
                with self.lock:
                    self.running -= 1
                    self.log.append(f"end {name}")

        return Step(name, run, needs=needs, description=f"do {name}", resumable=resumable)


@dataclass(frozen=True)
class Count:
    """Typed step data, as targets hand it on (round-trips through a checkpoint as JSON)."""

    n: int

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n}

    @classmethod
    def from_json(cls, data: Any) -> Count:
        return cls(int(data["n"]))


def test_dependencies_run_first_and_outputs_flow_to_dependents() -> None:
    seen: dict[str, Any] = {}

    def producer(n: int) -> Callable[[StepContext], StepResult]:
        return lambda ctx: StepResult.ok(output=Count(n), **{f"fact{n}": n})

    def consumer(ctx: StepContext) -> StepResult:
        seen.update(a=ctx.input("a", Count), b=ctx.input("b", Count))
        with pytest.raises(TypeError, match="a handed no str"):
            ctx.input("a", str)  # type: ignore[type-var]
        return StepResult.ok()

    rec = Recorder()
    pipeline = Pipeline(
        "p",
        (
            Step("a", producer(1)),
            Step("b", producer(2), needs=("a",)),
            rec.step("d", ("a",), data={"x": 1}),
            Step("c", consumer, needs=("a", "b")),
        ),
    )
    result = run_pipeline(pipeline)
    assert result.ok
    assert seen == {"a": Count(1), "b": Count(2)}
    assert result.facts == {"fact1": 1, "fact2": 2, "x": 1}


def test_a_resumed_step_hands_on_its_output_from_the_checkpoint(tmp_path: Path) -> None:
    got: list[Count] = []
    fail = [True]

    def consumer(ctx: StepContext) -> StepResult:
        if fail[0]:
            raise OperationFailed("not yet")
        got.append(ctx.input("a", Count))
        return StepResult.ok()

    pipeline = Pipeline(
        "p", (Step("a", lambda ctx: StepResult.ok(output=Count(7))), Step("b", consumer, ("a",)))
    )
    checkpoints = Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint="")
    assert not run_pipeline(pipeline, checkpoints=checkpoints).ok
    fail[0] = False
    again = run_pipeline(pipeline, checkpoints=Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint=""))
    assert again.outcome("a").status is StepStatus.RESUMED
    assert got == [Count(7)]  # rebuilt from the checkpoint's JSON


def test_independent_steps_run_concurrently_up_to_the_bound() -> None:
    rec = Recorder()
    gate = threading.Event()
    # Four independent steps; each waits for the gate, which opens once three are running.
    steps = [rec.step(f"s{i}", gate=gate) for i in range(4)]

    def opener() -> None:
        while True:
            with rec.lock:
                if rec.running >= 3:
                    break
            threading.Event().wait(0.01)
        gate.set()

    threading.Thread(target=opener, daemon=True).start()
    result = run_pipeline(Pipeline("p", tuple(steps)), max_parallel=3)
    assert result.ok
    assert rec.max_running == 3


def test_first_failure_stops_scheduling_and_running_steps_finish() -> None:
    rec = Recorder()
    gate = threading.Event()
    pipeline = Pipeline(
        "p",
        (
            rec.step("slow", gate=gate),
            rec.step("bad", fail=OperationFailed("boom")),
            rec.step("after-bad", ("bad",)),
            rec.step("after-slow", ("slow",)),
        ),
    )
    events: list[Event] = []

    def sink(event: Event) -> None:
        events.append(event)
        if event.kind == "step.finish" and event.step == "bad":
            gate.set()

    result = run_pipeline(pipeline, sink=sink, max_parallel=2)
    assert not result.ok
    statuses = {o.name: o.status for o in result.outcomes}
    assert statuses == {
        "slow": StepStatus.OK,
        "bad": StepStatus.FAILED,
        "after-bad": StepStatus.NOT_RUN,
        "after-slow": StepStatus.NOT_RUN,  # ready, but nothing new starts after a failure
    }
    with pytest.raises(OperationFailed, match="boom"):
        result.raise_for_failure()
    assert next(e.kind for e in events) == "pipeline.start"
    assert events[-1].kind == "pipeline.finish" and events[-1].data["ok"] is False


def test_error_type_survives_so_the_exit_code_does() -> None:
    result = run_pipeline(Pipeline("p", (Recorder().step("a", fail=UsageError("bad input")),)))
    with pytest.raises(UsageError):
        result.raise_for_failure()


def test_a_bug_in_a_step_becomes_operation_failed_naming_the_step() -> None:
    result = run_pipeline(Pipeline("p", (Recorder().step("a", fail=KeyError("oops")),)))
    assert isinstance(result.error, OperationFailed)
    assert "step a failed unexpectedly: KeyError" in result.error.message
    assert result.error.detail is not None and "Traceback" in result.error.detail


def test_a_rerun_resumes_after_the_last_successful_step(tmp_path: Path) -> None:
    attempts: list[str] = []
    broken = {"c": True}

    def make(name: str, resumable: bool = True) -> Step:
        def run(ctx: StepContext) -> StepResult:
            attempts.append(name)
            if broken.get(name):
                raise OperationFailed(f"{name} broke")
            return StepResult.ok(name, **{name: True})

        return Step(name, run, needs=() if name == "a" else ("a",), resumable=resumable)

    pipeline = Pipeline("p", (make("a"), make("b"), make("v", resumable=False), make("c")), fingerprint="f1")
    first = run_pipeline(pipeline, checkpoints=Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint="f1"))
    assert not first.ok
    assert sorted(attempts) == ["a", "b", "c", "v"]

    attempts.clear()
    broken["c"] = False
    second = run_pipeline(pipeline, checkpoints=Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint="f1"))
    assert second.ok
    assert sorted(attempts) == ["c", "v"]  # a and b resumed; v is not resumable
    assert second.outcome("a").status is StepStatus.RESUMED
    assert second.outcome("a").data == {"a": True}  # recorded data comes back
    assert not (tmp_path / "p.json").exists()  # cleared after full success

    attempts.clear()
    run_pipeline(pipeline, checkpoints=Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint="f1"))
    assert sorted(attempts) == ["a", "b", "c", "v"]  # a finished run leaves nothing to resume


def test_checkpoints_of_other_inputs_are_ignored(tmp_path: Path) -> None:
    Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint="old").record("a", {})
    ran: list[str] = []
    step = Step("a", lambda ctx: ran.append("a") or None)
    run_pipeline(
        Pipeline("p", (step,)), checkpoints=Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint="new")
    )
    assert ran == ["a"]


def test_plan_orders_steps_by_level_and_runs_nothing(tmp_path: Path) -> None:
    ran: list[str] = []

    def step(name: str, *needs: str) -> Step:
        return Step(name, lambda ctx: ran.append(name) or None, needs=needs, description=f"{name}!")

    pipeline = Pipeline("p", (step("d", "b", "c"), step("b", "a"), step("a"), step("c", "a")))
    Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint="").record("a", {})
    result = plan(pipeline, Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint=""))
    assert [(s.name, s.level) for s in result.steps] == [("a", 0), ("b", 1), ("c", 1), ("d", 2)]
    assert [s.resumed for s in result.steps] == [True, False, False, False]
    assert ran == []


def test_changed_ignores_skips_and_verifications() -> None:
    noop = Step("a", lambda ctx: StepResult.skipped("there"))
    check = Step("v", lambda ctx: StepResult.ok("fine"), needs=("a",), verifies=True)
    assert not run_pipeline(Pipeline("p", (noop, check))).changed
    work = Step("w", lambda ctx: StepResult.ok("made"))
    assert run_pipeline(Pipeline("p", (work,))).changed


@pytest.mark.parametrize(
    "steps",
    [
        (Step("a", lambda ctx: None, needs=("b",)), Step("b", lambda ctx: None, needs=("a",))),
        (Step("a", lambda ctx: None, needs=("zzz",)),),
        (Step("a", lambda ctx: None), Step("a", lambda ctx: None)),
    ],
)
def test_malformed_pipelines_are_rejected(steps: tuple[Step, ...]) -> None:
    with pytest.raises(ValueError):
        Pipeline("p", steps)


def test_ctrl_c_cancels_waits_lets_running_steps_end_and_keeps_their_checkpoints(tmp_path: Path) -> None:
    """A real SIGINT reaches the main thread while steps run in the pool."""

    def done_quickly(ctx: StepContext) -> StepResult:
        return StepResult.ok()

    def waits_forever(ctx: StepContext) -> StepResult:
        ctx.wait_until(lambda: "never", timeout_s=60, what="never ready")
        return StepResult.ok()

    def press_ctrl_c(ctx: StepContext) -> StepResult:
        os.kill(os.getpid(), signal.SIGINT)
        ctx.sleep(30)  # cancelled by the runner
        return StepResult.ok()

    pipeline = Pipeline(
        "p",
        (
            Step("first", done_quickly),
            Step("waiter", waits_forever, needs=("first",)),
            Step("ctrl-c", press_ctrl_c, needs=("first",)),
            Step("last", done_quickly, needs=("waiter", "ctrl-c")),
        ),
    )
    checkpoints = Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint="")
    result = run_pipeline(pipeline, checkpoints=checkpoints)
    assert result.interrupted and not result.ok
    assert result.outcome("first").status is StepStatus.OK
    assert result.outcome("waiter").status is StepStatus.FAILED
    assert result.outcome("last").status is StepStatus.NOT_RUN
    with pytest.raises(Interrupted):
        result.raise_for_failure()
    assert set(Checkpoints.in_dir(tmp_path, pipeline="p", fingerprint="").done()) == {"first"}


def test_wait_until_reports_the_last_reason() -> None:
    ctx = StepContext("s")
    with pytest.raises(OperationFailed, match="thing never came within 0s: still 3"):
        ctx.wait_until(lambda: "still 3", timeout_s=0.05, what="thing never came", interval_s=0.01)
