"""What a target implements, and the reports its verbs produce.

A target (``local``, ``gcp``) turns the CLI's verbs into pipelines and checks; the CLI session
does everything around them — config, validation order, the environment lock, the run log,
confirmation prompts, rendering — so a target only describes *what* to do:

=========================  ==================================================================
``check_bootstrap()``      validate before anything is created (ports free, credentials...);
``resolve_sha(rev)``       deploy's SHA → full 40-hex SHA; raise ``UsageError``. No side
                           effects: these run before the lock, the state dir or the run log.
``commit_trust()``         the trust files commits must be signed against, or None when the
                           environment does not require signed commits (``verify_commit``)
``promotion(source, sha)`` a ``Promotion``: deploy what ``source`` runs (by digest) here; its
                           ``check()`` runs before the lock, its ``pipeline()`` does it
``bootstrap()``            a ``Pipeline`` (a DAG of idempotent ``Step``\\ s) that creates it all
``deploy(sha)``            a ``Pipeline`` that rolls out ``sha`` (already resolved)
``destroy(keep_data)``     a ``Pipeline`` that removes it; the session then deletes the state
                           dir unless ``destroy_keeps`` names paths inside it to keep
``status_checks()``        ``Check``\\ s run concurrently, each with its own timeout
``doctor_checks()``        ``Check``\\ s of prerequisites, each finding with a fix ``hint``
``exists()``               whether there is anything to destroy/report (cheap, read-only)
``run_lock()``             the environment lock the session holds around a mutating run
                           (default: a file lock in the state dir)
``logs(query)``            the platform's log lines in time order (``sreplat.logs``); followed
                           when ``query.follow`` (then the iterator does not end by itself)
=========================  ==================================================================

Building a pipeline or a check list must not touch anything: ``plan``/``--dry-run`` build them
and only print them. Step data (``StepResult.data``) becomes the verb's *facts* (``api_url``,
``release``...); a ``summary`` key, when present, is the headline the CLI prints.

Concurrency, checkpoints (resume after Ctrl-C or a failure), dependency order and events come
from ``sreplat.pipeline``; a target never prints, never calls ``sys.exit``, and raises
``sreplat.errors`` types.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sreplat.errors import UsageError
from sreplat.pipeline.checks import Check, CheckResult, Verdict
from sreplat.pipeline.runner import PipelineResult, Plan
from sreplat.pipeline.step import Pipeline

if TYPE_CHECKING:
    from sreplat.config import Environment
    from sreplat.logs import LogLine, LogQuery
    from sreplat.pipeline.lock import RunLock
    from sreplat.targets import Seams
    from sreplat.tools.signatures import TrustFiles
    from sreplat.tools.signatures import Verdict as SignatureVerdict


class Promotion(Protocol):
    """A promotion from one environment to another, decided (which release) but not started."""

    @property
    def sha(self) -> str: ...

    def check(self) -> None:
        """Raise unless it may start now (the source healthy, the target up); reads only."""

    def pipeline(self) -> Pipeline: ...

    def facts(self) -> Mapping[str, Any]:
        """What ``plan promote`` shows beside the steps."""


class Target(ABC):
    """Base of every target. Subclasses set ``name`` and implement the abstract methods."""

    name: ClassVar[str]

    def __init__(self, env: Environment, seams: Seams):
        self.env = env

    # --- validation: read-only, before the lock and the state dir -----------------------------

    def check_bootstrap(self) -> None:  # noqa: B027 - optional hook
        """Raise (UsageError / OperationFailed) if bootstrap cannot start; create nothing."""

    def resolve_sha(self, rev: str) -> str:
        """The full SHA ``deploy`` will roll out; UsageError if ``rev`` names no usable commit."""
        from sreplat.tools import git

        return git.resolve_sha(self.env.repo, rev)

    def check_deploy(self, sha: str) -> None:  # noqa: B027 - optional hook
        """Raise if ``sha`` cannot be deployed now (e.g. the environment is not up)."""

    def promotion(self, source: Environment, sha: str | None) -> Promotion:
        """Deploy here exactly what ``source`` runs (``sha``: one of its earlier releases)."""
        raise unsupported(self.name, "promote")

    def commit_trust(self) -> TrustFiles | None:
        """Where trusted signers are listed, when this environment deploys signed commits only."""
        return None

    def verify_commit(self, sha: str) -> SignatureVerdict | None:
        """The signature verdict of ``sha`` (real ``git verify-commit``); None when not required.
        Read-only: it runs before anything is built or locked."""
        from sreplat.tools.signatures import verify_commit

        trust = self.commit_trust()
        return None if trust is None else verify_commit(self.env.repo, sha, trust)

    def set_run_options(self, *, allow_dirty: bool = False, recover: bool = False) -> None:
        """Flags of bootstrap/deploy some targets support: ``allow_dirty`` (build images from a
        work tree with uncommitted changes), ``recover`` (roll back a release stuck half-way).
        UsageError for a flag this target has no use for."""
        flags = [name for name, on in (("--allow-dirty", allow_dirty), ("--recover", recover)) if on]
        if flags:
            raise unsupported(self.name, " and ".join(flags))

    def run_lock(self) -> RunLock:
        """The lock of one mutating run (bootstrap, deploy, destroy) of this environment: the
        session takes it after validation and releases it when the run ends, however it ends."""
        from sreplat.pipeline.lock import EnvironmentLock

        return EnvironmentLock(self.env.state_dir, self.env.name)

    # --- pipelines ---------------------------------------------------------------------------

    @abstractmethod
    def bootstrap(self) -> Pipeline:
        """Create everything; running it on an environment that is up changes nothing."""

    @abstractmethod
    def deploy(self, sha: str) -> Pipeline:
        """Roll out ``sha`` (full, resolved) without failed requests; roll back on failure."""

    @abstractmethod
    def destroy(self, *, keep_data: bool) -> Pipeline:
        """Remove everything (resumable after a partial failure)."""

    def destroy_keeps(self, *, keep_data: bool) -> Sequence[Path]:
        """Paths inside the state dir the session must keep after ``destroy`` (``--keep-data``)."""
        return ()

    # --- read-only -------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether this environment has anything to report or destroy (default: a state dir)."""
        return self.env.state_dir.is_dir()

    @abstractmethod
    def status_checks(self) -> Sequence[Check]:
        """Health checks; ``status`` exits 3 unless every required one is healthy."""

    def doctor_checks(self) -> Sequence[Check]:
        """Prerequisite checks (tools, credentials, ports), each with a fix hint."""
        return ()

    def logs(self, query: LogQuery) -> Iterator[LogLine]:
        """Log lines of the platform's components (``sreplat logs``)."""
        raise unsupported(self.name, "logs")

    def drift_checks(self) -> Sequence[Check]:
        """``status --drift``: checks that the infrastructure matches its code (may be slow)."""
        raise unsupported(self.name, "status --drift")

    def plan_details(self, verb: str, sha: str | None = None) -> Mapping[str, Any]:
        """Facts ``plan`` shows beside the steps (change summaries, diffs); touches nothing."""
        return {}


