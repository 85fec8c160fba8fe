"""Concurrent health checks with their own deadlines."""

from __future__ import annotations

import threading

from sreplat.errors import OperationFailed
from sreplat.events import Event
from sreplat.pipeline import Check, CheckResult, Verdict, healthy, overall, run_checks, unhealthy


def test_results_keep_the_order_of_the_checks_and_run_side_by_side() -> None:
    both_started = threading.Barrier(2, timeout=30)

    def first() -> object:
        both_started.wait()  # would time out (BrokenBarrierError → unknown) if run one after the other
        return healthy("one", n=1)

    def second() -> object:
        both_started.wait()
        return unhealthy("two", hint="fix it")

    events: list[Event] = []
    results = run_checks([Check("a", first), Check("b", second)], sink=events.append)  # type: ignore[arg-type]
    assert [(r.name, r.verdict) for r in results] == [("a", Verdict.HEALTHY), ("b", Verdict.UNHEALTHY)]
    assert results[0].data == {"n": 1}
    assert results[1].hint == "fix it"
    assert sorted(e.data["check"] for e in events) == ["a", "b"]


def test_a_hung_check_is_unknown_after_its_timeout_and_does_not_block_the_others() -> None:
    never = threading.Event()

    def hangs() -> object:
        never.wait()
        return healthy("late")

    results = run_checks(
        [Check("hung", hangs, timeout_s=0.2), Check("fine", lambda: healthy("ok"))],  # type: ignore[arg-type]
        max_parallel=1,
    )
    assert results[0].verdict is Verdict.UNKNOWN
    assert "no answer within 0.2s" in results[0].summary
    assert results[1].verdict is Verdict.HEALTHY  # got a slot although the hung one kept its own
    never.set()


def test_a_raising_check_is_unknown_with_the_reason() -> None:
    def broken() -> object:
        raise OperationFailed("cannot reach it", hint="start it")

    def buggy() -> object:
        raise ValueError("bad")

    results = run_checks([Check("x", broken), Check("y", buggy)])  # type: ignore[arg-type]
    assert results[0].verdict is Verdict.UNKNOWN and results[0].summary == "cannot reach it"
    assert results[0].hint == "start it"
    assert results[1].verdict is Verdict.UNKNOWN and "ValueError: bad" in results[1].summary


def _result(verdict: Verdict, required: bool = True) -> CheckResult:
    return CheckResult("c", verdict, "", required=required)


def test_overall_verdict() -> None:
    assert overall([_result(Verdict.HEALTHY), _result(Verdict.UNHEALTHY, required=False)]) is Verdict.HEALTHY
    assert overall([_result(Verdict.HEALTHY), _result(Verdict.UNKNOWN)]) is Verdict.UNKNOWN
    assert overall([_result(Verdict.UNKNOWN), _result(Verdict.UNHEALTHY)]) is Verdict.UNHEALTHY
