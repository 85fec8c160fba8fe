"""The Grafana dashboards under helm/platform/dashboards/: valid dashboard JSON for a current
Grafana, every panel queries through the datasource variable, and every metric and label used
exists — the apps' ones in docs/contracts.md, the container ones from cAdvisor, the SLO ones
among the recording rules sreplat.slo generates from slo/*.yaml."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helm.charts import HELM_DIR, REPO
from tests.support.contracts import contract_metrics

pytestmark = pytest.mark.helm

DASHBOARDS = sorted((HELM_DIR / "platform" / "dashboards").glob("*.json"))
GOLDEN_SIGNALS = [p for p in DASHBOARDS if p.stem in ("sreplat-api", "sreplat-worker")]
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


def slo_recordings() -> dict[str, set[str]]:
    """Recording rule name → labels, as sreplat.slo generates them for Managed Prometheus."""
    from sreplat.slo.model import load_slos
    from sreplat.slo.rules import GMP_GROUP_BY, RuleSettings, rule_groups

    groups = rule_groups(load_slos(REPO / "slo"), RuleSettings(group_by=GMP_GROUP_BY))
    return {r.record: set(r.labels) | set(GMP_GROUP_BY) for g in groups for r in g.rules if r.record}


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


def test_there_are_dashboards_for_api_worker_and_slos() -> None:
    assert {p.stem for p in DASHBOARDS} >= {"sreplat-api", "sreplat-worker", "sreplat-slo"}


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


@pytest.mark.parametrize("path", GOLDEN_SIGNALS, ids=lambda p: p.stem)
def test_covers_the_golden_signals(path: Path) -> None:
    text = " ".join(expressions(load(path)))
    assert "histogram_quantile" in text  # latency
    assert "rate(" in text  # traffic
    assert re.search(r"status=~\"5\.\.\"|sreplat_jobs_failed_total", text)  # errors
    assert "container_cpu_usage_seconds_total" in text and "container_memory_working_set_bytes" in text
    assert "sreplat_queue_depth" in text  # saturation of the queue


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_metric_and_label_exists(path: Path) -> None:
    known = contract_metrics() | slo_recordings()
    assert "sreplat_http_requests_total" in known and "sreplat_job_duration_seconds_bucket" in known
    for expr in expressions(load(path)):
        metrics, labels = used_metrics_and_labels(expr)
        assert metrics, expr
        for metric in metrics:
            if metric in CADVISOR_METRICS:
                allowed = CADVISOR_METRICS[metric] | TARGET_LABELS
            else:
                assert metric in known, f"{metric} is not in docs/contracts.md nor an SLO recording: {expr}"
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


def _panel_exprs(name: str) -> dict[str, str]:
    board = load(HELM_DIR / "platform" / "dashboards" / f"{name}.json")
    return {p["title"]: " ".join(t["expr"] for t in p.get("targets", [])) for p in panels_of(board)}


def _has(exprs: dict[str, str], *needles: str) -> bool:
    """Some panel queries all of ``needles``."""
    return any(all(n in text for n in needles) for text in exprs.values())


def test_api_dashboard_shows_its_four_golden_signals() -> None:
    exprs = _panel_exprs("sreplat-api")
    assert _has(exprs, "rate(sreplat_http_requests_total")  # traffic
    assert _has(exprs, 'status=~"5.."', "sreplat_http_requests_total")  # errors
    quantiles = ("histogram_quantile(0.5,", "histogram_quantile(0.95,", "histogram_quantile(0.99,")
    assert _has(exprs, *quantiles, "sreplat_http_request_duration_seconds_bucket")  # latency
    for saturation in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes"):
        assert _has(exprs, saturation, 'container="api"')
    assert _has(exprs, "sreplat_queue_depth")


def test_worker_dashboard_shows_the_six_worker_signals() -> None:
    exprs = _panel_exprs("sreplat-worker")
    assert _has(exprs, "rate(sreplat_jobs_processed_total")  # throughput
    assert _has(exprs, "sreplat_jobs_failed_total")  # failures
    quantiles = ("histogram_quantile(0.5,", "histogram_quantile(0.95,", "histogram_quantile(0.99,")
    assert _has(exprs, *quantiles, "sreplat_job_duration_seconds_bucket")  # job duration
    assert _has(exprs, "sreplat_queue_depth")  # queue depth
    assert _has(exprs, *quantiles, "sreplat_job_queue_wait_seconds_bucket")  # time in queue
    assert _has(exprs, "sreplat_jobs_in_progress")  # busy workers


def test_slo_dashboard_shows_budget_and_every_alert_windows_burn_rates() -> None:
    from sreplat.slo.model import load_slos
    from sreplat.slo.rules import WORKBOOK_ALERTS

    board = load(HELM_DIR / "platform" / "dashboards" / "sreplat-slo.json")
    exprs = _panel_exprs("sreplat-slo")
    assert _has(exprs, "slo:error_budget:remaining")
    slos = load_slos(REPO / "slo")
    assert {slo.window for slo in slos} == {"30d"}  # the factors shown are those of 30-day windows
    for alert in WORKBOOK_ALERTS:
        # Both windows of an alert in one panel, with its factor as the red threshold line.
        wanted = (f"slo:burn_rate:{alert.long_window}{{", f"slo:burn_rate:{alert.short_window}{{")
        (panel,) = [p for p in panels_of(board) if all(w in json.dumps(p.get("targets")) for w in wanted)]
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert {"color": "red", "value": alert.factor(slos[0])} in steps
