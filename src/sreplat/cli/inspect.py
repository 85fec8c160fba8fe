"""Verbs that only look: ``status`` (exit 3 when unhealthy), ``doctor`` (exit 1 when a required
prerequisite is missing) and ``version`` (imports nothing beyond the standard library)."""

from __future__ import annotations

import json
import platform
import sys
from typing import TYPE_CHECKING

from sreplat import __version__
from sreplat.errors import ExitCode

if TYPE_CHECKING:
    from sreplat.cli.session import Session


def status(session: Session, *, drift: bool = False) -> int:
    from sreplat.pipeline.checks import overall, run_checks
    from sreplat.targets.base import StatusReport

    env = session.environment
    target = session.target
    checks = [*target.status_checks(), *(target.drift_checks() if drift else ())]
    session.start()
    results = run_checks(checks, sink=session.sink)
    report = StatusReport("status", env.name, env.target, overall(results), results)
    session.renderer.report(report)
    return int(ExitCode.OK if report.healthy else ExitCode.UNHEALTHY)


def doctor(session: Session) -> int:
    from sreplat.pipeline.checks import overall, run_checks
    from sreplat.targets.base import StatusReport

    env = session.environment
    target = session.target
    session.start()
    results = run_checks(target.doctor_checks(), sink=session.sink)
    ok = all(r.passed for r in results)
    # The header says what the rows say: unknown when a check could not tell, not unhealthy.
    report = StatusReport("doctor", env.name, env.target, overall(results), results)
    session.renderer.report(report)
    return int(ExitCode.OK if ok else ExitCode.FAILED)


def version(output: str) -> int:
    from sreplat import pipes

    facts = {"version": __version__, "python": platform.python_version()}
    if output == "json":
        pipes.write(sys.stdout, json.dumps({"event": "result", "verb": "version", **facts}) + "\n")
    else:
        pipes.write(sys.stdout, f"sreplat {__version__} (python {facts['python']})\n")
    return int(ExitCode.OK)
