"""Pipelines: steps as a DAG, the runner, checkpoints, health checks and the environment lock.

Nothing here prints or imports Typer/rich: progress leaves as ``sreplat.events.Event`` objects.
See ``step.py`` (Step, Pipeline, StepContext), ``runner.py`` (run_pipeline, plan),
``checks.py`` (Check, run_checks), ``checkpoints.py`` and ``lock.py``.
"""

from sreplat.cancel import CancelToken
from sreplat.pipeline.checkpoints import Checkpoints
from sreplat.pipeline.checks import (
    Check,
    CheckResult,
    Finding,
    Verdict,
    healthy,
    overall,
    run_checks,
    unhealthy,
    unknown,
)
from sreplat.pipeline.lock import EnvironmentLock
from sreplat.pipeline.runner import PipelineResult, Plan, PlannedStep, plan, run_pipeline
from sreplat.pipeline.step import (
    Pipeline,
    Step,
    StepContext,
    StepOutcome,
    StepResult,
    StepStatus,
)

__all__ = [
    "CancelToken",
    "Check",
    "CheckResult",
    "Checkpoints",
    "EnvironmentLock",
    "Finding",
    "Pipeline",
    "PipelineResult",
    "Plan",
    "PlannedStep",
    "Step",
    "StepContext",
    "StepOutcome",
    "StepResult",
    "StepStatus",
    "Verdict",
    "healthy",
    "overall",
    "plan",
    "run_checks",
    "run_pipeline",
    "unhealthy",
    "unknown",
]
