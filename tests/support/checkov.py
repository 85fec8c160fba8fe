"""checkov (its own virtualenv, `make .tools/checkov/.installed`) for the Terraform and Helm
tests: a run over a directory with one of the repository's configs, and the reasons its
``skip-check`` entries carry."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from sreplat import proc

REPO = Path(__file__).resolve().parents[2]


def checkov_binary() -> str:
    local = REPO / ".tools" / "checkov" / "bin" / "checkov"
    found = str(local) if local.exists() else shutil.which("checkov")
    if found is None:
        pytest.fail("checkov is not installed: run `make .tools/checkov/.installed` (make test does)")
    return found


def run_checkov(directory: Path, *, config: Path, framework: str) -> dict[str, Any]:
    """checkov's JSON report for ``directory``; the config must limit it to ``framework``, so
    exactly one report (of that framework) comes back."""
    # checkov exits 1 when a check fails; the report says which.
    result = proc.run(
        [checkov_binary(), "--config-file", str(config), "-d", str(directory), "-o", "json"],
        cwd=REPO,
        ok_codes=(0, 1),
        timeout=600,
    )
    report = json.loads(result.stdout)
    # One framework gives one report object; several would give a list.
    assert isinstance(report, dict), f"expected one report, got {[r.get('check_type') for r in report]}"
    assert report.get("check_type") == framework, f"a {report.get('check_type')!r} report, not {framework!r}"
    return report


def skip_reasons(config: Path) -> dict[str, str]:
    """Each check the config skips → the comment lines right above it ("" where there are none)."""
    skips = yaml.safe_load(config.read_text()).get("skip-check") or []
    lines = config.read_text().splitlines()
    reasons = {}
    for check in skips:
        [at] = [n for n, line in enumerate(lines) if re.fullmatch(rf"\s*-\s*{re.escape(check)}\s*", line)]
        comments: list[str] = []
        while at > 0 and lines[at - 1].lstrip().startswith("#"):
            at -= 1
            comments.insert(0, lines[at].lstrip("# ").rstrip())
        reasons[check] = " ".join(c for c in comments if c)
    return reasons
