"""checkov over the rendered manifests of every chart and scenario: zero failed checks outside
the skip set in helm/.checkov.yaml, where every skip carries its reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.charts import HELM_DIR, pod_spec, rendered, scenarios, workloads
from tests.support import checkov

pytestmark = [pytest.mark.helm, pytest.mark.slow]

CHECKOV_CONFIG = HELM_DIR / ".checkov.yaml"
# Each of these is explained in helm/.checkov.yaml; adding one needs a reason there and here.
REASONED_SKIPS = {"CKV_K8S_15", "CKV_K8S_35", "CKV_K8S_40", "CKV_K8S_43"}


def run_checkov(directory: Path) -> dict[str, Any]:
    return checkov.run_checkov(directory, config=CHECKOV_CONFIG, framework="kubernetes")


def test_skip_set_is_exactly_the_reasoned_one() -> None:
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    assert config["framework"] == ["kubernetes"]
    reasons = checkov.skip_reasons(CHECKOV_CONFIG)
    assert set(reasons) == REASONED_SKIPS
    assert [check for check, why in reasons.items() if not why] == [], "skips with no reason above them"


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
