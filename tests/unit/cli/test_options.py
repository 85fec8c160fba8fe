"""Global options may follow the verb: ``hoist`` moves them in front of it."""

from __future__ import annotations

import pytest

from sreplat.cli.options import hoist


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status", "--env", "dev"], ["--env", "dev", "status"]),
        (["-v", "status", "-o", "json", "-q"], ["-v", "-o", "json", "-q", "status"]),
        (
            ["deploy", "--sha", "abc1234", "--yes", "-s", "a=1"],
            ["--yes", "-s", "a=1", "deploy", "--sha", "abc1234"],
        ),
        (
            ["plan", "deploy", "--sha", "abc1234", "--output=json"],
            ["--output=json", "plan", "deploy", "--sha", "abc1234"],
        ),
        (["status", "-vv", "-ojson"], ["-vv", "-ojson", "status"]),
        (["--env", "dev", "status"], ["--env", "dev", "status"]),
        (["status", "--", "--env"], ["status", "--", "--env"]),
        (["--help"], ["--help"]),
        (["status", "--help"], ["status", "--help"]),
        (["--bogus", "status", "-e", "x"], ["--bogus", "status", "-e", "x"]),
        ([], []),
    ],
)
def test_hoist(argv: list[str], expected: list[str]) -> None:
    assert hoist(argv) == expected
