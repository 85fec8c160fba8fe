"""What the gcp target passes to the real Terraform stacks is what they declare and accept.

The stand-in stacks the end-to-end tests run cannot tell whether a variable name or shape matches
terraform/stacks/*: here the real stacks' ``variables.tf`` (provider-free) is planned by the real
``terraform`` with exactly the variables ``Stacks.variables`` builds from a ``sreplat.toml`` that
sets every issue-12 key (state bucket and prefix, GitHub ids and environments, Cloud Armor,
authorized networks). An undeclared variable, a wrong type or a failed validation fails the plan.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from sreplat.config import load_environment
from sreplat.targets import REGISTRY, Seams
from sreplat.targets.gcp import GcpTarget
from sreplat.tools.terraform.driver import Terraform

pytestmark = pytest.mark.terraform

REPO_ROOT = Path(__file__).resolve().parents[4]
TOML = """
[environments.prod]
target = "gcp"
project = "acme-sre-prod"
region = "europe-west1"
domain = "prod.acme.example"
github_repository = "acme/sreplat"
github_repository_id = 123456789
github_repository_owner_id = "987654321"
github_environments = ["prod", "prod-hotfix"]
master_authorized_networks = [{ cidr_block = "203.0.113.0/24", display_name = "office" }]
cloud_armor = { enabled = true, process_requests_per_minute = 300 }
"""


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GcpTarget:
    (tmp_path / "sreplat.toml").write_text(TOML)
    monkeypatch.chdir(tmp_path)
    env = load_environment("prod", registry=REGISTRY)
    return GcpTarget(env, Seams())


def plan_variables_only(stack: str, variables: dict[str, Any], tmp_path: Path) -> int:
    root = tmp_path / stack
    root.mkdir()
    shutil.copy(REPO_ROOT / "terraform" / "stacks" / stack / "variables.tf", root / "variables.tf")
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text("")
    tf = Terraform(root, env={"TF_DATA_DIR": str(root / ".tfdata"), "TF_CLI_CONFIG_FILE": str(cli_config)})
    tf.init()
    return tf.plan(tmp_path / f"{stack}.tfplan", variables).summary.total


def test_the_foundation_stack_accepts_what_the_target_passes(target: GcpTarget, tmp_path: Path) -> None:
    variables = target.stacks.variables("foundation")
    assert variables["state_bucket"] == "acme-sre-prod-sreplat-tfstate"
    assert variables["state_prefix"] == "sreplat/prod"
    assert (variables["github_repository_id"], variables["github_repository_owner_id"]) == (
        "123456789",
        "987654321",
    )
    assert variables["github_environments"] == ["prod", "prod-hotfix"]
    assert variables["cloud_armor"] == {"enabled": True, "process_requests_per_minute": 300}
    assert plan_variables_only("foundation", variables, tmp_path) == 0


def test_the_cluster_stack_accepts_what_the_target_passes(target: GcpTarget, tmp_path: Path) -> None:
    variables = target.stacks.variables("cluster", deletion_protection=False)
    assert variables["master_authorized_networks"] == [
        {"cidr_block": "203.0.113.0/24", "display_name": "office"}
    ]
    assert variables["foundation_state_prefix"] == "sreplat/prod/foundation"
    assert plan_variables_only("cluster", variables, tmp_path) == 0
