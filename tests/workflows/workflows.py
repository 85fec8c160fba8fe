"""The GitHub Actions workflows under .github/workflows, parsed, and what GitHub derives from them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = REPO / ".github" / "workflows"

USES = re.compile(r"^\s*-?\s*uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?\s*$")


@dataclass(frozen=True)
class Uses:
    workflow: str
    line: int
    action: str  # owner/repo[/path]
    ref: str  # what follows @
    comment: str | None  # the version named in the trailing comment


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1); GitHub reads it as "on".
    doc = yaml.safe_load(path.read_text())
    if True in doc:
        doc["on"] = doc.pop(True)
    return dict(doc)


def workflow_files(directory: Path = WORKFLOWS_DIR) -> list[Path]:
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def uses_lines(path: Path) -> list[Uses]:
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = USES.match(line)
        if match:
            action, _, ref = match.group("ref").partition("@")
            found.append(Uses(path.name, number, action, ref, match.group("comment")))
    return found
