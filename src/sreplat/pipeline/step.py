"""Steps and pipelines: the unit every target's bootstrap/deploy/destroy is made of (DESIGN §4).

A ``Step`` has a name, the names of the steps it needs, and ``run(ctx)``. ``run`` returns a
``StepResult`` (or ``None``, meaning ok), and raises a ``SreplatError`` to fail. Steps are
idempotent: finding the thing already there is ``StepResult.skipped("...")``, not an error, so a
re-run after any failure is safe.

A ``Pipeline`` is a named set of steps. ``fingerprint`` identifies its inputs (the SHA being
deployed, the settings that shape what is created): checkpoints recorded under another
fingerprint are ignored, so a resumed run never skips work done for different inputs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sreplat.errors import Interrupted, OperationFailed
from sreplat.events import Event, EventSink, discard


class StepStatus(StrEnum):
    OK = "ok"  # the step did its work
    SKIPPED = "skipped"  # nothing to do: already in the wanted state
    RESUMED = "resumed"  # done by an earlier, unfinished run (from its checkpoint); not re-run
    FAILED = "failed"
    NOT_RUN = "not-run"  # never started: an earlier failure or Ctrl-C stopped the run

    @property
    def succeeded(self) -> bool:
        return self in (StepStatus.OK, StepStatus.SKIPPED, StepStatus.RESUMED)


@dataclass(frozen=True)
class StepResult:
    """What a step reports. ``data`` holds JSON-able facts: dependents read them through
    ``ctx.outputs[step]``, they are saved in the checkpoint, and the verb's result shows them
    (keys starting with ``_`` stay internal; ``summary`` is the run's headline when present).
    """

    status: StepStatus = StepStatus.OK
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, detail: str = "", **data: Any) -> StepResult:
        return cls(StepStatus.OK, detail, data)

    @classmethod
    def skipped(cls, detail: str, **data: Any) -> StepResult:
        return cls(StepStatus.SKIPPED, detail, data)


@dataclass(frozen=True)
class StepOutcome:
    """How one step of a run ended: its result, its duration and, when it failed, the error."""

    name: str
    status: StepStatus
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    error: BaseException | None = field(default=None, compare=False, repr=False)
    verifies: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.name,
            "status": str(self.status),
            "duration_s": round(self.duration_s, 3),
        }
        if self.detail:
            out["detail"] = self.detail
        return out


class CancelToken:
    """Set when the run must stop (Ctrl-C). Long waits in steps poll it through the context."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(seconds)


class StepContext:
    """What a running step gets: its name, an event sink, its dependencies' data, cancellation.

    ``emit`` tags events with the step's name. ``sleep`` and ``wait_until`` raise ``Interrupted``
    as soon as the run is cancelled, so a step waiting for readiness stops on Ctrl-C.
    """

    def __init__(
        self,
        step: str,
        *,
        sink: EventSink = discard,
        outputs: Mapping[str, Mapping[str, Any]] | None = None,
        cancel: CancelToken | None = None,
    ):
        self.step = step
        self._sink = sink
        self.outputs: Mapping[str, Mapping[str, Any]] = outputs or {}
        self.cancel = cancel or CancelToken()
        self.log = logging.getLogger(f"sreplat.step.{step}")

    def emit(self, kind: str, message: str = "", **data: Any) -> None:
        self._sink(Event(kind=kind, message=message, step=self.step, data=data))

    def progress(self, message: str, **data: Any) -> None:
        """Say what the step is doing now (shown next to its spinner)."""
        self.emit("step.progress", message, **data)

    @property
    def sink(self) -> EventSink:
        """An EventSink tagging events with this step, for passing to tools."""

        def tagged(event: Event) -> None:
            if event.step is None:
                event = Event(
                    kind=event.kind, message=event.message, step=self.step, data=event.data, ts=event.ts
                )
            self._sink(event)

        return tagged

    def check_cancelled(self) -> None:
        if self.cancel.cancelled:
            raise Interrupted(f"interrupted during {self.step}")

    def sleep(self, seconds: float) -> None:
        if self.cancel.wait(seconds):
            raise Interrupted(f"interrupted during {self.step}")

    def wait_until(
        self,
        probe: Callable[[], str | None],
        *,
        timeout_s: float,
        what: str,
        interval_s: float = 0.25,
        hint: str | None = None,
    ) -> None:
        """Poll ``probe`` until it returns ``None`` (done); it returns why not yet, otherwise.

        Raises OperationFailed naming ``what`` and the last reason after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        reason: str | None = "not checked yet"
        while True:
            self.check_cancelled()
            reason = probe()
            if reason is None:
                return
            if time.monotonic() >= deadline:
                raise OperationFailed(f"{what} within {timeout_s:.0f}s: {reason}", hint=hint)
            self.sleep(interval_s)


StepFn = Callable[[StepContext], StepResult | None]


@dataclass(frozen=True)
class Step:
    """One node of a pipeline.

    ``resumable``: a success recorded by an earlier unfinished run lets a re-run skip this step.
    Leave it True for steps that produce lasting things (files, cloud resources); set it False
    for steps whose effect can silently go away (a started process) or that verify.
    ``verifies``: the step only checks; its success does not count as a change (so a bootstrap
    of an environment that is up reports "nothing changed").
    """

    name: str
    run: StepFn
    needs: tuple[str, ...] = ()
    description: str = ""
    resumable: bool = True
    verifies: bool = False


@dataclass(frozen=True)
class Pipeline:
    """A named DAG of steps run by ``pipeline.runner.run_pipeline``."""

    name: str
    steps: tuple[Step, ...]
    fingerprint: str = ""
    max_parallel: int = 4

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"pipeline {self.name}: duplicate steps {sorted(duplicates)}")
        for step in self.steps:
            unknown = [n for n in step.needs if n not in names]
            if unknown:
                raise ValueError(f"pipeline {self.name}: step {step.name} needs unknown {unknown}")
        self.levels()  # raises on a cycle

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def levels(self) -> list[list[Step]]:
        """Steps grouped by depth: each level needs only earlier levels (declaration order kept)."""
        placed: dict[str, int] = {}
        remaining = list(self.steps)
        levels: list[list[Step]] = []
        while remaining:
            ready = [s for s in remaining if all(n in placed for n in s.needs)]
            if not ready:
                raise ValueError(
                    f"pipeline {self.name}: dependency cycle among {[s.name for s in remaining]}"
                )
            levels.append(ready)
            for s in ready:
                placed[s.name] = len(levels) - 1
            remaining = [s for s in remaining if s.name not in placed]
        return levels

    def order(self) -> list[Step]:
        return [s for level in self.levels() for s in level]


def step(
    name: str,
    *,
    needs: Sequence[str] = (),
    description: str = "",
    resumable: bool = True,
    verifies: bool = False,
) -> Callable[[StepFn], Step]:
    """Decorator form: ``@step("redis", needs=["supervisord"])`` turns a function into a Step
    (the description defaults to the first line of its docstring)."""

    def wrap(fn: StepFn) -> Step:
        first_line = (fn.__doc__ or "").strip().split("\n")[0]
        return Step(
            name=name,
            run=fn,
            needs=tuple(needs),
            description=description or first_line,
            resumable=resumable,
            verifies=verifies,
        )

    return wrap
