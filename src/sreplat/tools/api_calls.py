"""Calling remote APIs under a deadline, and the errors such calls raise.

Every adapter call takes a timeout and must return (or raise) within it, even when the server
hangs: a ``Deadline`` is shared by all the attempts of one call, each attempt is given the time
left as its socket timeout, and transient failures are retried only while time is left. The
client libraries' own retry loops are switched off, because their budgets are per attempt.

A ``Deadline`` given the run's cancel token (``sreplat.cancel``) also ends on Ctrl-C: its sleeps
(backoffs, poll intervals) wake at once and raise ``Interrupted``, and no new attempt starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sreplat.cancel import CancelToken
from sreplat.errors import OperationFailed

T = TypeVar("T")

FIRST_BACKOFF_S = 0.25
MAX_BACKOFF_S = 4.0


class CallTimeout(OperationFailed):
    """A remote API did not answer (or a wait did not finish) within its timeout."""


class ApiUnreachable(OperationFailed):
    """No answer at all: the connection failed (DNS, refused, reset, proxy), as opposed to an
    error the API returned."""


class ResourceMissing(OperationFailed):
    """The thing asked for does not exist (HTTP 404)."""


class AccessDenied(OperationFailed):
    """Credentials were rejected (401) or lack a permission (403)."""


class PermissionDenied(AccessDenied):
    """Credentials are valid but lack a permission on the resource (403)."""


class AlreadyExists(OperationFailed):
    """A create found the name taken (HTTP 409)."""


class PreconditionFailed(OperationFailed):
    """A conditional request found the resource in another state than the one it was made for
    (HTTP 412): another writer got there first."""


class Deadline:
    """A point in time by which a call (all its attempts and waits) must be done; with a cancel
    token, also a wait that Ctrl-C ends (``Interrupted``)."""

    def __init__(self, timeout: float, cancel: CancelToken | None = None) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.timeout = timeout
        self.cancel = cancel
        self._end = time.monotonic() + timeout

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def check(self, what: str) -> None:
        """Interrupted when the run was cancelled."""
        if self.cancel is not None:
            self.cancel.raise_if_cancelled(what)

    def sleep(self, seconds: float, what: str = "waiting") -> None:
        """Sleep ``seconds`` or until the deadline, whichever comes first; Interrupted at once
        when the run is cancelled meanwhile."""
        seconds = min(seconds, self.remaining())
        if self.cancel is None:
            time.sleep(seconds)
        else:
            self.cancel.sleep(seconds, what)


def call_with_deadline(
    what: str,
    deadline: Deadline,
    attempt: Callable[[float], T],
    *,
    is_transient: Callable[[BaseException], bool],
    translate: Callable[[BaseException, str, Deadline], Exception],
) -> T:
    """Run ``attempt(seconds_left)`` until it succeeds, retrying transient failures with
    backoff while the deadline allows; anything else is translated into a sreplat error. When
    the deadline ends after a transient failure, that failure is what is reported (a refused
    connection says so, rather than "no answer")."""
    backoff = FIRST_BACKOFF_S
    last: Exception | None = None
    while True:
        deadline.check(what)
        remaining = deadline.remaining()
        if remaining <= 0:
            if last is not None:
                raise translate(last, what, deadline) from last
            raise CallTimeout(f"{what}: no answer within {deadline.timeout:g}s")
        try:
            return attempt(remaining)
        except Exception as exc:
            if is_transient(exc) and deadline.remaining() > backoff:
                last = exc
                deadline.sleep(backoff, what)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            raise translate(exc, what, deadline) from exc
