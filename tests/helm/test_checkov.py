"""checkov over the rendered manifests of every chart and scenario: zero failed checks outside
the skip set in helm/.checkov.yaml, where every skip carries its reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from sreplat import proc
from tests.helm.charts import HELM_DIR, REPO, pod_spec, rendered, scenarios, workloads

pytestmark = [pytest.mark.helm, pytest.mark.slow]

CHECKOV_CONFIG = HELM_DIR / ".checkov.yaml"
# Each of these is explained in helm/.checkov.yaml; adding one needs a reason there and here.
REASONED_SKIPS = {"CKV_K8S_15", "CKV_K8S_35", "CKV_K8S_40", "CKV_K8S_43"}


def checkov_binary() -> str:
    local = REPO / ".tools" / "checkov" / "bin" / "checkov"
    found = str(local) if local.exists() else shutil.which("checkov")
    if found is None:
        pytest.fail("checkov is not installed: run `make .tools/checkov/.installed` (make test does)")
    return found


def run_checkov(directory: Path) -> dict[str, Any]:
    # checkov exits 1 when a check fails; the JSON report says which.
    result = proc.run(
        [checkov_binary(), "--config-file", str(CHECKOV_CONFIG), "-d", str(directory), "-o", "json"],
        ok_codes=(0, 1),
        timeout=600,
    )
    report = json.loads(result.stdout)
    # One framework gives one report object; several would give a list.
    assert isinstance(report, dict), "expected a single (kubernetes) report"
    return report


def test_skip_set_is_exactly_the_reasoned_one() -> None:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    assert set(config["skip-check"]) == REASONED_SKIPS
    assert config["framework"] == ["kubernetes"]
    lines = CHECKOV_CONFIG.read_text().splitlines()
    for check in REASONED_SKIPS:
        at = lines.index(f"  - {check}")
        assert lines[at - 1].lstrip().startswith("#"), f"{check} has no reason above it"


def test_rendered_manifests_pass_checkov(tmp_path: Path) -> None:
    count = 0
    for scenario in scenarios():
        objs = rendered(scenario)
        # checkov counts each object, and each workload's containers once more.
        count += len(objs) + sum(len(pod_spec(w)["containers"]) for w in workloads(objs))
        (tmp_path / f"{scenario.chart}-{scenario.name}.yaml").write_text(
            yaml.safe_dump_all(objs, sort_keys=False)
        )
    report = run_checkov(tmp_path)
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] == count, "checkov did not look at every rendered object"
    assert summary["passed"] > 10 * len(scenarios())


def test_config_still_catches_an_unsafe_pod(tmp_path: Path) -> None:
    """The skip set must not blind checkov: a privileged, root, writable pod still fails."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unsafe", "namespace": "sreplat"},
        "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]},
    }
    (tmp_path / "unsafe.yaml").write_text(yaml.safe_dump(pod))
    failed = {c["check_id"] for c in run_checkov(tmp_path)["results"]["failed_checks"]}
    # privileged, no readOnlyRootFilesystem, capabilities not dropped, no resource requests
    assert {"CKV_K8S_16", "CKV_K8S_22", "CKV_K8S_37", "CKV_K8S_12"} <= failed
