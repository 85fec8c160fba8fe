"""``sreplat doctor`` for a gcp environment: terraform, credentials that give a token, the state
bucket, the stacks and charts where the settings say, and the allowed-signers file commits are
verified against — each with what to do about it."""

from __future__ import annotations

from sreplat.errors import ToolMissing, UsageError
from sreplat.pipeline.checks import Check, Finding, healthy, unhealthy, unknown
from sreplat.targets.gcp.context import FOUNDATION, GcpContext, short_reason

DOCTOR_CHECK_S = 20.0
DOCTOR_CALL_S = 15.0  # one call inside a doctor check: less than the check's own timeout


def doctor_checks(ctx: GcpContext) -> list[Check]:
    return [
        Check("terraform", lambda: terraform(ctx), DOCTOR_CHECK_S),
        Check("credentials", lambda: credentials(ctx), DOCTOR_CHECK_S),
        # It waits for the credentials check's answer, then makes its own call.
        Check("state bucket", lambda: state_bucket(ctx), DOCTOR_CHECK_S + DOCTOR_CALL_S),
        Check("layout", lambda: layout(ctx), 5.0),
        Check(
            "commit signatures",
            lambda: commit_signers(ctx),
            5.0,
            required=ctx.settings.require_signed_commits,
        ),
    ]


def terraform(ctx: GcpContext) -> Finding:
    from sreplat.tools.terraform.driver import Terraform

    try:
        version = Terraform(ctx.stacks_dir.parent if ctx.stacks_dir.is_dir() else ".").check_version()
    except ToolMissing as exc:  # found out for certain: unhealthy, not "could not tell"
        return unhealthy(exc.headline, hint=exc.hint)
    return healthy("terraform " + ".".join(map(str, version)))


def credentials(ctx: GcpContext) -> Finding:
    problem = ctx.access_problem(timeout=DOCTOR_CALL_S)
    if problem is not None:  # a missing prerequisite, the very thing doctor is for
        return unhealthy(problem.headline, hint=problem.hint)
    return healthy(f"Google credentials give an access token (project {ctx.settings.project})")


def state_bucket(ctx: GcpContext) -> Finding:
    problem = ctx.access_problem(timeout=DOCTOR_CALL_S)  # the credentials check's answer
    if problem is not None:
        return unknown(f"skipped: {short_reason(problem)}")
    # Within the check's own timeout, so an unreachable bucket is reported as such.
    state = ctx.stack_state(FOUNDATION, timeout=DOCTOR_CALL_S)
    if state is None:
        return healthy(f"no state in gs://{ctx.bucket} yet (bootstrap creates it)")
    return healthy(f"gs://{ctx.bucket} readable; foundation state serial {state.serial}")


def commit_signers(ctx: GcpContext) -> Finding:
    """The allowed-signers file deploys verify commits against (as in the work tree: the parent of
    the next commit)."""
    from sreplat.tools.signatures import check_allowed_signers

    settings = ctx.settings
    found = check_allowed_signers(
        ctx.env.repo, settings.allowed_signers, required=settings.require_signed_commits
    )
    return healthy(found.summary) if found.healthy else unhealthy(found.summary, hint=found.hint)


def layout(ctx: GcpContext) -> Finding:
    try:
        ctx.check_layout()
    except UsageError as exc:
        return unhealthy(exc.message, hint=exc.hint)
    return healthy(f"stacks in {ctx.stacks_dir}, charts in {ctx.charts_dir}")
