"""Item 2 of issue 12: which GitHub Actions jobs may act as the deployer.

The attribute mapping and condition are the exact strings Terraform would send (the real
``terraform`` evaluates modules/iam/github_trust.tf), evaluated by a real CEL implementation the
way Google STS does, against the OIDC claims GitHub issues for each job of each workflow in
.github/workflows (derived from the YAML: repository, ref, environment, event), and against
tokens that must be refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.terraform.hcl import module_dir, resources
from tests.terraform.scratch import ScratchRoot
from tests.workflows.oidc import Repository, Run, Sts, load, may_mint_token, runs_of, uses_auth
from tests.workflows.workflows import workflow_files

pytestmark = pytest.mark.terraform

ACME = Repository("acme/platform", id="101", owner_id="202")
IAM_VARIABLES: dict[str, Any] = {
    "project_id": "acme-sre-prod",
    "name_prefix": "sreplat-prod",
    "artifact_registry_repository": {"location": "europe-west1", "name": "sreplat-prod"},
    "github_repository": ACME.name,
    "github_repository_id": ACME.id,
    "github_repository_owner_id": ACME.owner_id,
}
TRUST_OUTPUTS = {
    "condition": "local.github_attribute_condition",
    "mapping": "local.github_attribute_mapping",
    "pool_id": "local.github_pool_id",
}


def sts_for(tmp: Path, environments: list[str]) -> Sts:
    root = ScratchRoot(tmp, "modules/iam", ("variables.tf", "github_trust.tf"), TRUST_OUTPUTS)
    out = root.apply({**IAM_VARIABLES, "github_environments": environments})
    return Sts(out["mapping"], out["condition"])


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Sts:
    return sts_for(tmp_path_factory.mktemp("trust-prod"), ["prod"])


def deploy_run(**changes: Any) -> Run:
    base = Run(ACME, "deploy.yml", "deploy", "push", "refs/heads/main", "prod")
    return base.but(**changes)


def test_the_provider_sends_exactly_the_evaluated_trust_rules() -> None:
    [provider] = resources("google_iam_workload_identity_pool_provider", module_dir("iam"))
    assert provider.get("attribute_condition") == "${local.github_attribute_condition}"
    assert provider.get("attribute_mapping") == "${local.github_attribute_mapping}"
    [pool] = resources("google_iam_workload_identity_pool", module_dir("iam"))
    assert pool.get("workload_identity_pool_id") == "${local.github_pool_id}"
    [binding] = [
        b
        for b in resources("google_service_account_iam_member", module_dir("iam"))
        if "federation" in b.labels[1]
    ]
    # Impersonation is granted on the id attribute the mapping fills in, never on the name.
    assert str(binding.get("member")).endswith("/attribute.repository_id/${var.github_repository_id}")


def test_every_job_that_authenticates_is_accepted_and_every_other_job_refused(prod: Sts) -> None:
    accepted = []
    for path in workflow_files():
        doc = load(path)
        for run, authenticates in runs_of(path, ACME):
            job = doc["jobs"][run.job]
            claims = run.claims()
            where = f"{run.workflow} job {run.job} on {run.event} ({run.ref})"
            assert len(claims["sub"].encode()) <= 127, f"{where}: google.subject over 127 bytes"
            if authenticates:
                assert may_mint_token(doc, job), f"{where}: uses the auth action without id-token: write"
                assert prod.accepts(claims), f"{where}: refused by {prod.condition}"
                accepted.append(where)
            else:
                assert not may_mint_token(doc, job), f"{where}: id-token: write without a use for it"
                # Even if such a job asked for a token, Google would refuse it.
                assert not prod.accepts(claims), f"{where}: accepted without a reason to be"
    assert any("deploy.yml" in where for where in accepted), accepted


def test_the_deploy_job_as_github_describes_it_is_accepted(prod: Sts) -> None:
    run = deploy_run()
    assert run.claims()["sub"] == "repo:acme/platform:environment:prod"
    assert prod.accepts(run.claims())
    assert prod.accepts(deploy_run(event="workflow_dispatch").claims())
    attributes = prod.attributes(run.claims())
    assert attributes is not None and attributes["attribute.repository_id"] == ACME.id


@pytest.mark.parametrize(
    ("why", "run"),
    [
        ("another repository", deploy_run(repository=Repository("evil/platform", "666", "667"))),
        (
            "a new repository that took the old name",
            deploy_run(repository=Repository(ACME.name, "999", "202")),
        ),
        (
            "the same name under a new owner account",
            deploy_run(repository=Repository(ACME.name, "101", "998")),
        ),
        (
            "a fork's pull request",
            deploy_run(event="pull_request", ref="refs/pull/7/merge", environment=None),
        ),
        ("pull_request_target in the base repository", deploy_run(event="pull_request_target")),
        ("a push to another branch", deploy_run(ref="refs/heads/feature")),
        ("a manual run from another branch", deploy_run(event="workflow_dispatch", ref="refs/heads/feature")),
        ("a tag", deploy_run(ref="refs/tags/v1.0.0")),
        ("a job without an environment (CI on main)", deploy_run(environment=None, job="test")),
        ("another GitHub environment", deploy_run(environment="staging")),
        ("a scheduled run", deploy_run(event="schedule")),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_tokens_that_must_be_refused(prod: Sts, why: str, run: Run) -> None:
    assert not prod.accepts(run.claims()), f"{why}: accepted"


def test_a_renamed_repository_keeps_deploying(prod: Sts) -> None:
    """Renaming keeps the ids; only the names in the claims change."""
    renamed = deploy_run(repository=Repository("acme-corp/platform-v2", ACME.id, ACME.owner_id))
    assert prod.accepts(renamed.claims())


def test_the_old_subject_pin_would_have_refused_the_deploy_job() -> None:
    """Regression: the condition before issue 12 pinned sub to ...:ref:refs/heads/main, which a job
    with `environment: prod` never has."""
    old = Sts(
        {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"},
        "assertion.repository == 'acme/platform' && "
        "(assertion.sub == 'repo:acme/platform:ref:refs/heads/main')",
    )
    assert not old.accepts(deploy_run().claims())


STAGING_DEPLOY = """\
on:
  push:
    branches: [main]
