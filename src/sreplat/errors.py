"""The one error tree of sreplat and the exit codes it maps to (DESIGN §2).

Deep code raises one of these; only the CLI's translator turns them into an exit code and a
one-line message. Nothing below the CLI calls ``sys.exit``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNHEALTHY = 3
    LOCKED = 4
    INTERRUPTED = 130


class SreplatError(Exception):
    """Root of every error sreplat raises on purpose.

    ``message`` is the one line the user sees; ``hint`` says what to do about it; ``detail`` is
    extra context shown with ``-v`` and written to the run log.
    """

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail

    @property
    def headline(self) -> str:
        """The message's first line (the type's name when there is no message), without the hint."""
        return self.message.strip().splitlines()[0] if self.message.strip() else type(self).__name__

    def one_line(self) -> str:
        return f"{self.headline} (hint: {self.hint})" if self.hint else self.headline


class UsageError(SreplatError):
    """Bad input: wrong flags, invalid configuration, a SHA that does not resolve.

    Raised before anything is changed.
    """

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """An invalid configuration value: the message names the key, the value and the expectation."""


class OperationFailed(SreplatError):
    """An operation was attempted and did not succeed."""


class ToolMissing(OperationFailed):
    """A required external program is absent or too old; ``hint`` says how to install it."""


class ProcessFailed(OperationFailed):
    """A subprocess exited with an unexpected code."""

    def __init__(
        self,
        message: str,
        *,
        returncode: int,
        stderr_tail: str = "",
        hint: str | None = None,
    ):
        super().__init__(message, hint=hint, detail=stderr_tail or None)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class ProcessTimeout(OperationFailed):
    """A subprocess ran past its deadline and was stopped."""


class LockHeld(SreplatError):
    """Someone else holds the lock (a Terraform state lock, an environment lock)."""

    exit_code = ExitCode.LOCKED


class Interrupted(SreplatError):
    """The user pressed Ctrl-C; children were stopped gracefully."""

    exit_code = ExitCode.INTERRUPTED
