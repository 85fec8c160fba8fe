"""Rendering: events and reports as text for people (rich) or as JSON lines for programs.

Two renderers share one interface (``Renderer``):

- ``TextRenderer``: progress on stderr — live spinners with elapsed time when stderr is a
  terminal, one line per finished step otherwise — and reports (tables, facts) on stdout.
  ``NO_COLOR`` is honoured (rich reads it); ``quiet`` drops progress, ``verbosity`` adds the start
  of every step and log records.
- ``JsonRenderer``: one JSON object per line on stdout, flushed as it happens — the run's log
  path first, then events, then the report (the same facts as the text view), or an error.

Only ``cli/`` imports this module (it imports rich); ``pipeline/`` and ``tools/`` emit events.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from sreplat import pipes
from sreplat.errors import SreplatError
from sreplat.events import Event
from sreplat.logs import LogLine
from sreplat.pipeline.checks import CheckResult, Verdict
from sreplat.targets.base import OperationReport, PlanReport, StatusReport

Report = OperationReport | StatusReport | PlanReport | Mapping[str, Any]


class _Console(Console):
    """A rich Console that, when its reader goes away, goes quiet instead of exiting 1 (rich's
    default ``on_broken_pipe`` raises SystemExit(1)): the run and its exit code go on."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        pipes.discard(self.file)


class Renderer(ABC):
    """How the CLI shows a run. ``event`` is an EventSink and may be called from any thread."""

    log_handler_installed: logging.Handler | None = None

    @abstractmethod
    def start(self, *, verb: str, env: str, target: str, log_file: Path | None) -> None: ...

    @abstractmethod
    def event(self, event: Event) -> None: ...

    @abstractmethod
    def report(self, report: Report) -> None: ...

    @abstractmethod
    def notice(self, message: str, **data: Any) -> None:
        """A one-line message that is neither progress nor a report ("nothing to destroy")."""

    @abstractmethod
    def error(self, error: SreplatError, *, verbose: bool) -> None: ...

    @abstractmethod
    def log_line(self, line: LogLine) -> None:
        """One line of ``sreplat logs``, written at once (a follow shows lines as they come)."""

    def confirm(self, question: str, expected: str) -> bool:
        """Ask the user to type ``expected``; False when they do not (or cannot: no terminal)."""
        if not sys.stdin.isatty():
            return False
        console = Console(stderr=True, highlight=False)
        answer = console.input(f"{escape(question)} ")
        return answer.strip() == expected

    def log_handler(self) -> logging.Handler | None:
        """A handler showing log records to the user (None: logs go only to the run log)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop live displays; called once at the end of the run."""


# --- JSON ----------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


