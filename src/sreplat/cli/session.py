"""One CLI invocation: options → environment → target → validated, locked, logged run → report.

Typer-free on purpose (``cli/main.py`` parses; this runs), so the orchestration every verb shares
lives in one place:

1. load and validate the environment (``ConfigError`` → exit 2, nothing created);
2. let the target validate the request (ports, SHA...) — still nothing created;
3. for a mutating verb: take the environment lock the target supplies (exit 4 if held), open the
   run log and print
   its path, run the pipeline with checkpoints, events to the renderer and the log;
4. render the report; ``execute`` maps errors to exit codes (the one translator of DESIGN §6).
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sreplat.cancel import CancelToken
from sreplat.errors import ExitCode, Interrupted, LockHeld, OperationFailed, SreplatError

if TYPE_CHECKING:
    from sreplat.cli.options import Options
    from sreplat.cli.runlog import RunLog
    from sreplat.config import Environment
    from sreplat.events import Event
    from sreplat.pipeline.step import Pipeline
    from sreplat.targets import Seams
    from sreplat.targets.base import OperationReport, Target
    from sreplat.ui import Renderer

log = logging.getLogger("sreplat.cli")

RUNS_DIR = "runs"
CHECKPOINTS_DIR = "checkpoints"


class Session:
    """State of one invocation; built by ``execute`` and handed to a verb function."""

    def __init__(self, options: Options, verb: str, seams: Seams | None = None):
        self.options = options
        self.verb = verb
        self.seams = seams
        self._renderer: Renderer | None = None
        self._environment: Environment | None = None
        self._target: Target | None = None
        self.run_log: RunLog | None = None
        self._started = False

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            from sreplat.ui import make_renderer

            self._renderer = make_renderer(
                self.options.output, quiet=self.options.quiet, verbosity=self.options.verbosity
            )
            handler = self._renderer.log_handler()
            self._renderer.log_handler_installed = handler
            if handler is not None:
                levels = {0: logging.WARNING, 1: logging.INFO}
                handler.setLevel(levels.get(self.options.verbosity, logging.DEBUG))
                root = logging.getLogger("sreplat")
                root.addHandler(handler)
                if root.level == logging.NOTSET or root.level > handler.level:
                    root.setLevel(handler.level)
        return self._renderer

    @property
    def environment(self) -> Environment:
        if self._environment is None:
            from sreplat.config import load_environment, parse_overrides
            from sreplat.targets import REGISTRY

            self._environment = load_environment(
                self.options.env,
                registry=REGISTRY,
                config_file=self.options.config,
                overrides=parse_overrides(self.options.overrides),
            )
        return self._environment

    @property
    def target(self) -> Target:
        if self._target is None:
            from sreplat.targets import load_target

            self._target = load_target(self.environment, self.seams)
        return self._target

    def start(self, log_file: Path | None = None) -> None:
        """Tell the renderer the run began (prints the log path first). Idempotent."""
        if not self._started:
            self._started = True
            env = self.environment
            self.renderer.start(verb=self.verb, env=env.name, target=env.target, log_file=log_file)

    def sink(self, event: Event) -> None:
        self.renderer.event(event)
        if self.run_log is not None:
            self.run_log.event(event)

    def run_pipeline(
        self,
        pipeline: Pipeline,
        *,
        log_file: Path | None = None,
        on_success: Callable[[], None] | None = None,
    ) -> OperationReport:
        """Lock the environment, open the run log, run ``pipeline`` resumably; raise on failure.

        ``log_file``: where the run log goes (default: a new file in ``<state dir>/runs``; destroy
        passes one outside the state dir it removes). ``on_success`` runs while the lock is still
        held, after every step succeeded (destroy removes the state dir there).
        """
        from sreplat.cli.runlog import RunLog
        from sreplat.pipeline.checkpoints import Checkpoints
        from sreplat.pipeline.runner import run_pipeline
        from sreplat.targets.base import OperationReport

        env = self.environment
        lock = self.target.run_lock()
        note = lock.acquire(f"sreplat {self.verb}")
        # A lock held in the cloud can be lost (renewals failing past its expiry, then another run
        # taking it over): the run then stops as on Ctrl-C, checkpoints kept, exit 4.
        lost: list[str] = []
        stop = CancelToken()

        def on_lost(reason: str) -> None:
            lost.append(reason)
            stop.cancel()

        lock.watch(on_lost)
        try:
            self.run_log = (
                RunLog(log_file) if log_file else RunLog.create(env.state_dir / RUNS_DIR, self.verb)
            )
            self.start(self.run_log.path)
            if note:
                self.renderer.notice(note, env=env.name)
            log.info("sreplat %s of %s (target %s), pid %d", self.verb, env.name, env.target, os.getpid())
            checkpoints = Checkpoints.in_dir(
                env.state_dir / CHECKPOINTS_DIR, pipeline=pipeline.name, fingerprint=pipeline.fingerprint
            )
            result = run_pipeline(pipeline, sink=self.sink, checkpoints=checkpoints, stop=stop)
            self.renderer.close()
            if lost and not result.ok:
                raise LockHeld(
                    f"{lost[0]}: this {self.verb} of {env.name!r} stopped so that two runs never "
                    "change the environment at once",
                    hint="when the other run has finished, run the same command again: it resumes here",
                )
            result.raise_for_failure()
            if on_success is not None:
                on_success()
            facts = result.facts
            headline = str(facts.pop("summary", "")) or _default_headline(self.verb, env.name, result.changed)
            return OperationReport(
                verb=self.verb,
                env=env.name,
                target=env.target,
                headline=headline,
                pipeline=result,
                facts=facts,
                log_file=self.run_log.path,
            )
        finally:
            lock.release()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            handler = self._renderer.log_handler_installed
            if handler is not None:
                logging.getLogger("sreplat").removeHandler(handler)
        if self.run_log is not None:
            self.run_log.close()


def _default_headline(verb: str, env: str, changed: bool) -> str:
    if verb == "bootstrap":
        return f"{env} is up" if changed else f"{env} is already up: nothing changed"
    if verb == "destroy":
        return f"{env} destroyed"
    return f"{verb} of {env} done" if changed else f"{env}: nothing to do"


VerbFn = Callable[[Session], int]


def execute(options: Options, verb: str, body: VerbFn, seams: Seams | None = None) -> int:
    """Run ``body`` and translate what it raises into an exit code and one line."""
    session = Session(options, verb, seams)
    verbose = options.verbosity > 0
    try:
        return body(session)
    except SreplatError as exc:
        _log_error(exc)
        _show(session, exc, verbose)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _show(session, Interrupted("interrupted"), verbose)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # a bug: say so in one line, keep the traceback for -v and the log
        detail = "".join(traceback.format_exception(exc))
        log.error("internal error\n%s", detail)
        _show(
            session, OperationFailed(f"internal error: {type(exc).__name__}: {exc}", detail=detail), verbose
        )
        return int(ExitCode.FAILED)
    finally:
        session.close()


def _log_error(error: SreplatError) -> None:
    # The run log gets the whole story; the user sees the one line the renderer prints.
    log.info("%s: %s%s", type(error).__name__, error.one_line(), f"\n{error.detail}" if error.detail else "")


def _show(session: Session, error: SreplatError, verbose: bool) -> None:
    try:
        session.renderer.error(error, verbose=verbose)
    except Exception:  # the renderer itself failed: fall back to plain stderr
        import sys

        from sreplat import pipes

        pipes.write(sys.stderr, f"error: {error.one_line()}\n")
