"""Calling remote APIs under a deadline, and the errors such calls raise.

Every adapter call takes a timeout and must return (or raise) within it, even when the server
hangs: a ``Deadline`` is shared by all the attempts of one call, each attempt is given the time
left as its socket timeout, and transient failures are retried only while time is left. The
client libraries' own retry loops are switched off, because their budgets are per attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

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
    """A point in time by which a call (all its attempts and waits) must be done."""

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._end = time.monotonic() + timeout

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` or until the deadline, whichever comes first."""
        time.sleep(min(seconds, self.remaining()))


def call_with_deadline(
    what: str,
    deadline: Deadline,
    attempt: Callable[[float], T],
    *,
    is_transient: Callable[[BaseException], bool],
    translate: Callable[[BaseException, str, Deadline], Exception],
) -> T:
    """Run ``attempt(seconds_left)`` until it succeeds, retrying transient failures with
    backoff while the deadline allows; anything else is translated into a sreplat error."""
    backoff = FIRST_BACKOFF_S
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise CallTimeout(f"{what}: no answer within {deadline.timeout:g}s")
        try:
            return attempt(remaining)
        except Exception as exc:
            if is_transient(exc) and deadline.remaining() > backoff:
                deadline.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            raise translate(exc, what, deadline) from exc