class JsonRenderer(Renderer):
    # Check events duplicate the report's lines; progress chatter is for people.
    _SKIPPED_EVENTS = frozenset({"check.finish"})

    def __init__(self, stream: IO[str] | None = None):
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def _line(self, obj: Mapping[str, Any]) -> None:
        text = json.dumps(obj, default=_json_default, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            pipes.write(self._stream, text + "\n")

    def start(self, *, verb: str, env: str, target: str, log_file: Path | None) -> None:
        self._line({"event": "run.start", "verb": verb, "env": env, "target": target, "log": log_file})

    def event(self, event: Event) -> None:
        if event.kind not in self._SKIPPED_EVENTS:
            self._line(event.to_dict())

    def report(self, report: Report) -> None:
        if isinstance(report, OperationReport):
            self._line(report.to_dict())
        elif isinstance(report, StatusReport | PlanReport):
            for line in report.to_dicts():
                self._line(line)
        else:
            self._line({"event": "result", **report})

    def notice(self, message: str, **data: Any) -> None:
        self._line({"event": "notice", "message": message, **data})

    def log_line(self, line: LogLine) -> None:
        self._line(line.to_dict())

    def error(self, error: SreplatError, *, verbose: bool) -> None:
        line: dict[str, Any] = {
            "event": "error",
            "exit_code": int(error.exit_code),
            "type": type(error).__name__,
            "message": error.headline,
        }
        if error.hint:
            line["hint"] = error.hint
        if verbose and error.detail:
            line["detail"] = error.detail
        self._line(line)
        # People watching a JSON run still see why it stopped.
        pipes.write(sys.stderr, f"error: {error.one_line()}\n")


# --- text ----------------------------------------------------------------------------------------

_STATUS_STYLE = {
    "ok": ("ok", "green"),
    "skipped": ("skip", "cyan"),
    "resumed": ("resumed", "cyan"),
    "failed": ("FAILED", "bold red"),
    "not-run": ("not run", "dim"),
}
_VERDICT_STYLE = {
    Verdict.HEALTHY: "green",
    Verdict.UNHEALTHY: "bold red",
    Verdict.UNKNOWN: "yellow",
}


def _width() -> int:
    return max(100, shutil.get_terminal_size((120, 24)).columns)


class _ConsoleLogHandler(logging.Handler):
    def __init__(self, console: Console):
        super().__init__()
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = escape(f"{record.levelname.lower()}: {record.getMessage()}")
            self._console.print(f"[dim]{text}[/dim]", soft_wrap=True, highlight=False)
        except Exception:
            self.handleError(record)


class TextRenderer(Renderer):
    def __init__(self, *, quiet: bool = False, verbosity: int = 0, interactive: bool | None = None):
        self.quiet = quiet
        self.verbosity = verbosity
        self.err = _Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else _width())
        self.out = _Console(highlight=False, width=None if sys.stdout.isatty() else _width())
        self.interactive = self.err.is_terminal if interactive is None else interactive
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.RLock()

    # progress --------------------------------------------------------------------------------

    def _live(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.err,
                transient=True,
            )
            self._progress.start()
        return self._progress

    def start(self, *, verb: str, env: str, target: str, log_file: Path | None) -> None:
        if log_file is not None and not self.quiet:
            self.err.print(f"[dim]log: {escape(str(log_file))}[/dim]", soft_wrap=True)

    def event(self, event: Event) -> None:
        if self.quiet:
            return
        with self._lock:
            if event.kind == "step.start" and event.step:
                if self.interactive:
                    label = f"[bold]{escape(event.step)}[/bold] {escape(event.message)}"
                    self._tasks[event.step] = self._live().add_task(label, total=None)
                elif self.verbosity > 0:
                    self.err.print(f"  ..      {escape(event.step)}: {escape(event.message)}", soft_wrap=True)
            elif event.kind == "step.progress" and event.step in self._tasks and self._progress:
                label = f"[bold]{escape(event.step or '')}[/bold] {escape(event.message)}"
                self._progress.update(self._tasks[event.step or ""], description=label)
            elif event.kind == "step.finish" and event.step:
                self._finish_step(event)
            elif event.kind == "step.progress" and self.verbosity > 0 and not self.interactive:
                self.err.print(
                    f"  ..      {escape(event.step or '')}: {escape(event.message)}", soft_wrap=True
                )
            elif event.kind == "pipeline.finish":
                self._stop_live()
            elif event.kind.startswith("notice"):
                self.err.print(escape(event.message), soft_wrap=True)

    def _finish_step(self, event: Event) -> None:
        task = self._tasks.pop(event.step or "", None)
        if task is not None and self._progress is not None:
            self._progress.remove_task(task)
        label, style = _STATUS_STYLE.get(str(event.data.get("status")), ("?", ""))
        duration = float(event.data.get("duration_s") or 0)
        detail = f"  {escape(event.message)}" if event.message else ""
        line = f"  [{style}]{label:<8}[/{style}]{escape(event.step or ''):<16} {duration:6.1f}s{detail}"
        self.err.print(line, soft_wrap=True)

    def _stop_live(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()

    def close(self) -> None:
        with self._lock:
            self._stop_live()

    def log_handler(self) -> logging.Handler | None:
        return _ConsoleLogHandler(self.err)

    # reports ---------------------------------------------------------------------------------

    def report(self, report: Report) -> None:
        self.close()
        if isinstance(report, OperationReport):
            self._operation(report)
        elif isinstance(report, StatusReport):
            self._status(report)
        elif isinstance(report, PlanReport):
            self._plan(report)
        else:
            for key, value in report.items():
                self.out.print(f"{key}: {escape(_plain(value))}", soft_wrap=True)

    def _operation(self, report: OperationReport) -> None:
        self.out.print(f"[bold]{escape(report.headline)}[/bold]", soft_wrap=True)
        for key, value in report.facts.items():
            if key == "summary":
                continue
            self.out.print(f"  {escape(key):<12} {escape(_plain(value))}", soft_wrap=True)

    def _status(self, report: StatusReport) -> None:
        style = _VERDICT_STYLE[report.verdict]
        word = "healthy" if report.healthy else report.verdict.value.upper()
        self.out.print(f"[bold]{escape(report.env)}[/bold] ({report.target}): [{style}]{word}[/{style}]")
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        table.add_column("check", no_wrap=True)
        table.add_column("verdict", no_wrap=True)
        table.add_column("summary")
        for check in report.checks:
            table.add_row(*_check_row(check))
        self.out.print(table)
        hints: dict[str, list[str]] = {}  # one line per distinct hint, naming every check it fixes
        for check in report.checks:
            if check.hint and check.verdict is not Verdict.HEALTHY:
                hints.setdefault(check.hint, []).append(check.name)
        for hint, names in hints.items():
            self.out.print(f"  [dim]{escape(', '.join(names))}: {escape(hint)}[/dim]", soft_wrap=True)

    def _plan(self, report: PlanReport) -> None:
        self.out.print(
            f"[bold]plan: {escape(report.verb)} of {escape(report.env)} ({report.target})[/bold]"
            " — nothing will be changed",
        )
        for key, value in report.facts.items():
            if isinstance(value, Mapping) and value:  # one line per entry reads better than JSON
                self.out.print(f"  {escape(key)}")
                width = max(len(str(k)) for k in value)
                for name, item in value.items():
                    line = f"    {escape(str(name)):<{width}}  {escape(_plain(item))}"
                    self.out.print(line, soft_wrap=True)
                continue
            self.out.print(f"  {escape(key):<12} {escape(_plain(value))}", soft_wrap=True)
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for column in ("#", "step", "needs", "runs alongside", "what it does"):
            table.add_column(column)
        for index, step in enumerate(report.plan.steps, start=1):
            what = step.description + (
                " [cyan](done earlier: will be skipped)[/cyan]" if step.resumed else ""
            )
            alongside = ", ".join(step.alongside) or "-"
            table.add_row(str(index), step.name, ", ".join(step.needs) or "-", alongside, what)
        self.out.print(table)

    def notice(self, message: str, **data: Any) -> None:
        self.out.print(escape(message), soft_wrap=True)

    def log_line(self, line: LogLine) -> None:
        # Plain write: log text is not rich markup, and a follow must show each line at once.
        self.out.file.write(line.text() + "\n")
        self.out.file.flush()

    def error(self, error: SreplatError, *, verbose: bool) -> None:
        self.close()
        self.err.print(f"[bold red]error:[/bold red] {escape(error.one_line())}", soft_wrap=True)
        if verbose and error.detail:
            self.err.print(escape(error.detail), soft_wrap=True)


def _check_row(check: CheckResult) -> tuple[str, str, str]:
    style = _VERDICT_STYLE[check.verdict]
    verdict = check.verdict.value if check.required else f"{check.verdict.value} (optional)"
    return escape(check.name), f"[{style}]{verdict}[/{style}]", escape(check.summary)


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def make_renderer(output: str, *, quiet: bool = False, verbosity: int = 0) -> Renderer:
    if output == "json":
        return JsonRenderer()
    return TextRenderer(quiet=quiet, verbosity=verbosity)
