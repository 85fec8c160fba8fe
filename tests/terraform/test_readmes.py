"""Each module's and stack's README.md lists exactly its inputs and outputs (made from the HCL by
tests/terraform/readme_tables.py; `python -m tests.terraform.readme_tables` rewrites them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.terraform.readme_tables import readme_tables, roots, tables


@pytest.mark.parametrize("root", roots(), ids=lambda r: f"{r.parent.name}/{r.name}")
def test_readme_tables_match_the_hcl(root: Path) -> None:
    assert readme_tables(root).rstrip() == tables(root).rstrip(), (
        f"{root.name}/README.md is stale: run `python -m tests.terraform.readme_tables`"
    )