permissions:
  contents: read
jobs:
  deploy:
    runs-on: ubuntu-24.04
    environment: staging
    permissions: {contents: read, id-token: write}
    steps:
      - uses: google-github-actions/auth@7c6bc770dae815cd3e89ee6cdf493a5fab2cc093  # v3.0.0
"""
PROMOTE = """\
on:
  workflow_dispatch:
jobs:
  promote:
    runs-on: ubuntu-24.04
    environment:
      name: prod
      url: https://api.prod.acme.example
    permissions: {contents: read, id-token: write}
    steps:
      - uses: google-github-actions/auth@7c6bc770dae815cd3e89ee6cdf493a5fab2cc093  # v3.0.0
"""


def test_staging_deploys_and_a_reviewed_promotion_to_prod_each_reach_only_their_environment(
    tmp_path: Path, prod: Sts
) -> None:
    """Issue 14's plan: deploy.yml ships main to `staging`, promote.yml (required reviewers on the
    GitHub environment) ships to `prod`. Each sreplat environment has its own pool, trusting the
    GitHub environment of the same name."""
    staging = sts_for(tmp_path / "trust-staging", ["staging"])
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "deploy.yml").write_text(STAGING_DEPLOY)
    (workflows / "promote.yml").write_text(PROMOTE)
    [(ship, ship_auth)] = list(runs_of(workflows / "deploy.yml", ACME))
    [(promote, promote_auth)] = list(runs_of(workflows / "promote.yml", ACME))
    assert ship_auth and promote_auth
    assert (ship.environment, promote.environment) == ("staging", "prod")
    assert staging.accepts(ship.claims()) and not prod.accepts(ship.claims())
    assert prod.accepts(promote.claims()) and not staging.accepts(promote.claims())
    # A promotion dispatched from a branch other than main is refused by both.
    stray = promote.but(ref="refs/heads/hotfix")
    assert not prod.accepts(stray.claims()) and not staging.accepts(stray.claims())


def test_workflow_model_reads_environments_and_triggers() -> None:
    deploy = next(p for p in workflow_files() if p.name == "deploy.yml")
    runs = list(runs_of(deploy, ACME))
    assert {(r.event, r.ref, r.environment) for r, _ in runs} == {
        ("push", "refs/heads/main", "prod"),
        ("workflow_dispatch", "refs/heads/main", "prod"),
    }
    assert all(authenticates for _, authenticates in runs)
    assert uses_auth(load(deploy)["jobs"]["deploy"])
