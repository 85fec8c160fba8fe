"""The modules' and stacks' variable validations, evaluated by the real ``terraform``.

A module's ``variables.tf`` needs no provider, so a copy of it alone is a root module that
``terraform plan`` can evaluate offline: valid inputs plan cleanly, bad ones fail with the
validation's message, before anything would be created.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from sreplat.tools.terraform.driver import Terraform, TerraformFailed
from tests.terraform.hcl import TERRAFORM_DIR

pytestmark = pytest.mark.terraform

VALID: dict[str, dict[str, Any]] = {
    "modules/network": {"project_id": "acme-sre-dev", "region": "asia-south1", "name": "sreplat-dev"},
    "modules/gke_autopilot": {
        "project_id": "acme-sre-dev",
        "region": "asia-south1",
        "name": "sreplat-dev",
        "network": "projects/acme-sre-dev/global/networks/sreplat-dev",
        "subnetwork": "projects/acme-sre-dev/regions/asia-south1/subnetworks/sreplat-dev",
        "pods_range_name": "pods",
        "services_range_name": "services",
        "node_service_account": "nodes@acme-sre-dev.iam.gserviceaccount.com",
    },
    "modules/dns": {
        "project_id": "acme-sre-dev",
        "zone_name": "sreplat-dev",
        "domain": "dev.acme.example",
        "ingress_address": "203.0.113.10",
    },
    "modules/artifact_registry": {
        "project_id": "acme-sre-dev",
        "region": "asia-south1",
        "repository_id": "sreplat",
    },
    "modules/ingress": {"project_id": "acme-sre-dev", "name": "sreplat-dev-ingress"},
    "modules/iam": {
        "project_id": "acme-sre-dev",
        "name_prefix": "sreplat-dev",
        "artifact_registry_repository": {"location": "asia-south1", "name": "sreplat"},
    },
    "modules/observability_iam": {"project_id": "acme-sre-dev", "name_prefix": "sreplat-dev"},
    "modules/private_google_apis": {
        "project_id": "acme-sre-dev",
        "zone_name": "sreplat-dev-googleapis",
        "network": "projects/acme-sre-dev/global/networks/sreplat-dev",
    },
    "stacks/foundation": {
        "project_id": "acme-sre-dev",
        "region": "asia-south1",
        "env_name": "dev",
        "domain": "dev.acme.example",
    },
    "stacks/cluster": {
        "project_id": "acme-sre-dev",
        "region": "asia-south1",
        "env_name": "dev",
        "state_bucket": "acme-sre-dev-tfstate",
        "foundation_state_prefix": "sreplat/dev/foundation",
    },
}

# (root, overrides, a fragment of the expected error message)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("modules/network", {"project_id": "Acme_Dev"}, "Google Cloud project ID"),
    ("modules/network", {"region": "mars"}, "Google Cloud region"),
    ("modules/network", {"pods_cidr": "10.20.0.0/33"}, "pods_cidr must be an IPv4 CIDR"),
    ("modules/network", {"flow_logs_sampling": 0}, "flow_logs_sampling"),
    ("modules/gke_autopilot", {"release_channel": "NIGHTLY"}, "release_channel must be"),
    (
        "modules/gke_autopilot",
        {"master_authorized_networks": [{"cidr_block": "0.0.0.0/0", "display_name": "all"}]},
        "0.0.0.0/0",
    ),
    ("modules/gke_autopilot", {"master_ipv4_cidr_block": "172.16.0.0/24"}, "/28"),
    (
        "modules/gke_autopilot",
        {"node_service_account": "123-compute@developer.gserviceaccount.com"},
        "not the Compute Engine default",
    ),
    (
        "modules/gke_autopilot",
        {
            "maintenance_window": {
                "start_time": "2025-01-04T10:00:00Z",
                "end_time": "2025-01-04T02:00:00Z",
                "recurrence": "FREQ=WEEKLY;BYDAY=SA",
            }
        },
        "start before end",
    ),
    ("modules/gke_autopilot", {"database_encryption_key": "my-key"}, "full Cloud KMS key name"),
    ("modules/dns", {"domain": "dev.acme.example."}, "without a trailing dot"),
    ("modules/dns", {"ingress_address": "not-an-ip"}, "IPv4 address"),
    ("modules/artifact_registry", {"keep_recent_versions": 0}, "at least 1"),
    ("modules/artifact_registry", {"untagged_max_age_days": 1.5}, "whole number"),
    ("modules/iam", {"workload_roles": {"api": ["roles/owner"]}}, "basic roles"),
    ("modules/iam", {"github_repository": "not a repo"}, "owner/name"),
    ("modules/iam", {"github_refs": ["main"]}, "full ref"),
    (
        "modules/iam",
        {
            "github_repository": "acme/platform",
            "github_repository_owner_id": "2",
            "github_environments": ["prod"],
        },
        "github_repository_id must be",
    ),
    (
        "modules/iam",
        {
            "github_repository": "acme/platform",
            "github_repository_id": "acme/platform",
            "github_repository_owner_id": "2",
            "github_environments": ["prod"],
        },
        "numeric id",
    ),
    (
        "modules/iam",
        {
            "github_repository": "acme/platform",
            "github_repository_id": "1",
            "github_repository_owner_id": "2",
        },
        "at least one GitHub environment",
    ),
    ("modules/iam", {"github_events": ["push", "pull_request_target"]}, "never allowed to deploy"),
    ("modules/iam", {"name_prefix": "a-much-too-long-prefix-for-ids"}, "3-21"),
    ("modules/iam", {"state_bucket": {"name": "b-tfstate", "prefix": "/sreplat/dev/"}}, "relative prefix"),
    ("modules/iam", {"state_bucket": {"name": "b-tfstate", "prefix": "sreplat/dev'x"}}, "relative prefix"),
    (
        "modules/ingress",
        {"cloud_armor": {"enabled": True, "process_requests_per_minute": 0}},
        "between 1 and",
    ),
    ("modules/artifact_registry", {"release_tag_prefix": "Release"}, "release_tag_prefix must be"),
    ("modules/observability_iam", {"name_prefix": "a-much-too-long-prefix-for-ids"}, "3-22"),
    ("modules/observability_iam", {"kubernetes_namespace": "Sreplat"}, "Kubernetes namespace"),
    ("modules/private_google_apis", {"network": "sreplat-dev"}, "self link or ID"),
    ("stacks/foundation", {"env_name": "Production"}, "env_name must be"),
    ("stacks/cluster", {"foundation_state_prefix": "/abs"}, "relative path"),
]


@pytest.fixture
def variables_only(tmp_path: Path) -> Any:
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text("")
    env = {"TF_DATA_DIR": str(tmp_path / "tfdata"), "TF_CLI_CONFIG_FILE": str(cli_config)}

    def make(root: str) -> Terraform:
        target = tmp_path / root.replace("/", "_")
        if not target.exists():
            target.mkdir()
            shutil.copy(TERRAFORM_DIR / root / "variables.tf", target / "variables.tf")
        tf = Terraform(target, env={**env, "TF_DATA_DIR": str(target / ".tfdata")})
        tf.init()
        return tf

    return make


@pytest.mark.parametrize("root", sorted(VALID))
def test_valid_inputs_pass_validation(root: str, variables_only: Any, tmp_path: Path) -> None:
    plan = variables_only(root).plan(tmp_path / "ok.tfplan", VALID[root])
    assert plan.summary.total == 0


@pytest.mark.parametrize(
    ("root", "overrides", "message"), INVALID, ids=[f"{r}:{next(iter(o))}" for r, o, _ in INVALID]
)
def test_invalid_inputs_fail_with_a_clear_message(
    root: str, overrides: dict[str, Any], message: str, variables_only: Any, tmp_path: Path
) -> None:
    with pytest.raises(TerraformFailed) as info:
        variables_only(root).plan(tmp_path / "bad.tfplan", {**VALID[root], **overrides})
    assert "Invalid value for variable" in info.value.message
    assert info.value.detail is not None and message in info.value.detail
    assert not (tmp_path / "bad.tfplan").exists()
