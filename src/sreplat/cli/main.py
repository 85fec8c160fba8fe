"""The ``sreplat`` command: parses arguments and hands each verb to its body (DESIGN §2).

Kept light: importing this module imports Typer and little else, so ``--help`` starts about as
fast as Typer itself; the verb bodies (``lifecycle``, ``inspect``), config (pydantic), rich and
the targets are imported only when a verb runs. Help uses Typer's plain formatter
(``rich_markup_mode=None``) for the same reason. Global options are declared once, on the group;
``options.hoist`` lets them follow the verb too.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from sreplat import pipes
from sreplat.cli.options import (
    ConfigOpt,
    EnvOpt,
    Invocation,
    Options,
    OutputOpt,
    QuietOpt,
    SetOpt,
    VerboseOpt,
    YesOpt,
    hoist,
    merge,
)

if TYPE_CHECKING:
    from sreplat.cli.session import Session, VerbFn
    from sreplat.targets import Seams

EXIT_CODES = (
    "Exit codes: 0 ok, 1 failed, 2 bad input (nothing changed), 3 unhealthy, 4 locked by another run, "
    "130 interrupted."
)
GLOBALS_NOTE = (
    "Global options (--env, --config, --output, -v, -q, --yes, --set) work here too: see sreplat --help."
)

app = typer.Typer(
    name="sreplat",
    help="Stand up and run a small production platform: on Google Cloud (gcp) or on this machine (local).",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the ordered steps; change nothing.")]
AllowDirty = Annotated[
    bool, typer.Option("--allow-dirty", help="gcp: build images from a work tree with uncommitted changes.")
]
Recover = Annotated[
    bool, typer.Option("--recover", help="gcp: roll back a release left pending by a deploy that died.")
]


@app.callback()
def _global(
    ctx: typer.Context,
    *,
    env: EnvOpt = None,
    config: ConfigOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
    yes: YesOpt = False,
    set_: SetOpt = None,
) -> None:
    """Global options; they may also follow the verb."""
    seams = ctx.obj  # what ``main`` was given to inject (tests), else None
    options = merge(
        Options(),
        env=env,
        config=config,
        output=output,
        verbose=verbose,
        quiet=quiet,
        yes=yes,
        overrides=set_,
    )
    ctx.obj = Invocation(options, seams)


def _invocation(ctx: typer.Context) -> Invocation:
    return ctx.obj if isinstance(ctx.obj, Invocation) else Invocation(Options(), None)


def _execute(ctx: typer.Context, verb: str, body: VerbFn) -> int:
    from sreplat.cli.session import execute

    invocation = _invocation(ctx)
    return execute(invocation.options, verb, body, invocation.seams)


@app.command(epilog=GLOBALS_NOTE)
def bootstrap(
    ctx: typer.Context, *, dry_run: DryRun = False, allow_dirty: AllowDirty = False, recover: Recover = False
) -> int:
    """Create the environment and start everything; a no-op when it is already up."""
    from sreplat.cli import lifecycle

    return _execute(
        ctx,
        "bootstrap",
        lambda s: lifecycle.bootstrap(s, dry_run=dry_run, allow_dirty=allow_dirty, recover=recover),
    )


@app.command(epilog=GLOBALS_NOTE)
def deploy(
    ctx: typer.Context,
    *,
    sha: Annotated[
        str, typer.Option("--sha", help="Commit to roll out (7-40 hex digits).", show_default=False)
    ],
    dry_run: DryRun = False,
    allow_dirty: AllowDirty = False,
    recover: Recover = False,
) -> int:
    """Roll out the apps of commit SHA without failed requests; roll back if it is not healthy."""
    from sreplat.cli import lifecycle

    return _execute(
        ctx,
        "deploy",
        lambda s: lifecycle.deploy(s, sha=sha, dry_run=dry_run, allow_dirty=allow_dirty, recover=recover),
    )


@app.command(epilog=GLOBALS_NOTE)
def promote(
    ctx: typer.Context,
    *,
    source: Annotated[
        str, typer.Option("--from", help="Environment whose release is promoted.", show_default=False)
    ],
    to: Annotated[str, typer.Option("--to", help="Environment to deploy it to.", show_default=False)],
    sha: Annotated[
        str | None,
        typer.Option(
            "--sha", help="An earlier release of --from (default: what it runs).", show_default=False
        ),
    ] = None,
    dry_run: DryRun = False,
    recover: Recover = False,
) -> int:
    """Deploy to --to exactly the image digests --from runs: copied by digest, never rebuilt."""
    from dataclasses import replace

    from sreplat.cli import lifecycle
    from sreplat.cli.session import execute

    invocation = _invocation(ctx)
    options = replace(invocation.options, env=to)
    return execute(
        options,
        "promote",
        lambda s: lifecycle.promote(
            s, source=source, sha=sha, dry_run=dry_run, recover=recover, env_flag=invocation.options.env
        ),
        invocation.seams,
    )


@app.command(epilog=GLOBALS_NOTE)
def destroy(
    ctx: typer.Context,
    *,
    keep_data: Annotated[bool, typer.Option("--keep-data", help="Keep Redis data.")] = False,
    force_protected: Annotated[
        bool, typer.Option("--force-protected", help="Destroy even an environment marked protected.")
    ] = False,
    dry_run: DryRun = False,
) -> int:
    """Stop everything and remove the environment's state (asks for its name unless --yes)."""
    from sreplat.cli import lifecycle

    return _execute(
        ctx,
        "destroy",
        lambda s: lifecycle.destroy(s, keep_data=keep_data, force_protected=force_protected, dry_run=dry_run),
    )


