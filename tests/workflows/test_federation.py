"""Item 2 of issue 12, with issue 14's staging/prod split: which GitHub Actions jobs may act as
which environment's deployer.

The attribute mapping and condition are the exact strings Terraform would send (the real
``terraform`` evaluates modules/iam/github_trust.tf), evaluated by a real CEL implementation the
way Google STS does, against the OIDC claims GitHub issues for each job of each workflow in
.github/workflows (derived from the YAML: repository, ref, environment, event), and against
tokens that must be refused.

Every sreplat environment has its own foundation stack, so its own pool and provider; by default
(``github_environments`` unset) the pool trusts the GitHub environment named like the sreplat
environment (stacks/foundation/main.tf). ``POOLS`` models the two environments the workflows
use: deploy.yml's job (``environment: staging``) must get into staging's pool and only that one,
promote.yml's (``environment: prod``) into prod's only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.terraform.hcl import blocks, module_dir, resources
from tests.terraform.scratch import ScratchRoot
from tests.workflows.oidc import Repository, Run, Sts, load, may_mint_token, runs_of, uses_auth
from tests.workflows.workflows import REPO, workflow_files

pytestmark = pytest.mark.terraform

ACME = Repository("acme/platform", id="101", owner_id="202")
POOLS = ("staging", "prod")  # the sreplat environments of the workflows, one pool each
TRUST_OUTPUTS = {
    "condition": "local.github_attribute_condition",
    "mapping": "local.github_attribute_mapping",
    "pool_id": "local.github_pool_id",
}


def iam_variables(env: str) -> dict[str, Any]:
    """What an environment's foundation stack passes the iam module (github_environments: its
    default, the environment's own name)."""
    return {
        "project_id": f"acme-sre-{env}",
        "name_prefix": f"sreplat-{env}",
        "artifact_registry_repository": {"location": "europe-west1", "name": f"sreplat-{env}"},
        "github_repository": ACME.name,
        "github_repository_id": ACME.id,
        "github_repository_owner_id": ACME.owner_id,
        "github_environments": [env],
    }


def sts_for(tmp: Path, env: str) -> Sts:
    root = ScratchRoot(tmp, "modules/iam", ("variables.tf", "github_trust.tf"), TRUST_OUTPUTS)
    out = root.apply(iam_variables(env))
    return Sts(out["mapping"], out["condition"])


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sts]:
    """sreplat environment → its pool's provider."""
    return {env: sts_for(tmp_path_factory.mktemp(f"trust-{env}"), env) for env in POOLS}


def accepted_by(pools: dict[str, Sts], run: Run) -> set[str]:
    """The environments whose pool lets ``run``'s token in."""
    return {env for env, sts in pools.items() if sts.accepts(run.claims())}


def deploy_run(**changes: Any) -> Run:
    base = Run(ACME, "deploy.yml", "deploy", "push", "refs/heads/main", "staging")
    return base.but(**changes)


def promote_run(**changes: Any) -> Run:
    base = Run(ACME, "promote.yml", "promote", "workflow_dispatch", "refs/heads/main", "prod")
    return base.but(**changes)


def changed_environments(job: dict[str, Any]) -> set[str]:
    """The sreplat environments a job's commands change: ``--env X`` of deploy, ``--to X`` of
    promote (status and other reads left out)."""
    found = set()
    for step in job.get("steps", []):
        for line in str(step.get("run", "")).splitlines():
            words = line.split()
            if "sreplat" not in words[:1]:
                continue
            if "promote" in words and "--to" in words:
                found.add(words[words.index("--to") + 1])
            elif "deploy" in words and "--env" in words:
                found.add(words[words.index("--env") + 1])
    return found


def test_each_environment_pool_trusts_its_own_github_environment_by_default() -> None:
    """The model above is the foundation stack's: github_environments unset → [env_name]."""
    [iam] = [
        b for b in blocks("module", REPO / "terraform" / "stacks" / "foundation") if b.labels == ("iam",)
    ]
    assert iam.get("github_environments") == (
        "${var.github_environments == null ? [var.env_name] : var.github_environments}"
    )


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


