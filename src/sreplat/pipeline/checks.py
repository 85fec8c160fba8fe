"""Health checks run side by side, each with its own deadline (``status``, ``doctor``).

A ``Check`` is a name, a function returning a ``Finding`` and a timeout. ``run_checks`` runs them
concurrently (bounded); a check that raises is ``unknown`` with the error as its summary, one
that overruns its timeout is ``unknown`` ("no answer within Ns") and is abandoned on a daemon
thread, so one hung probe never stalls the report or the process exit.

Events: ``check.finish`` per check (verdict, summary, duration_s), in completion order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sreplat.errors import SreplatError
from sreplat.events import Event, EventSink, discard


class Verdict(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"  # could not tell: the probe failed or timed out


@dataclass(frozen=True)
class Finding:
    """What a check function returns. ``data`` holds JSON-able facts; ``hint`` how to fix it."""

    verdict: Verdict
    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)
    hint: str | None = None


def healthy(summary: str, **data: Any) -> Finding:
    return Finding(Verdict.HEALTHY, summary, data)


def unhealthy(summary: str, *, hint: str | None = None, **data: Any) -> Finding:
    return Finding(Verdict.UNHEALTHY, summary, data, hint)


def unknown(summary: str, *, hint: str | None = None, **data: Any) -> Finding:
    return Finding(Verdict.UNKNOWN, summary, data, hint)


@dataclass(frozen=True)
class Check:
    """``required=False``: a failing optional check is reported but does not fail the whole
    (``doctor`` uses this for tools only some targets need)."""

    name: str
    run: Callable[[], Finding]
    timeout_s: float = 10.0
    required: bool = True


@dataclass(frozen=True)
class CheckResult:
    name: str
    verdict: Verdict
    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)
    hint: str | None = None
    duration_s: float = 0.0
    required: bool = True

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.HEALTHY or not self.required

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.name,
            "verdict": str(self.verdict),
            "summary": self.summary,
            "duration_s": round(self.duration_s, 3),
        }
        if not self.required:
            out["required"] = False
        if self.hint:
            out["hint"] = self.hint
        if self.data:
            out["data"] = dict(self.data)
        return out


def overall(results: Sequence[CheckResult]) -> Verdict:
    """Healthy only when every required check is healthy; unhealthy if any required one is."""
    required = [r for r in results if r.required]
    if all(r.verdict is Verdict.HEALTHY for r in required):
        return Verdict.HEALTHY
    if any(r.verdict is Verdict.UNHEALTHY for r in required):
        return Verdict.UNHEALTHY
    return Verdict.UNKNOWN


def run_checks(
    checks: Sequence[Check], *, max_parallel: int = 8, sink: EventSink = discard
) -> tuple[CheckResult, ...]:
    """Run ``checks`` concurrently; results in the order of ``checks``."""
    slots = threading.Semaphore(max(1, max_parallel))
    lock = threading.Condition()
    started: dict[int, float] = {}
    results: dict[int, CheckResult] = {}

    def finish(index: int, result: CheckResult) -> None:
        with lock:
            if index in results:
                return  # timed out already; a late answer is dropped
            results[index] = result
            lock.notify_all()
        sink(
            Event(
                kind="check.finish",
                message=result.summary,
                data={
                    "check": result.name,
                    "verdict": str(result.verdict),
                    "duration_s": round(result.duration_s, 3),
                },
            )
        )

    def worker(index: int, check: Check) -> None:
        with slots:
            begin = time.monotonic()
            with lock:
                started[index] = begin
            try:
                finding = check.run()
            except SreplatError as exc:
                # The hint goes in its own field (shown once), not also inside the summary.
                finding = unknown(exc.headline, hint=exc.hint)
            except Exception as exc:
                finding = unknown(f"{type(exc).__name__}: {exc}")
            finish(index, _result(check, finding, time.monotonic() - begin))

    for index, check in enumerate(checks):
        threading.Thread(target=worker, args=(index, check), daemon=True, name=f"check-{check.name}").start()

    with lock:
        while len(results) < len(checks):
            now = time.monotonic()
            for index, check in enumerate(checks):
                begin = started.get(index)
                if index not in results and begin is not None and now - begin > check.timeout_s:
                    lock.release()
                    try:
                        finding = unknown(f"no answer within {check.timeout_s:g}s")
                        finish(index, _result(check, finding, now - begin))
                        slots.release()  # the hung thread keeps its slot; let the next check start
                    finally:
                        lock.acquire()
            lock.wait(timeout=0.05)
    return tuple(results[i] for i in range(len(checks)))


def _result(check: Check, finding: Finding, duration: float) -> CheckResult:
    return CheckResult(
        name=check.name,
        verdict=finding.verdict,
        summary=finding.summary,
        data=finding.data,
        hint=finding.hint,
        duration_s=duration,
        required=check.required,
    )