class PlanOf(StrEnum):
    bootstrap = "bootstrap"
    deploy = "deploy"
    destroy = "destroy"


@app.command(epilog=GLOBALS_NOTE)
def plan(
    ctx: typer.Context,
    *,
    verb: Annotated[PlanOf, typer.Argument(help="Which run to plan.")] = PlanOf.bootstrap,
    sha: Annotated[
        str | None, typer.Option("--sha", help="Commit, for plan deploy.", show_default=False)
    ] = None,
    keep_data: Annotated[bool, typer.Option("--keep-data", help="For plan destroy.")] = False,
) -> int:
    """Print the ordered steps bootstrap, deploy or destroy would run; touch nothing."""
    from sreplat.cli import lifecycle

    return _execute(ctx, "plan", lambda s: lifecycle.plan(s, verb=verb.value, sha=sha, keep_data=keep_data))


@app.command(epilog=GLOBALS_NOTE)
def status(
    ctx: typer.Context,
    *,
    drift: Annotated[
        bool, typer.Option("--drift", help="gcp: also plan the Terraform stacks to find drift (slow).")
    ] = False,
) -> int:
    """Health of every part; exit 3 when anything is unhealthy."""
    from sreplat.cli import inspect

    return _execute(ctx, "status", lambda s: inspect.status(s, drift=drift))


class Component(StrEnum):
    api = "api"
    worker = "worker"
    redis = "redis"


@app.command(epilog=GLOBALS_NOTE)
def logs(
    ctx: typer.Context,
    component: Annotated[
        Component | None, typer.Argument(help="Only this component (default: all).", show_default=False)
    ] = None,
    *,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C stops).")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only lines newer than this (30s, 10m, 2h, 1d).", show_default=False),
    ] = None,
    trace: Annotated[
        str | None,
        typer.Option(
            "--trace", help="Only the lines of one trace (its trace_id): API and worker.", show_default=False
        ),
    ] = None,
) -> int:
    """Log lines of the API, the workers and Redis, in time order."""
    from sreplat.cli import logs as logs_verb

    def body(session: Session) -> int:
        query = logs_verb.query_of(
            component.value if component else None, follow=follow, since=since, trace=trace
        )
        return logs_verb.logs(session, query)

    return _execute(ctx, "logs", body)


@app.command(epilog=GLOBALS_NOTE)
def doctor(ctx: typer.Context) -> int:
    """Check prerequisites (tools, versions, free ports), each with a fix hint."""
    from sreplat.cli import inspect

    return _execute(ctx, "doctor", inspect.doctor)


@app.command()
def version(ctx: typer.Context) -> int:
    """Print sreplat's version."""
    from sreplat.cli import inspect

    return inspect.version(_invocation(ctx).options.output)


def _wants_json(argv: list[str]) -> bool:
    for i, arg in enumerate(argv):
        if arg in ("-o", "--output") and i + 1 < len(argv) and argv[i + 1] == "json":
            return True
        if arg in ("--output=json", "-ojson"):
            return True
    return False


def _fast_version(args: list[str]) -> int | None:
    """``sreplat [-o text|json] version`` without Typer's option coercion (which imports pydantic)."""
    output = {(): "text", ("-o", "json"): "json", ("--output", "json"): "json", ("--output=json",): "json"}
    output |= {("-o", "text"): "text", ("--output", "text"): "text", ("--output=text",): "text"}
    if not args or args[-1] != "version" or tuple(args[:-1]) not in output:
        return None
    from sreplat.cli import inspect

    return inspect.version(output[tuple(args[:-1])])


def main(argv: list[str] | None = None, *, seams: Seams | None = None) -> int:
    """Entry point of the ``sreplat`` console script; returns the exit code.

    ``seams``: what the session injects into targets instead of the real world (tests pass the
    doubles' endpoints here; the console script passes nothing).
    """
    args = hoist(list(sys.argv[1:] if argv is None else argv))
    fast = _fast_version(args)
    if fast is not None:
        return fast
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="sreplat", standalone_mode=False, obj=seams)
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        pipes.write(sys.stderr, "error: interrupted\n")
        return 130
    except typer.TyperException as exc:  # bad flags, missing arguments, bad choices
        message = exc.format_message().strip().splitlines()[0]
        code = exc.exit_code if exc.exit_code != 1 else 2
        if _wants_json(args):
            import json

            line = {"event": "error", "exit_code": code, "type": "UsageError", "message": message}
            pipes.write(sys.stdout, json.dumps(line) + "\n")
        pipes.write(sys.stderr, f"error: {message} (see: sreplat --help)\n")
        return code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
