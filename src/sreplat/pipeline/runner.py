"""The pipeline runner (DESIGN §4): dependency order, bounded concurrency, stop on first failure,
checkpoints so a re-run resumes, and a dry-run plan that touches nothing.

``run_pipeline(pipeline, sink=..., checkpoints=...)`` returns a ``PipelineResult``; it does not
raise for a failed step (the result carries the error: call ``raise_for_failure``), so the caller
can render every step's outcome first. Ctrl-C (KeyboardInterrupt in the main thread) forwards one
SIGINT to running children (``proc.interrupt_children``), cancels waits, lets running steps end,
and marks the result interrupted; steps that finished meanwhile are checkpointed.

Events (``Event.kind``): ``pipeline.start``, ``step.start``, ``step.progress`` (from steps),
``step.finish`` (status, duration_s, detail), ``pipeline.finish`` (ok, duration_s, counts).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from sreplat import proc
from sreplat.cancel import CancelToken
from sreplat.errors import Interrupted, OperationFailed, SreplatError
from sreplat.events import Event, EventSink, discard
from sreplat.pipeline.checkpoints import Checkpoints
from sreplat.pipeline.step import (
    Pipeline,
    Step,
    StepContext,
    StepOutcome,
    StepResult,
    StepStatus,
    StoredOutput,
)

log = logging.getLogger("sreplat.pipeline")


@dataclass(frozen=True)
class PipelineResult:
    name: str
    outcomes: tuple[StepOutcome, ...]
    duration_s: float
    interrupted: bool = False
    error: SreplatError | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted

    @property
    def changed(self) -> bool:
        """Whether any step did work in this run (False: everything was already in place)."""
        return any(o.status is StepStatus.OK and not o.verifies for o in self.outcomes)

    @property
    def facts(self) -> dict[str, Any]:
        """Public data of every succeeded step, merged in pipeline order."""
        merged: dict[str, Any] = {}
        for outcome in self.outcomes:
            if outcome.status.succeeded:
                merged.update(outcome.data)
        return merged

    def outcome(self, step: str) -> StepOutcome:
        return next(o for o in self.outcomes if o.name == step)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[str(outcome.status)] = counts.get(str(outcome.status), 0) + 1
        return counts

    def raise_for_failure(self) -> None:
        if self.interrupted:
            raise Interrupted(f"{self.name} interrupted; run it again to resume")
        if self.error is not None:
            raise self.error


@dataclass(frozen=True)
class PlannedStep:
    name: str
    level: int
    needs: tuple[str, ...]
    description: str
    resumed: bool  # an earlier unfinished run did it; a run now would skip it
    # Steps that may run at the same time as this one: neither needs the other, even indirectly
    # (empty when the pipeline runs one step at a time).
    alongside: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "level": self.level,
            "needs": list(self.needs),
            "description": self.description,
            "resumed": self.resumed,
            "alongside": list(self.alongside),
        }


@dataclass(frozen=True)
class Plan:
    pipeline: str
    steps: tuple[PlannedStep, ...]


def plan(pipeline: Pipeline, checkpoints: Checkpoints | None = None) -> Plan:
    """The ordered steps a run would execute; reads checkpoints, runs and writes nothing."""
    done = checkpoints.done() if checkpoints else {}
    alongside = _alongside(pipeline)
    steps = [
        PlannedStep(
            name=s.name,
            level=level,
            needs=s.needs,
            description=s.description,
            resumed=s.resumable and s.name in done,
            alongside=alongside[s.name],
        )
        for level, group in enumerate(pipeline.levels())
        for s in group
    ]
    return Plan(pipeline=pipeline.name, steps=tuple(steps))


def _alongside(pipeline: Pipeline) -> dict[str, tuple[str, ...]]:
    """For each step, the steps unrelated to it by dependency (in run order): those it may
    overlap with when the runner has a free slot."""
    order = pipeline.order()
    before: dict[str, set[str]] = {}  # every step a step waits for, directly or not
    for s in order:
        before[s.name] = set(s.needs).union(*(before[n] for n in s.needs))
    if pipeline.max_parallel <= 1:
        return {s.name: () for s in order}
    return {
        s.name: tuple(
            o.name
            for o in order
            if o.name != s.name and o.name not in before[s.name] and s.name not in before[o.name]
        )
        for s in order
    }


class _CtrlC:
    """Ctrl-C presses, counted by the SIGINT handler and acted on by the scheduling loop.

    The handler only counts: it runs in the main thread wherever that thread is, possibly inside
    a write of a log record, and logging from there writes to the same stream again ("reentrant
    call", printed as a "--- Logging error ---" traceback on the second Ctrl-C).
    """

    def __init__(self) -> None:
        self.presses = 0
        self._acknowledged = 1  # the first press is announced by the run's on_interrupt

    @property
    def pressed(self) -> bool:
        return self.presses > 0

    def pressed_again(self) -> bool:
        """True once for each press after the first, when the loop gets to it."""
        if self.presses > self._acknowledged:
            self._acknowledged = self.presses
            return True
        return False


@contextlib.contextmanager
def _sigint_flag() -> Iterator[_CtrlC]:
    """Turn SIGINT into a count the scheduling loop polls, instead of a KeyboardInterrupt that
    could land between two lines of bookkeeping. Main thread only (elsewhere: unchanged)."""
    flag = _CtrlC()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        flag.presses += 1  # nothing else here: see _CtrlC

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _as_error(step: str, exc: BaseException) -> SreplatError:
    if isinstance(exc, SreplatError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(f"interrupted during {step}")
    # A bug, not an expected failure: keep the traceback for -v and the run log.
    detail = "".join(traceback.format_exception(exc))
    return OperationFailed(f"step {step} failed unexpectedly: {type(exc).__name__}: {exc}", detail=detail)


class _Run:
    def __init__(self, pipeline: Pipeline, sink: EventSink, checkpoints: Checkpoints | None):
        self.pipeline = pipeline
        self.sink = sink
        self.checkpoints = checkpoints
        self.cancel = CancelToken()
        self.outcomes: dict[str, StepOutcome] = {}
        self.error: SreplatError | None = None
        self.interrupted = False

    def emit(self, kind: str, message: str = "", step: str | None = None, **data: Any) -> None:
        self.sink(Event(kind=kind, message=message, step=step, data=data))

    def inputs_for(self, step: Step) -> Mapping[str, StoredOutput]:
        return {n: self.outcomes[n].output for n in step.needs}

    def execute(self, step: Step) -> StepOutcome:
        """Runs in a pool thread; never raises."""
        ctx = StepContext(step.name, sink=self.sink, inputs=self.inputs_for(step), cancel=self.cancel)
        self.emit("step.start", step.description or step.name, step=step.name)
        started = time.monotonic()
        try:
            ctx.check_cancelled()
            result = step.run(ctx) or StepResult.ok()
        except BaseException as exc:
            error = _as_error(step.name, exc)
            log.debug("step %s failed", step.name, exc_info=exc)
            return StepOutcome(
                step.name,
                StepStatus.FAILED,
                error.one_line(),
                {},
                time.monotonic() - started,
                error,
                step.verifies,
            )
        duration = time.monotonic() - started
        if result.status is StepStatus.FAILED:
            error = OperationFailed(f"{step.name}: {result.detail or 'failed'}")
            return StepOutcome(
                step.name, StepStatus.FAILED, result.detail, result.data, duration, error, step.verifies
            )
        if self.checkpoints is not None and step.resumable:
            output = result.output.to_json() if result.output is not None else None
            self.checkpoints.record(step.name, result.data, output)
        return StepOutcome(
            step.name, result.status, result.detail, result.data, duration, None, step.verifies, result.output
        )

    @property
    def stopping(self) -> bool:
        return self.interrupted or self.error is not None

    def finish(self, outcome: StepOutcome) -> None:
        if outcome.name in self.outcomes:
            return  # already recorded (a Ctrl-C landed between recording and bookkeeping)
        self.outcomes[outcome.name] = outcome
        if outcome.status is StepStatus.FAILED and outcome.error is not None:
            if isinstance(outcome.error, Interrupted):
                self.interrupted = True
            elif self.error is None:
                self.error = _as_error(outcome.name, outcome.error)
        self.emit(
            "step.finish",
            outcome.detail,
            step=outcome.name,
            status=str(outcome.status),
            duration_s=round(outcome.duration_s, 3),
        )

    def on_interrupt(self) -> None:
        if not self.interrupted:
            log.warning("interrupted: stopping %s after the running steps end", self.pipeline.name)
        self.interrupted = True
        self.cancel.cancel()
        proc.interrupt_children()


def run_pipeline(
    pipeline: Pipeline,
    *,
    sink: EventSink = discard,
    checkpoints: Checkpoints | None = None,
    max_parallel: int | None = None,
    stop: CancelToken | None = None,
) -> PipelineResult:
    """Run ``pipeline``: ready steps concurrently (at most ``max_parallel``), in dependency order.

    Stops scheduling at the first failure, at Ctrl-C or when ``stop`` is cancelled (as Ctrl-C
    does: waits wake up, children get one SIGINT) and waits for running steps. Steps recorded
    in ``checkpoints`` (and ``resumable``) are not run again: they finish as ``resumed`` with
    their recorded data. On full success the checkpoints are cleared.
    """
    run = _Run(pipeline, sink, checkpoints)
    started = time.monotonic()
    done_before = checkpoints.done() if checkpoints else {}
    order = pipeline.order()
    run.emit(
        "pipeline.start",
        f"{pipeline.name}: {len(order)} steps",
        pipeline=pipeline.name,
        steps=[s.name for s in order],
        resumed=[s.name for s in order if s.resumable and s.name in done_before],
    )
    pending = list(order)
    running: dict[Future[StepOutcome], Step] = {}
    limit = max(1, max_parallel or pipeline.max_parallel)

    def schedule(pool: ThreadPoolExecutor) -> None:
        progressed = True
        while progressed and not run.stopping:
            progressed = False
            for s in list(pending):
                if len(running) >= limit:
                    return
                if not all(n in run.outcomes and run.outcomes[n].status.succeeded for n in s.needs):
                    continue
                pending.remove(s)
                progressed = True
                if s.resumable and s.name in done_before:
                    done = done_before[s.name]
                    resumed = StepOutcome(
                        s.name, StepStatus.RESUMED, "done by an earlier run", done.data, output=done.output
                    )
                    run.finish(resumed)
                else:
                    running[pool.submit(run.execute, s)] = s

    pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"step-{pipeline.name}")
    with _sigint_flag() as ctrl_c:
        try:
            while True:
                try:
                    if ctrl_c.pressed or (stop is not None and stop.cancelled):
                        run.on_interrupt()
                    if ctrl_c.pressed_again():
                        log.warning("still stopping: waiting for the running steps to end")
                    schedule(pool)
                    if not running:
                        break  # all done, or stopped, or the rest waits on a failed step
                    finished, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in finished:
                        run.finish(future.result())
                        running.pop(future)
                except KeyboardInterrupt:  # only when the flag handler could not be installed
                    run.on_interrupt()
        finally:
            pool.shutdown(wait=True)
    for s in pending:
        run.outcomes[s.name] = StepOutcome(s.name, StepStatus.NOT_RUN, "not started")
    outcomes = tuple(run.outcomes[s.name] for s in order)
    result = PipelineResult(
        name=pipeline.name,
        outcomes=outcomes,
        duration_s=time.monotonic() - started,
        interrupted=run.interrupted,
        error=run.error,
    )
    if result.ok and checkpoints is not None:
        checkpoints.clear()
    run.emit(
        "pipeline.finish",
        f"{pipeline.name}: {'ok' if result.ok else 'interrupted' if result.interrupted else 'failed'}",
        pipeline=pipeline.name,
        ok=result.ok,
        interrupted=result.interrupted,
        duration_s=round(result.duration_s, 3),
        counts=result.counts(),
    )
    return result
