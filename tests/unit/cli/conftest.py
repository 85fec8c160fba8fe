"""Running the CLI in-process: ``cli(*argv)`` → ``Result(code, out, err)``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sreplat.cli.main import main
from sreplat.tools.local import processes


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


Cli = Callable[..., Result]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory as cwd (no sreplat.toml, no git)."""
    path = tmp_path / "project"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def state_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "state"
    yield root
    # Whatever a test started in there must not outlive it.
    processes.stop([f.pid for f in processes.find(str(root) + os.sep)])


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], work: Path, state_root: Path) -> Cli:
    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
