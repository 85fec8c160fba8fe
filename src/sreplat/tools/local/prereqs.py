"""Prerequisites on this machine: the Python version, tools on PATH, installed packages.

Each returns what it found (a version) or raises ``ToolMissing`` with a fix hint; the local
target's ``doctor`` turns the answers into its checks.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from importlib import metadata

from sreplat import proc
from sreplat.errors import SreplatError, ToolMissing

MIN_PYTHON = (3, 11)
_VERSION = re.compile(r"v?=?(\d+\.\d+(?:\.\d+)?)")


def python_version() -> str:
    """``python X.Y.Z (path)``; ToolMissing when older than MIN_PYTHON."""
    version = ".".join(str(v) for v in sys.version_info[:3])
    if sys.version_info[:2] < MIN_PYTHON:
        raise ToolMissing(f"python {version}", hint=f"use python >= {'.'.join(map(str, MIN_PYTHON))}")
    return f"python {version} ({sys.executable})"


def tool_version(argv: Sequence[str], hint: str, *, minimum: tuple[int, ...] | None = None) -> str:
    """Run ``argv`` (a version command): ``<tool> <version>``; ToolMissing (with ``hint``) when it
    is absent, fails or is older than ``minimum``."""
    try:
        result = proc.run(list(argv), timeout=20, check=False, install_hint=hint)
    except SreplatError as exc:
        raise ToolMissing(exc.message, hint=hint) from exc
    text = f"{result.stdout}\n{result.stderr}".strip()
    match = _VERSION.search(text)
    version = match.group(1) if match else None
    if result.returncode != 0:
        raise ToolMissing(f"{argv[0]} exited with {result.returncode}", hint=hint)
    if minimum and version and tuple(int(p) for p in version.split(".")) < minimum:
        raise ToolMissing(f"{argv[0]} {version} is older than {'.'.join(map(str, minimum))}", hint=hint)
    return f"{argv[0]} {version or text.splitlines()[0]}"


def package_version(distribution: str, hint: str) -> str:
    """``<distribution> <version>``; ToolMissing when the package is not installed."""
    try:
        return f"{distribution} {metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        raise ToolMissing(f"python package {distribution} not installed", hint=hint) from None
