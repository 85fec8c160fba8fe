"""The one place that starts subprocesses (DESIGN §6).

- argv is a list, never a shell string;
- the tool's presence is checked first, with an install hint;
- secrets are redacted from every logged line and error message;
- children run in their own session so a terminal Ctrl-C reaches only us: we forward exactly one
  SIGINT to each running child, wait for it to stop cleanly, then raise ``Interrupted`` (130).
  A second Ctrl-C does not escalate: stopping a Terraform apply half-way is what corrupts state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from sreplat.errors import Interrupted, ProcessFailed, ProcessTimeout, ToolMissing

log = logging.getLogger("sreplat.proc")

REDACTED = "***"
STDERR_TAIL_LINES = 20
# After a timeout, how long a child gets between SIGTERM and SIGKILL.
TERMINATE_GRACE_S = 10.0

LineCallback = Callable[[str], None]


@dataclass(frozen=True)
class ProcResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


# Live children, so a Ctrl-C caught in the main thread reaches children started by worker threads.
_lock = threading.Lock()
_children: dict[int, subprocess.Popen[str]] = {}
_interrupted: set[int] = set()


def interrupt_children() -> int:
    """Send one SIGINT to every running child that has not had one; return how many got one."""
    sent = 0
    with _lock:
        for pid, child in _children.items():
            if pid in _interrupted or child.poll() is not None:
                continue
            _interrupted.add(pid)
            try:
                os.kill(pid, signal.SIGINT)
                sent += 1
            except ProcessLookupError:
                pass
    if sent:
        log.warning("forwarded SIGINT to %d child process(es); waiting for them to stop", sent)
    return sent


def _pump(
    stream: IO[str] | None, sink: list[str], callback: LineCallback | None, errors: list[BaseException]
) -> None:
    if stream is None:
        return
    for raw in stream:
        line = raw.rstrip("\n")
        sink.append(line)
        if callback is not None and not errors:
            try:
                callback(line)
            except BaseException as exc:  # re-raised in the calling thread after the child ends
                errors.append(exc)
    stream.close()


def _feed(child: subprocess.Popen[str], text: str | None) -> None:
    if text is None or child.stdin is None:
        return
    try:
        child.stdin.write(text)
        child.stdin.close()
    except BrokenPipeError:
        pass


def _wait(child: subprocess.Popen[str], name: str, timeout: float | None) -> bool:
    """Wait for ``child``; forward Ctrl-C once; enforce ``timeout``. Returns True if it timed out."""
    deadline = None if timeout is None else time.monotonic() + timeout
    timed_out = False
    while True:
        try:
            child.wait(timeout=0.2)
            return timed_out
        except subprocess.TimeoutExpired:
            if deadline is None or time.monotonic() <= deadline:
                continue
            if not timed_out:
                timed_out = True
                log.warning("%s ran past %.0fs; terminating", name, timeout)
                child.terminate()
                deadline = time.monotonic() + TERMINATE_GRACE_S
            else:
                child.kill()
        except KeyboardInterrupt:
            # Forward once; any further Ctrl-C only repeats that we are waiting.
            if interrupt_children() == 0:
                log.warning("still waiting for %s to stop cleanly", name)


def _see_through(
    child: subprocess.Popen[str],
    name: str,
    timeout: float | None,
    stdin_text: str | None,
    pumps: list[threading.Thread],
) -> bool:
    """Feed ``child``, wait for it and for its output. A Ctrl-C at any point (even while feeding
    stdin or joining the pumps, outside ``_wait``) is forwarded once and the wait goes on.
    Returns True if it timed out."""
    fed, timed_out = False, None
    while True:
        try:
            if not fed:
                fed = True
                _feed(child, stdin_text)
            if timed_out is None:
                timed_out = _wait(child, name, timeout)
            for pump in pumps:
                pump.join()
            if child.stdin is not None and not child.stdin.closed:  # a feed that Ctrl-C cut short
                with contextlib.suppress(OSError):  # the reader is gone: flushing the rest fails
                    child.stdin.close()
            return timed_out
        except KeyboardInterrupt:
            if interrupt_children() == 0:
                log.warning("still waiting for %s to stop cleanly", name)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    ok_codes: Iterable[int] = (0,),
    check: bool = True,
    on_stdout: LineCallback | None = None,
    on_stderr: LineCallback | None = None,
    secrets: Iterable[str] = (),
    stdin_text: str | None = None,
    install_hint: str | None = None,
    stdout_to: IO[bytes] | None = None,
) -> ProcResult:
    """Run ``argv`` to completion and return its output.

    ``env`` is added to (not substituted for) the current environment: pass secrets this way
    (``TF_VAR_*``), never in argv. ``on_stdout``/``on_stderr`` receive each line as it arrives.
    ``stdout_to``: a binary file that receives stdout byte for byte (``stdout`` is then empty),
    for output that is data rather than text. Raises ToolMissing, ProcessFailed (exit code not
    in ``ok_codes`` and ``check``), ProcessTimeout, or Interrupted.
    """
    args = [os.fspath(a) for a in argv]
    if not args:
        raise ValueError("empty argv")
    secret_list = [s for s in secrets if s]
    name = os.path.basename(args[0])
    if os.sep not in args[0] and shutil.which(args[0]) is None:
        raise ToolMissing(f"{name} not found on PATH", hint=install_hint or f"install {name}")
    log.info("run: %s%s", redact(shlex.join(args), secret_list), f" (cwd={cwd})" if cwd else "")
    if env:
        log.debug("extra env: %s", ", ".join(sorted(env)))

    started = time.monotonic()
    child = subprocess.Popen(
        args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout_to is None else stdout_to,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
        start_new_session=True,
    )
    with _lock:
        _children[child.pid] = child
    out_lines: list[str] = []
    err_lines: list[str] = []
    callback_errors: list[BaseException] = []
    pumps = [
        threading.Thread(target=_pump, args=(child.stdout, out_lines, on_stdout, callback_errors)),
        threading.Thread(target=_pump, args=(child.stderr, err_lines, on_stderr, callback_errors)),
    ]
    for pump in pumps:
        pump.daemon = True
        pump.start()
    try:
        timed_out = _see_through(child, name, timeout, stdin_text, pumps)
    finally:
        with _lock:
            _children.pop(child.pid, None)
            was_interrupted = child.pid in _interrupted
            _interrupted.discard(child.pid)

    result = ProcResult(
        argv=tuple(redact(a, secret_list) for a in args),
        returncode=child.returncode,
        stdout=redact("\n".join(out_lines), secret_list),
        stderr=redact("\n".join(err_lines), secret_list),
        duration_s=time.monotonic() - started,
    )
    log.info("exit %s after %.2fs: %s", result.returncode, result.duration_s, name)
    if callback_errors:
        raise callback_errors[0]
    if was_interrupted:
        raise Interrupted(f"interrupted; {name} stopped (exit {result.returncode})")
    if timed_out:
        raise ProcessTimeout(f"{name} did not finish within {timeout:.0f}s and was stopped")
    if check and result.returncode not in set(ok_codes):
        raise _failure(name, result)
    return result


def _failure(name: str, result: ProcResult) -> ProcessFailed:
    lines = result.stderr.splitlines()
    for line in lines[-STDERR_TAIL_LINES:]:
        log.debug("%s stderr: %s", name, line)
    last = next((ln.strip() for ln in reversed(lines) if ln.strip()), "")
    message = f"{name} exited with code {result.returncode}" + (f": {last}" if last else "")
    return ProcessFailed(
        message, returncode=result.returncode, stderr_tail="\n".join(lines[-STDERR_TAIL_LINES:])
    )
