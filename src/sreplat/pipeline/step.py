"""Steps and pipelines: the unit every target's bootstrap/deploy/destroy is made of (DESIGN §4).

A ``Step`` has a name, the names of the steps it needs, and ``run(ctx)``. ``run`` returns a
``StepResult`` (or ``None``, meaning ok), and raises a ``SreplatError`` to fail. Steps are
idempotent: finding the thing already there is ``StepResult.skipped("...")``, not an error, so a
re-run after any failure is safe.

A step hands data to the steps that need it as a typed ``output`` (a frozen dataclass with
``to_json``/``from_json``, so it survives a checkpoint); a dependent asks for it with
``ctx.input(step, Type)``. ``facts`` are what the verb's result shows (JSON-able, public).

A ``Pipeline`` is a named set of steps. ``fingerprint`` identifies its inputs (the SHA being
deployed, the settings that shape what is created): checkpoints recorded under another
fingerprint are ignored, so a resumed run never skips work done for different inputs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, Self, TypeVar

from sreplat.cancel import CancelToken
from sreplat.errors import Interrupted, OperationFailed
from sreplat.events import Event, EventSink, discard


class StepData(Protocol):
    """What a step hands to its dependents: a frozen dataclass that round-trips through JSON
    (a resumed run gets it back from the checkpoint)."""

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, data: Any) -> Self: ...


D = TypeVar("D", bound=StepData)
# A dependency's output as the runner holds it: the object, or its JSON when read from a checkpoint.
StoredOutput = StepData | Mapping[str, Any] | None


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
    """What a step reports. ``data`` holds JSON-able facts the verb's result shows (``summary``
    is the run's headline when present); ``output`` is what dependents read (``ctx.input``).
    Both are saved in the checkpoint.
    """

    status: StepStatus = StepStatus.OK
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    output: StepData | None = None

    @classmethod
    def ok(cls, detail: str = "", *, output: StepData | None = None, **data: Any) -> StepResult:
        return cls(StepStatus.OK, detail, data, output)

    @classmethod
    def skipped(cls, detail: str, *, output: StepData | None = None, **data: Any) -> StepResult:
        return cls(StepStatus.SKIPPED, detail, data, output)


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
    output: StoredOutput = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.name,
            "status": str(self.status),
            "duration_s": round(self.duration_s, 3),
        }
        if self.detail:
            out["detail"] = self.detail
        return out


class StepContext:
    """What a running step gets: its name, an event sink, its dependencies' outputs, cancellation.

    ``emit`` tags events with the step's name. ``sleep`` and ``wait_until`` raise ``Interrupted``
    as soon as the run is cancelled, so a step waiting for readiness stops on Ctrl-C.
    """

    def __init__(
        self,
        step: str,
        *,
        sink: EventSink = discard,
        inputs: Mapping[str, StoredOutput] | None = None,
        cancel: CancelToken | None = None,
    ):
        self.step = step
        self._sink = sink
        self._inputs: Mapping[str, StoredOutput] = inputs or {}
        self.cancel = cancel or CancelToken()
        self.log = logging.getLogger(f"sreplat.step.{step}")

    def input(self, step: str, kind: type[D]) -> D:
        """The output of ``step`` (one this step needs), as ``kind``."""
        stored = self._inputs.get(step)
        if isinstance(stored, kind):
            return stored
        if isinstance(stored, Mapping):
            return kind.from_json(stored)  # resumed: the checkpoint holds its JSON
        raise TypeError(f"step {self.step}: {step} handed no {kind.__name__} (got {type(stored).__name__})")

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
