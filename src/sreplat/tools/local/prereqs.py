"""Prerequisite checks for ``doctor``: the Python version, tools on PATH, installed packages.

Each returns a ``Finding`` with a fix hint when something is missing; targets combine them into
their ``doctor_checks`` (the gcp target adds gcloud, terraform, helm... the same way).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from importlib import metadata

from sreplat import proc
from sreplat.errors import SreplatError
from sreplat.pipeline.checks import Finding, healthy, unhealthy

MIN_PYTHON = (3, 11)
_VERSION = re.compile(r"v?=?(\d+\.\d+(?:\.\d+)?)")


def python_check() -> Finding:
    version = ".".join(str(v) for v in sys.version_info[:3])
    if sys.version_info[:2] < MIN_PYTHON:
        return unhealthy(f"python {version}", hint=f"use python >= {'.'.join(map(str, MIN_PYTHON))}")
    return healthy(f"python {version} ({sys.executable})", version=version)


def tool_check(argv: Sequence[str], hint: str, *, minimum: tuple[int, ...] | None = None) -> Finding:
    """Run ``argv`` (a version command); healthy with the version it prints, else the hint."""
    try:
        result = proc.run(list(argv), timeout=20, check=False, install_hint=hint)
    except SreplatError as exc:
        return unhealthy(exc.message, hint=hint)
    text = f"{result.stdout}\n{result.stderr}".strip()
    match = _VERSION.search(text)
    version = match.group(1) if match else None
    if result.returncode != 0:
        return unhealthy(f"{argv[0]} exited with {result.returncode}", hint=hint)
    if minimum and version and tuple(int(p) for p in version.split(".")) < minimum:
        wanted = ".".join(map(str, minimum))
        return unhealthy(f"{argv[0]} {version} is older than {wanted}", hint=hint, version=version)
    return healthy(f"{argv[0]} {version or text.splitlines()[0]}", version=version)


def package_check(distribution: str, hint: str) -> Finding:
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return unhealthy(f"python package {distribution} not installed", hint=hint)
    return healthy(f"{distribution} {version}", version=version)