def signature_fact(verdict: SignatureVerdict | None) -> dict[str, str]:
    """What ``plan deploy`` says about the commit's signature."""
    if verdict is None:
        return {"verdict": "not checked", "detail": "require_signed_commits is false for this environment"}
    return {
        "verdict": str(verdict.outcome),
        "detail": verdict.describe(),
        "deploy": "proceeds" if verdict.trusted else "refused (exit 2): nothing would be built",
    }


def unsupported(target: str, verb: str) -> UsageError:
    return UsageError(f"the {target} target does not support {verb}")


# --- reports: what verbs return; ui.py renders them as text or JSON lines ----------------------


@dataclass(frozen=True)
class OperationReport:
    """The outcome of bootstrap, deploy or destroy."""

    verb: str
    env: str
    target: str
    headline: str
    pipeline: PipelineResult
    facts: Mapping[str, Any] = field(default_factory=dict)
    log_file: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "result",
            "verb": self.verb,
            "env": self.env,
            "target": self.target,
            "ok": self.pipeline.ok,
            "changed": self.pipeline.changed,
            "headline": self.headline,
            "facts": dict(self.facts),
            "steps": [o.to_dict() for o in self.pipeline.outcomes],
            "duration_s": round(self.pipeline.duration_s, 3),
            "log": str(self.log_file) if self.log_file else None,
        }


@dataclass(frozen=True)
class StatusReport:
    """``status`` and ``doctor``: checks and the overall verdict."""

    verb: str
    env: str
    target: str
    verdict: Verdict
    checks: tuple[CheckResult, ...]

    @property
    def healthy(self) -> bool:
        return self.verdict is Verdict.HEALTHY

    def to_dicts(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = [{"event": "check", **c.to_dict()} for c in self.checks]
        lines.append(
            {
                "event": "result",
                "verb": self.verb,
                "env": self.env,
                "target": self.target,
                "healthy": self.healthy,
                "verdict": str(self.verdict),
                "checks": {c.name: str(c.verdict) for c in self.checks},
            }
        )
        return lines


@dataclass(frozen=True)
class PlanReport:
    """``plan`` / ``--dry-run``: the ordered steps a run would execute."""

    verb: str
    env: str
    target: str
    plan: Plan
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_dicts(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = [{"event": "plan.step", **s.to_dict()} for s in self.plan.steps]
        lines.append(
            {
                "event": "result",
                "verb": "plan",
                "plan_of": self.verb,
                "env": self.env,
                "target": self.target,
                "steps": [s.name for s in self.plan.steps],
                **dict(self.facts),
            }
        )
        return lines
