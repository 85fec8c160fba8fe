"""The deadline every remote call and poll shares: bounded retries, and an end at once on Ctrl-C
when it carries the run's cancel token."""

from __future__ import annotations

import threading
import time

import pytest

from sreplat.cancel import CancelToken
from sreplat.errors import Interrupted, OperationFailed
from sreplat.tools.api_calls import CallTimeout, Deadline, call_with_deadline


def transient(_exc: BaseException) -> bool:
    return True


def translate(exc: BaseException, what: str, _deadline: Deadline) -> Exception:
    return OperationFailed(f"{what}: {exc}")


def test_transient_failures_are_retried_until_the_deadline() -> None:
    attempts: list[float] = []

    def attempt(seconds_left: float) -> str:
        attempts.append(seconds_left)
        raise ConnectionError("refused")

    started = time.monotonic()
    with pytest.raises(OperationFailed) as caught:
        call_with_deadline("asking", Deadline(1.0), attempt, is_transient=transient, translate=translate)
    # What kept failing is reported, not "no answer", however the last backoff met the deadline.
    assert caught.value.message == "asking: refused" and not isinstance(caught.value, CallTimeout)
    assert len(attempts) >= 2  # backed off and tried again
    assert all(left <= 1.0 for left in attempts) and attempts == sorted(attempts, reverse=True)
    assert time.monotonic() - started < 3


def test_a_cancelled_deadline_stops_retrying_and_its_sleep_wakes_at_once() -> None:
    cancel = CancelToken()
    attempts = []

    def attempt(_seconds_left: float) -> str:
        attempts.append(1)
        raise ConnectionError("refused")

    threading.Timer(0.3, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(Interrupted, match="asking"):
        call_with_deadline(
            "asking", Deadline(600, cancel), attempt, is_transient=transient, translate=translate
        )
    assert time.monotonic() - started < 5  # not the 600 s the deadline allowed
    count = len(attempts)
    with pytest.raises(Interrupted):
        call_with_deadline(
            "asking", Deadline(600, cancel), attempt, is_transient=transient, translate=translate
        )
    assert len(attempts) == count  # no attempt once cancelled


def test_sleep_without_a_token_sleeps_within_the_deadline() -> None:
    deadline = Deadline(0.2)
    started = time.monotonic()
    deadline.sleep(5)
    assert 0.1 < time.monotonic() - started < 2
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Interrupted, match="interrupted while polling"):
        Deadline(60, cancel).sleep(30, "polling")
