"""Output whose reader went away (``sreplat status | head``).

Once the reader of stdout (or stderr) has closed the pipe, what was left to print no longer
matters, but the exit code still does: ``status`` must exit 3 when unhealthy, not 1 because a
write failed. So a write that meets a closed pipe points the stream's file descriptor at
``/dev/null`` (the rest of the run, and the interpreter's final flush, write there silently) and
the run goes on. This is the recipe of the Python docs' "Note on SIGPIPE", without the exit.

Used by the CLI and ``ui``; standard library only, so ``sreplat version`` stays light.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import IO


def discard(stream: IO[str]) -> None:
    """Send whatever is written to ``stream`` from now on to /dev/null."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        return  # not a real file (a test's capture): nothing to redirect
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def write(stream: IO[str], text: str) -> None:
    """Write and flush ``text``; a closed pipe discards it and the rest instead of raising."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        discard(stream)
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()  # the unwritten bytes still in the buffer now go to /dev/null
