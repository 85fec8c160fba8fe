"""Rendering: the text and JSON views show the same facts; plain text when not a terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sreplat.errors import ConfigError
from sreplat.events import Event
from sreplat.pipeline import CheckResult, PipelineResult, StepOutcome, StepStatus, Verdict
from sreplat.targets.base import OperationReport, StatusReport
from sreplat.ui import JsonRenderer, TextRenderer


def report() -> OperationReport:
    outcomes = (
        StepOutcome("redis", StepStatus.OK, "pid 7", duration_s=1.25),
        StepOutcome("api", StepStatus.SKIPPED, "already running"),
    )
    return OperationReport(
        verb="bootstrap",
        env="local",
        target="local",
        headline="local is up",
        pipeline=PipelineResult("bootstrap", outcomes, 2.0),
        facts={"api_url": "http://127.0.0.1:8080", "history": [1, 2]},
        log_file=Path("/x/run.log"),
    )


def status() -> StatusReport:
    checks = (
        CheckResult("redis", Verdict.HEALTHY, "PONG"),
        CheckResult("api", Verdict.UNHEALTHY, "/readyz: HTTP 503", hint="see api.log"),
    )
    return StatusReport("status", "local", "local", Verdict.UNHEALTHY, checks)


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    ui = JsonRenderer()
    ui.start(verb="bootstrap", env="local", target="local", log_file=Path("/x/run.log"))
    ui.event(Event("step.finish", "pid 7", step="redis", data={"status": "ok"}, ts=1.0))
    ui.report(report())
    ui.report(status())
    ui.error(ConfigError("api_port = 'x': expected an integer", hint="fix it"), verbose=False)
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert lines[0] == {
        "event": "run.start",
        "verb": "bootstrap",
        "env": "local",
        "target": "local",
        "log": "/x/run.log",
    }
    assert lines[1] == {
        "event": "step.finish",
        "ts": 1.0,
        "step": "redis",
        "message": "pid 7",
        "status": "ok",
    }
    assert lines[2]["facts"] == {"api_url": "http://127.0.0.1:8080", "history": [1, 2]}
    assert [s["status"] for s in lines[2]["steps"]] == ["ok", "skipped"]
    assert [line["event"] for line in lines[3:6]] == ["check", "check", "result"]
    assert lines[5]["checks"] == {"redis": "healthy", "api": "unhealthy"}
    assert lines[6] == {
        "event": "error",
        "exit_code": 2,
        "type": "ConfigError",
        "message": "api_port = 'x': expected an integer",
        "hint": "fix it",
    }
    assert captured.err.startswith("error: api_port")


def test_text_view_has_the_same_facts_without_escape_codes(capsys: pytest.CaptureFixture[str]) -> None:
    ui = TextRenderer(interactive=False)
    ui.start(verb="bootstrap", env="local", target="local", log_file=Path("/x/run.log"))
    ui.event(Event("step.finish", "pid 7", step="redis", data={"status": "ok", "duration_s": 1.25}))
    ui.report(report())
    ui.report(status())
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == "log: /x/run.log"  # the log path comes first
    assert "ok      redis" in captured.err and "1.2s  pid 7" in captured.err
    assert (
        "local is up" in captured.out and "http://127.0.0.1:8080" in captured.out and "[1, 2]" in captured.out
    )
    assert (
        "UNHEALTHY" in captured.out and "/readyz: HTTP 503" in captured.out and "see api.log" in captured.out
    )
    assert "\x1b[" not in captured.out + captured.err


def test_quiet_drops_progress_but_not_results(capsys: pytest.CaptureFixture[str]) -> None:
    ui = TextRenderer(quiet=True, interactive=False)
    ui.start(verb="bootstrap", env="local", target="local", log_file=Path("/x/run.log"))
    ui.event(Event("step.finish", "pid 7", step="redis", data={"status": "ok"}))
    ui.report(report())
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "local is up" in captured.out


def test_text_error_is_one_line_unless_verbose() -> None:
    ui = TextRenderer(interactive=False)
    buffer = io.StringIO()
    ui.err.file = buffer
    ui.error(ConfigError("bad", detail="line one\nline two"), verbose=False)
    assert buffer.getvalue().strip() == "error: bad"
    ui.error(ConfigError("bad", detail="line one\nline two"), verbose=True)
    assert "line two" in buffer.getvalue()
