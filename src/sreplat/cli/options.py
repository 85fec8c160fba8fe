"""The global options (DESIGN §2) and how they may follow the verb.

``sreplat --env dev status`` and ``sreplat status --env dev`` mean the same: ``hoist`` moves
global options written after the verb in front of it before Typer parses, so they are declared
once (on the group) instead of on every command — which also keeps ``--help`` fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sreplat.targets import Seams


@dataclass(frozen=True)
class Options:
    """Global options of one invocation."""

    env: str | None = None
    config: Path | None = None
    output: str = "text"
    verbosity: int = 0
    quiet: bool = False
    yes: bool = False
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invocation:
    """What a verb runs with: the global options, and the seams ``main`` was given (tests)."""

    options: Options
    seams: Seams | None


class Output(StrEnum):
    text = "text"
    json = "json"


EnvOpt = Annotated[
    str | None,
    typer.Option(
        "--env", "-e", help="Environment to act on (default: $SREPLAT_ENV or local).", show_default=False
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $SREPLAT_CONFIG or the nearest sreplat.toml).",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Output | None,
    typer.Option(
        "--output", "-o", help="text for people, json for one JSON object per line.", show_default=False
    ),
]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail (-vv: debug).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only results and errors.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Answer yes to every prompt.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", metavar="KEY=VALUE", help="Override a setting (repeatable).", show_default=False
    ),
]

# Global options that take a value, and those that do not (short forms may be clustered: -vvq).
WITH_VALUE = frozenset({"--env", "-e", "--config", "-c", "--output", "-o", "--set", "-s"})
FLAGS = frozenset({"--verbose", "-v", "--quiet", "-q", "--yes", "-y"})
_SHORT_FLAGS = frozenset("vqy")
_SHORT_WITH_VALUE = frozenset("ecos")


def _global_option(args: list[str], i: int) -> int:
    """How many items starting at ``args[i]`` form a global option (0: not one)."""
    arg = args[i]
    if arg in WITH_VALUE:
        return 2 if i + 1 < len(args) else 1
    if arg in FLAGS:
        return 1
    if arg.startswith("--") and "=" in arg:
        return 1 if arg.split("=", 1)[0] in WITH_VALUE else 0
    if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
        if set(arg[1:]) <= _SHORT_FLAGS:
            return 1  # -vv, -vq
        if arg[1] in _SHORT_WITH_VALUE:
            return 1  # -ojson
    return 0


def hoist(args: list[str]) -> list[str]:
    """Move global options that follow the verb in front of it (stopping at ``--``)."""
    i = 0
    while i < len(args):  # skip the global options before the verb
        width = _global_option(args, i)
        if width == 0:
            break
        i += width
    if i >= len(args) or args[i].startswith("-"):
        return args  # no verb (``--help``, an unknown option): let Typer say what is wrong
    head, verb, rest = args[:i], args[i], args[i + 1 :]
    hoisted: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(rest):
        if rest[j] == "--":
            kept.extend(rest[j:])
            break
        width = _global_option(rest, j)
        if width:
            hoisted.extend(rest[j : j + width])
            j += width
        else:
            kept.append(rest[j])
            j += 1
    return [*head, *hoisted, verb, *kept]


def merge(
    base: Options,
    *,
    env: str | None,
    config: Path | None,
    output: Output | None,
    verbose: int,
    quiet: bool,
    yes: bool,
    overrides: list[str] | None,
) -> Options:
    return Options(
        env=env or base.env,
        config=config or base.config,
        output=output.value if output else base.output,
        verbosity=base.verbosity + verbose,
        quiet=quiet or base.quiet,
        yes=yes or base.yes,
        overrides=base.overrides + tuple(overrides or ()),
    )
