"""Run in-process CLI calls with exactly a given environment and working directory (benchmarks
that call ``sreplat.cli.main.main`` the way a fresh process would see the world)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def environ(env: dict[str, str], cwd: Path) -> Iterator[None]:
    """``os.environ`` replaced by ``env`` and the working directory by ``cwd``; both restored."""
    saved, here = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir(here)