def test_every_job_that_authenticates_gets_into_its_environments_pool_only(pools: dict[str, Sts]) -> None:
    """Each job that authenticates is let in by exactly one pool: the one of the sreplat
    environment its commands change, named like its GitHub environment. Every other job (CI, a
    pull request) is refused by every pool, even if it asked for a token."""
    reached: dict[str, set[str]] = {}
    for path in workflow_files():
        doc = load(path)
        for run, authenticates in runs_of(path, ACME):
            job = doc["jobs"][run.job]
            claims = run.claims()
            where = f"{run.workflow} job {run.job} on {run.event} ({run.ref})"
            assert len(claims["sub"].encode()) <= 127, f"{where}: google.subject over 127 bytes"
            if authenticates:
                assert may_mint_token(doc, job), f"{where}: uses the auth action without id-token: write"
                changed = changed_environments(job)
                assert changed == {run.environment}, (
                    f"{where}: GitHub environment {run.environment!r}, but it changes {sorted(changed)}"
                )
                assert accepted_by(pools, run) == {run.environment}, (
                    f"{where}: pools {accepted_by(pools, run)}"
                )
                reached.setdefault(run.workflow, set()).add(str(run.environment))
            else:
                assert not may_mint_token(doc, job), f"{where}: id-token: write without a use for it"
                assert accepted_by(pools, run) == set(), f"{where}: accepted without a reason to be"
    assert reached == {"deploy.yml": {"staging"}, "promote.yml": {"prod"}}


def test_the_jobs_as_github_describes_them_are_accepted(pools: dict[str, Sts]) -> None:
    run = deploy_run()
    assert run.claims()["sub"] == "repo:acme/platform:environment:staging"
    assert accepted_by(pools, run) == {"staging"}
    assert accepted_by(pools, deploy_run(event="workflow_dispatch")) == {"staging"}
    attributes = pools["staging"].attributes(run.claims())
    assert attributes is not None and attributes["attribute.repository_id"] == ACME.id
    promote = promote_run()
    assert promote.claims()["sub"] == "repo:acme/platform:environment:prod"
    assert accepted_by(pools, promote) == {"prod"}


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
        ("a promotion dispatched from another branch", promote_run(ref="refs/heads/hotfix")),
        ("a tag", deploy_run(ref="refs/tags/v1.0.0")),
        ("a job without an environment (CI on main)", deploy_run(environment=None, job="test")),
        ("a GitHub environment no pool trusts", deploy_run(environment="qa")),
        ("a scheduled run", deploy_run(event="schedule")),
        ("a scheduled promotion", promote_run(event="schedule")),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_tokens_that_must_be_refused(pools: dict[str, Sts], why: str, run: Run) -> None:
    assert accepted_by(pools, run) == set(), f"{why}: accepted"


def test_a_renamed_repository_keeps_deploying(pools: dict[str, Sts]) -> None:
    """Renaming keeps the ids; only the names in the claims change."""
    renamed = Repository("acme-corp/platform-v2", ACME.id, ACME.owner_id)
    assert accepted_by(pools, deploy_run(repository=renamed)) == {"staging"}
    assert accepted_by(pools, promote_run(repository=renamed)) == {"prod"}


def test_the_old_subject_pin_would_have_refused_the_deploy_job() -> None:
    """Regression: the condition before issue 12 pinned sub to ...:ref:refs/heads/main, which a job
    with an `environment:` never has."""
    old = Sts(
        {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"},
        "assertion.repository == 'acme/platform' && "
        "(assertion.sub == 'repo:acme/platform:ref:refs/heads/main')",
    )
    assert not old.accepts(deploy_run().claims())


MAPPING_ENVIRONMENT = """\
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


def test_workflow_model_reads_environments_and_triggers(tmp_path: Path) -> None:
    by_name = {p.name: p for p in workflow_files()}
    deploy = list(runs_of(by_name["deploy.yml"], ACME))
    assert {(r.event, r.ref, r.environment) for r, _ in deploy} == {
        ("push", "refs/heads/main", "staging"),
        ("workflow_dispatch", "refs/heads/main", "staging"),
    }
    promote = list(runs_of(by_name["promote.yml"], ACME))
    assert {(r.event, r.ref, r.environment) for r, _ in promote} == {
        ("workflow_dispatch", "refs/heads/main", "prod"),
    }
    assert all(authenticates for _, authenticates in deploy + promote)
    assert uses_auth(load(by_name["deploy.yml"])["jobs"]["deploy"])
    assert changed_environments(load(by_name["promote.yml"])["jobs"]["promote"]) == {"prod"}
    # `environment:` may also be a mapping (name + url).
    (tmp_path / "promote.yml").write_text(MAPPING_ENVIRONMENT)
    [(run, authenticates)] = list(runs_of(tmp_path / "promote.yml", ACME))
    assert authenticates and run.environment == "prod"
