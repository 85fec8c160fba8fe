"""The Grafana dashboards under helm/platform/dashboards/: valid dashboard JSON for a current
Grafana, every panel queries through the datasource variable, and every metric and label used
exists — the apps' ones in docs/contracts.md, the container ones from cAdvisor."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helm.charts import HELM_DIR, REPO

pytestmark = pytest.mark.helm

DASHBOARDS = sorted((HELM_DIR / "platform" / "dashboards").glob("*.json"))
# Grafana 12 writes schemaVersion 41; older Grafanas cannot load newer schemas.
MIN_SCHEMA_VERSION = 39
# Saturation panels read the kubelet's cAdvisor metrics (Managed Prometheus collects them when
# the cluster's cAdvisor/Kubelet metrics package is on); they are not the apps' to define.
CADVISOR_METRICS = {
    "container_cpu_usage_seconds_total": {"namespace", "pod", "container"},
    "container_memory_working_set_bytes": {"namespace", "pod", "container"},
}
# Labels Managed Prometheus attaches to every scraped series (PodMonitoring targetLabels).
TARGET_LABELS = {"namespace", "pod", "container", "job", "instance", "cluster", "location", "project_id"}
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "clamp_min",
    "label_values",
    "topk",
    "bottomk",
    "le",
    "inf",
    "nan",
}


def contract_metrics() -> dict[str, set[str]]:
    """Metric name → labels, from the metrics table of docs/contracts.md."""
    metrics: dict[str, set[str]] = {}
    for line in (REPO / "docs" / "contracts.md").read_text().splitlines():
        m = re.match(r"^\|\s*`(sreplat_[a-z_]+)`\s*\|\s*(\w+)[^|]*\|(.*)\|\s*$", line)
        if m:
            name, kind, labels = m.groups()
            label_set = set(re.findall(r"`([a-z_]+)`", labels))
            metrics[name] = label_set
            if kind == "histogram":
                for suffix in ("_bucket", "_sum", "_count"):
                    metrics[name + suffix] = label_set | ({"le"} if suffix == "_bucket" else set())
    return metrics


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def panels_of(board: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows nest theirs
    return out


def expressions(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in panels_of(board) for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(var["query"]["query"] if isinstance(var["query"], dict) else var["query"])
    return exprs


def used_metrics_and_labels(expr: str) -> tuple[set[str], dict[str, set[str]]]:
    """Metric names in a PromQL expression, and the labels each selector or grouping names."""
    labels_by_metric: dict[str, set[str]] = {}
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # drop string contents
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    for metric, matchers in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", text):
        labels_by_metric.setdefault(metric, set()).update(
            re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*[=!~]", matchers)
        )
    grouped = {
        g.strip()
        for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text)
        for g in group.split(",")
        if g.strip()
    }
    bare = re.sub(r"\{[^}]*\}", "", text)
    bare = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    names = {n for n in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare) if n.lower() not in PROMQL_WORDS}
    names -= {"__rate_interval", "namespace", "datasource"}  # variables ($...) and label_values' label
    metrics = names | set(labels_by_metric)
    for metric in metrics:
        labels_by_metric.setdefault(metric, set()).update(grouped)
    return metrics, labels_by_metric


def test_there_are_dashboards_for_api_and_worker() -> None:
    assert {p.stem for p in DASHBOARDS} >= {"sreplat-api", "sreplat-worker"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_is_a_valid_dashboard(path: Path) -> None:
    board = load(path)
    assert board["uid"] == path.stem and len(board["uid"]) <= 40
    assert board["title"]
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= MIN_SCHEMA_VERSION
    assert "id" not in board or board["id"] is None, "a provisioned dashboard must not carry a database id"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    panels = panels_of(board)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    queried = [p for p in panels if p["type"] != "row"]
    assert len(queried) >= 8
    for panel in queried:
        assert panel["title"] and panel["type"] in {"timeseries", "stat", "gauge", "table", "bargauge"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "${datasource}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_covers_the_golden_signals(path: Path) -> None:
    text = " ".join(expressions(load(path)))
    assert "histogram_quantile" in text  # latency
    assert "rate(" in text  # traffic
    assert re.search(r"status=~\"5\.\.\"|sreplat_jobs_failed_total", text)  # errors
    assert "container_cpu_usage_seconds_total" in text and "container_memory_working_set_bytes" in text
    assert "sreplat_queue_depth" in text  # saturation of the queue


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_metric_and_label_exists(path: Path) -> None:
    known = contract_metrics()
    assert "sreplat_http_requests_total" in known and "sreplat_job_duration_seconds_bucket" in known
    for expr in expressions(load(path)):
        metrics, labels = used_metrics_and_labels(expr)
        assert metrics, expr
        for metric in metrics:
            if metric in CADVISOR_METRICS:
                allowed = CADVISOR_METRICS[metric] | TARGET_LABELS
            else:
                assert metric in known, f"{metric} is not in docs/contracts.md: {expr}"
                allowed = known[metric] | TARGET_LABELS
            unknown = labels[metric] - allowed
            assert not unknown, f"{metric} has no label {unknown}: {expr}"


def test_metric_check_catches_typos() -> None:
    metrics, labels = used_metrics_and_labels(
        'sum by (rout) (rate(sreplat_http_request_total{status=~"5.."}[5m]))'
    )
    assert metrics == {"sreplat_http_request_total"}
    assert "sreplat_http_request_total" not in contract_metrics()
    assert labels["sreplat_http_request_total"] == {"status", "rout"}
