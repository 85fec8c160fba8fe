"""The staging → prod split of the workflows (issue 14): deploy.yml ships main to staging,
promote.yml promotes what staging runs to prod behind the reviewed GitHub environment `prod`;
both keyless (Workload Identity Federation), one concurrency group per environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return dict(doc)


def job(doc: dict[str, Any]) -> dict[str, Any]:
    [only] = doc["jobs"].values()
    return dict(only)


def keyless(step_list: list[dict[str, Any]], permissions: dict[str, str]) -> bool:
    [auth] = [s for s in step_list if str(s.get("uses", "")).startswith("google-github-actions/auth@")]
    return (
        permissions.get("id-token") == "write"
        and "workload_identity_provider" in auth["with"]
        and "credentials_json" not in auth["with"]
    )


def test_pushes_to_main_deploy_to_staging_only() -> None:
    doc = load("deploy.yml")
    deploy = job(doc)
    assert doc["on"]["push"]["branches"] == ["main"]
    assert deploy["environment"] == "staging"
    assert doc["concurrency"] == {"group": "deploy-staging", "cancel-in-progress": False}
    assert keyless(deploy["steps"], deploy["permissions"])
    runs = [s["run"] for s in deploy["steps"] if "run" in s]
    assert 'sreplat --env staging --output json deploy --sha "$GITHUB_SHA"' in runs
    assert not any("--env prod" in r for r in runs)


def test_prod_changes_only_by_a_reviewed_promotion_of_what_staging_runs() -> None:
    doc = load("promote.yml")
    promote = job(doc)
    assert set(doc["on"]) == {"workflow_dispatch"}  # never automatic: someone asks, reviewers approve
    assert promote["environment"] == "prod"
    assert doc["concurrency"] == {"group": "deploy-prod", "cancel-in-progress": False}
    assert keyless(promote["steps"], promote["permissions"])
    [command] = [s["run"] for s in promote["steps"] if "promote" in s.get("run", "")]
    assert command.startswith("sreplat --output json promote --from staging --to prod")
    assert not any("deploy --sha" in s.get("run", "") for s in promote["steps"])


def test_each_environment_has_its_own_concurrency_group() -> None:
    groups = {name: load(name)["concurrency"]["group"] for name in ("deploy.yml", "promote.yml")}
    assert len(set(groups.values())) == 2
