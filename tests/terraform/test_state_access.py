"""Security item of issue 12: the CI deployer may read the stacks' states and write only the
release record and the environment lock; the build account reads only build contexts.

The IAM Conditions are the exact strings Terraform would send (the real ``terraform`` evaluates
modules/iam/state_access.tf), evaluated with a CEL implementation against the resource names
Cloud Storage checks ("projects/_/buckets/<bucket>/objects/<object>"), combined with what each
role allows (cloud.google.com/storage/docs/access-control/iam-roles).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.terraform.hcl import TERRAFORM_DIR, module_dir, resources
from tests.terraform.scratch import ScratchRoot

pytestmark = pytest.mark.terraform

BUCKET = "acme-sre-prod-sreplat-tfstate"
# Object permissions of the roles granted (Cloud Storage IAM roles reference).
ROLE_ALLOWS = {
    "roles/storage.objectViewer": {"get", "list"},
    "roles/storage.objectUser": {"get", "list", "create", "update", "delete"},
}
MEMBERS = {
    "deployer_reads_states": "deployer",
    "deployer_writes_release": "deployer",
    "build_reads_sources": "build",
}


@pytest.fixture(scope="module")
def conditions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = ScratchRoot(
        tmp_path_factory.mktemp("state-access"),
        "modules/iam",
        ("variables.tf", "state_access.tf"),
        {"conditions": "local.state_conditions", "objects": "local.state_objects"},
    )
    return root.apply(
        {
            "project_id": "acme-sre-prod",
            "name_prefix": "sreplat-prod",
            "artifact_registry_repository": {"location": "europe-west1", "name": "sreplat-prod"},
            "state_bucket": {"name": BUCKET, "prefix": "sreplat/prod"},
        }
    )


def bindings() -> dict[str, str]:
    """binding resource name -> role, from modules/iam/main.tf."""
    found = {}
    for block in resources("google_storage_bucket_iam_member", module_dir("iam")):
        condition = block.blocks("condition")[0]
        assert condition["expression"] == f"${{local.state_conditions.{block.labels[1]}}}", block.where
        found[block.labels[1]] = str(block.get("role"))
    return found


def allowed(conditions: dict[str, Any], who: str, action: str, obj: str) -> bool:
    import celpy

    env = celpy.Environment()
    name = f"projects/_/buckets/{BUCKET}/objects/{obj}"
    for binding, role in bindings().items():
        if MEMBERS[binding] != who or action not in ROLE_ALLOWS[role]:
            continue
        program = env.program(env.compile(conditions["conditions"][binding]))
        if program.evaluate({"resource": celpy.json_to_cel({"name": name})}):
            return True
    return False


@pytest.mark.parametrize(
    ("who", "action", "obj", "expected"),
    [
        ("deployer", "get", "sreplat/prod/foundation/default.tfstate", True),
        ("deployer", "get", "sreplat/prod/cluster/default.tfstate", True),
        ("deployer", "update", "sreplat/prod/foundation/default.tfstate", False),
        ("deployer", "delete", "sreplat/prod/cluster/default.tfstate", False),
        ("deployer", "create", "sreplat/prod/foundation/default.tflock", False),
        ("deployer", "get", "sreplat/staging/foundation/default.tfstate", False),
        ("deployer", "create", "sreplat/prod/release.json", True),
        ("deployer", "delete", "sreplat/prod/release.json", True),  # overwriting needs delete too
        ("deployer", "create", "sreplat/prod/lock.json", True),
        ("deployer", "delete", "sreplat/prod/lock.json", True),
        ("deployer", "create", "sreplat/prod/release.json.bak", False),
        ("deployer", "create", "sreplat/staging/release.json", False),
        ("deployer", "get", "source/sreplat-api-0123456789ab-deadbeef.tgz", False),
        ("build", "get", "source/sreplat-api-0123456789ab-deadbeef.tgz", True),
        ("build", "create", "source/sreplat-api-0123456789ab-deadbeef.tgz", False),
        ("build", "get", "sreplat/prod/foundation/default.tfstate", False),
    ],
)
def test_who_may_do_what_in_the_state_bucket(
    conditions: dict[str, Any], who: str, action: str, obj: str, expected: bool
) -> None:
    assert allowed(conditions, who, action, obj) is expected


def test_grants_are_terraform_resources_of_the_foundation_stack() -> None:
    """Granted in the foundation stack (destroy removes them), not by the CLI outside Terraform."""
    assert set(bindings()) == set(MEMBERS)
    assert bindings()["deployer_writes_release"] == "roles/storage.objectUser"
    assert {bindings()[b] for b in ("deployer_reads_states", "build_reads_sources")} == {
        "roles/storage.objectViewer"
    }
    foundation = (TERRAFORM_DIR / "stacks" / "foundation" / "main.tf").read_text()
    assert "state_bucket = var.state_bucket == null ? null" in foundation


def test_object_names_are_an_output_for_the_cli(conditions: dict[str, Any]) -> None:
    assert conditions["objects"]["release"] == "sreplat/prod/release.json"
    assert conditions["objects"]["lock"] == "sreplat/prod/lock.json"


def test_no_bucket_no_grants(tmp_path: Path) -> None:
    root = ScratchRoot(
        tmp_path, "modules/iam", ("variables.tf", "state_access.tf"), {"c": "local.state_conditions"}
    )
    out = root.apply(
        {
            "project_id": "acme-sre-prod",
            "name_prefix": "sreplat-prod",
            "artifact_registry_repository": {"location": "europe-west1", "name": "sreplat-prod"},
        }
    )
    assert out["c"] == {}
