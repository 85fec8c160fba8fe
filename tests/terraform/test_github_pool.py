"""Item 5 of issue 12: a bootstrap after a destroy must not reuse the GitHub pool's id.

Workload identity pools are soft-deleted for 30 days, and creating a pool with the id of a
soft-deleted one fails with 409 until it is purged. The id carries a random suffix drawn at the
first apply and kept in the stack's state (modules/iam/github_trust.tf); the real ``terraform``
applies, re-applies, destroys and applies again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.scratch import ScratchRoot

pytestmark = pytest.mark.terraform

VARIABLES: dict[str, Any] = {
    "project_id": "acme-sre-prod",
    "name_prefix": "sreplat-prod",
    "artifact_registry_repository": {"location": "europe-west1", "name": "sreplat-prod"},
    "github_repository": "acme/platform",
    "github_repository_id": "101",
    "github_repository_owner_id": "202",
    "github_environments": ["prod"],
}
# Pool ids: 4-32 lowercase letters, digits and hyphens (the IAM API; "gcp-" is reserved).
POOL_ID = re.compile(r"^(?!gcp-)[a-z][a-z0-9-]{2,30}[a-z0-9]$")


def root(tmp_path: Path) -> ScratchRoot:
    return ScratchRoot(
        tmp_path / "iam",
        "modules/iam",
        ("variables.tf", "github_trust.tf"),
        {"pool_id": "local.github_pool_id"},
    )


def test_pool_id_is_kept_across_applies_and_fresh_after_a_destroy(tmp_path: Path) -> None:
    iam = root(tmp_path)
    first = iam.apply(VARIABLES)["pool_id"]
    assert re.fullmatch(r"sreplat-prod-gh-[0-9a-f]{6}", first) and POOL_ID.match(first), first
    assert iam.apply(VARIABLES)["pool_id"] == first, "a re-apply must keep the pool (and its provider name)"
    iam.destroy(VARIABLES)
    again = iam.apply(VARIABLES)["pool_id"]
    assert again != first and POOL_ID.match(again), (first, again)


def test_the_longest_prefix_still_gives_a_valid_pool_id(tmp_path: Path) -> None:
    longest = "sreplat-abcdefghijkl"  # env names are at most 12 characters
    pool = root(tmp_path).apply({**VARIABLES, "name_prefix": longest})["pool_id"]
    assert POOL_ID.match(pool) and len(pool) <= 32, pool


def test_no_pool_without_a_repository(tmp_path: Path) -> None:
    plain = {k: v for k, v in VARIABLES.items() if not k.startswith("github_")}
    assert root(tmp_path).apply(plain).get("pool_id") is None
