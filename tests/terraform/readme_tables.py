"""The Inputs and Outputs tables of every module's and stack's README.md, made from the HCL.

``python -m tests.terraform.readme_tables`` rewrites them; tests/terraform/test_readmes.py checks
that each README holds exactly the tables its variables.tf and outputs.tf give.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import Any

from tests.terraform.hcl import MODULES, STACKS, TERRAFORM_DIR, blocks, unquote

MARKER = "## Inputs"


def roots() -> list[Path]:
    return [TERRAFORM_DIR / "modules" / m for m in MODULES] + [TERRAFORM_DIR / "stacks" / s for s in STACKS]


def _type(value: Any) -> str:
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def _default(body: dict[str, Any]) -> str:  # noqa: PLR0911
    if "default" not in body:
        return "required"
    value = body["default"]
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"`{value}`"
    if isinstance(value, str):
        return f"`{unquote(value)}`"
    if value in ({}, []):
        return f"`{json.dumps(value)}`"
    return "see variables.tf"


def _cell(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|")


def tables(root: Path) -> str:
    lines = [MARKER, "", "| name | type | default | description |", "| --- | --- | --- | --- |"]
    for var in blocks("variable", root):
        if var.path.parent != root:
            continue
        desc = _cell(str(var.get("description", "")))
        lines.append(f"| `{var.labels[0]}` | `{_type(var.body['type'])}` | {_default(var.body)} | {desc} |")
    lines += ["", "## Outputs", "", "| name | description |", "| --- | --- |"]
    for out in blocks("output", root):
        if out.path.parent != root:
            continue
        desc = _cell(str(out.get("description", "")))
        if out.body.get("sensitive") is True:
            desc += " (sensitive)"
        lines.append(f"| `{out.labels[0]}` | {desc} |")
    return "\n".join(lines) + "\n"


def readme_tables(root: Path) -> str:
    text = (root / "README.md").read_text()
    return text[text.index(MARKER) :] if MARKER in text else ""


def rewrite(root: Path) -> None:
    readme = root / "README.md"
    text = readme.read_text()
    head = text[: text.index(MARKER)] if MARKER in text else text.rstrip("\n") + "\n\n"
    readme.write_text(head + tables(root))


def main() -> int:
    for root in roots():
        rewrite(root)
        print(f"rewrote {root.relative_to(TERRAFORM_DIR)}/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
