"""Verbs that change an environment: ``bootstrap``, ``deploy``, ``destroy``, and ``plan`` (what
they would do). Each verb's body takes a ``Session``; the Typer wrappers are in ``cli/main.py``.

Order inside every body: validate (config, target checks, SHA) → only then lock, log and run, so
bad input exits 2 with no state dir created or changed.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sreplat.cli.session import Session
from sreplat.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from sreplat.pipeline.step import Pipeline


def bootstrap(session: Session, *, dry_run: bool, allow_dirty: bool = False, recover: bool = False) -> int:
    target = session.target
    if allow_dirty or recover:
        target.set_run_options(allow_dirty=allow_dirty, recover=recover)
    pipeline = target.bootstrap()
    if dry_run:
        return show_plan(session, "bootstrap", pipeline)
    target.check_bootstrap()
    report = session.run_pipeline(pipeline)
    session.renderer.report(report)
    return int(ExitCode.OK)


def deploy(
    session: Session, *, sha: str, dry_run: bool, allow_dirty: bool = False, recover: bool = False
) -> int:
    from sreplat.config import parse_sha

    wanted = parse_sha(sha)
    target = session.target
    if allow_dirty or recover:
        target.set_run_options(allow_dirty=allow_dirty, recover=recover)
    full_sha = target.resolve_sha(wanted)
    from sreplat.targets.base import signature_fact

    # Before anything is built, locked or written: an untrusted commit is bad input (exit 2).
    verdict = target.verify_commit(full_sha)
    pipeline = target.deploy(full_sha)
    if dry_run:
        return show_plan(session, "deploy", pipeline, sha=full_sha, signature=signature_fact(verdict))
    if verdict is not None and not verdict.trusted:
        raise verdict.refusal()
    target.check_deploy(full_sha)
    report = session.run_pipeline(pipeline)
    session.renderer.report(report)
    return int(ExitCode.OK)


def promote(
    session: Session, *, source: str, sha: str | None, dry_run: bool, recover: bool, env_flag: str | None
) -> int:
    """Deploy to the session's environment (``--to``) exactly what ``source`` runs, by digest."""
    from sreplat.config import load_environment, parse_sha
    from sreplat.targets import REGISTRY
    from sreplat.targets.base import signature_fact

    env = session.environment
    if env_flag is not None and env_flag != env.name:
        raise UsageError(f"--env {env_flag} and --to {env.name} disagree: promote acts on --to")
    wanted = parse_sha(sha) if sha else None
    source_env = load_environment(source, registry=REGISTRY, config_file=session.options.config)
    target = session.target
    if recover:
        target.set_run_options(recover=True)
    promotion = target.promotion(source_env, wanted)  # reads the source's record: which release
    verdict = target.verify_commit(promotion.sha)
    pipeline = promotion.pipeline()
    if dry_run:
        facts = {"sha": promotion.sha, **promotion.facts(), "signature": signature_fact(verdict)}
        return show_plan(session, "promote", pipeline, **facts)
    if verdict is not None and not verdict.trusted:
        raise verdict.refusal()
    promotion.check()  # before the lock: the target is up, the source healthy
    report = session.run_pipeline(pipeline)
    session.renderer.report(report)
    return int(ExitCode.OK)


def destroy(session: Session, *, keep_data: bool, force_protected: bool, dry_run: bool) -> int:
    env = session.environment
    target = session.target
    if env.settings.protected and not force_protected:
        raise UsageError(
            f"environment {env.name!r} is protected; nothing destroyed",
            hint="pass --force-protected if you really mean it",
        )
    pipeline = target.destroy(keep_data=keep_data)
    if dry_run:
        return show_plan(session, "destroy", pipeline)
    if not target.exists():
        session.start()
        session.renderer.notice(f"{env.name}: nothing to destroy", env=env.name)
        return int(ExitCode.OK)
    if not session.options.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"destroy of {env.name!r} needs confirmation; nothing destroyed",
                hint="pass --yes when not running from a terminal",
            )
        question = f"Destroy environment {env.name!r} (target {env.target})? Type its name to confirm:"
        if not session.renderer.confirm(question, env.name):
            raise UsageError(
                f"destroy of {env.name!r} not confirmed; nothing destroyed",
                hint="type the environment name at the prompt, or pass --yes",
            )
    keeps = tuple(target.destroy_keeps(keep_data=keep_data))
    log_file = env.state_dir.parent / f"{env.name}.destroy.log"
    report = session.run_pipeline(
        pipeline, log_file=log_file, on_success=lambda: remove_state(env.state_dir, keeps)
    )
    session.renderer.report(report)
    return int(ExitCode.OK)


def plan(session: Session, *, verb: str, sha: str | None, keep_data: bool) -> int:
    if verb == "deploy":
        if not sha:
            raise UsageError("plan deploy needs --sha SHA")
        return deploy(session, sha=sha, dry_run=True)
    if sha:
        raise UsageError(f"--sha only applies to plan deploy, not plan {verb}")
    if verb == "destroy":
        return destroy(session, keep_data=keep_data, force_protected=True, dry_run=True)
    return bootstrap(session, dry_run=True)


def show_plan(session: Session, verb: str, pipeline: Pipeline, **facts: Any) -> int:
    from sreplat.cli.session import CHECKPOINTS_DIR
    from sreplat.pipeline.checkpoints import Checkpoints
    from sreplat.pipeline.runner import plan as make_plan
    from sreplat.targets.base import PlanReport

    env = session.environment
    # Reading checkpoints creates nothing: a plan shows which steps a re-run would skip.
    checkpoints = Checkpoints.in_dir(
        env.state_dir / CHECKPOINTS_DIR, pipeline=pipeline.name, fingerprint=pipeline.fingerprint
    )
    details = session.target.plan_details(verb, facts.get("sha"))
    session.start()
    report = PlanReport(
        verb=verb,
        env=env.name,
        target=env.target,
        plan=make_plan(pipeline, checkpoints),
        facts={**facts, **details},
    )
    session.renderer.report(report)
    return int(ExitCode.OK)


def remove_state(state_dir: Path, keep: Sequence[Path]) -> None:
    """Delete ``state_dir`` except the paths in ``keep`` (and the directories leading to them)."""
    keep_resolved = [k.resolve() for k in keep]

    def prune(folder: Path) -> None:
        for entry in folder.iterdir():
            resolved = entry.resolve() if not entry.is_symlink() else entry
            if resolved in keep_resolved:
                continue
            if (
                entry.is_dir()
                and not entry.is_symlink()
                and any(resolved in k.parents for k in keep_resolved)
            ):
                prune(entry)
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)

    if not state_dir.is_dir():
        return
    prune(state_dir)
    with contextlib.suppress(OSError):
        state_dir.rmdir()  # only succeeds when nothing was kept
