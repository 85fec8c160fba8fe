"""Issue 12 item 5 from the CLI's side: a destroy then a bootstrap of the same environment works,
and bootstrap prints the GitHub provider's (new) name for the repository variable.

Workload identity pools are soft-deleted for 30 days (their id cannot be reused meanwhile), so the
foundation stack suffixes the pool id with a random value kept in its state
(terraform/modules/iam/github_trust.tf; the stand-in stack does the same): the name after a
re-bootstrap differs, and ``GCP_WORKLOAD_IDENTITY_PROVIDER`` has to be set again.
"""

from __future__ import annotations

import pytest

from tests.unit.targets.gcp.world import World

pytestmark = [pytest.mark.terraform, pytest.mark.helm, pytest.mark.slow]


def test_a_destroyed_environment_bootstraps_again_and_prints_the_new_provider(world: World) -> None:
    world.configure(
        github_repository="acme/sreplat", github_repository_id="101", github_repository_owner_id="202"
    )
    first = world.cli("bootstrap")
    assert first.code == 0, first.err[-3000:]
    before = first.result["facts"]["ci_identity_provider"]
    assert before.startswith("projects/") and "/workloadIdentityPools/sreplat-dev-gh-" in before

    destroyed = world.cli("destroy", "--yes")
    assert destroyed.code == 0, destroyed.err[-3000:]

    again = world.cli("bootstrap")
    assert again.code == 0, again.err[-3000:]
    after = again.result["facts"]["ci_identity_provider"]
    assert after.startswith("projects/") and after != before
    assert world.release_record() is not None
