"""The SLO files and their model: the repository's SLOs read the apps' real metrics, bad files are
refused with the file and the field, and the burn-rate factors are the SRE workbook's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Histogram
from sreplat_apps.telemetry import metrics as app_metrics

from sreplat.errors import ConfigError
from sreplat.slo.model import RatioSli, SloError, ThresholdSli, load_slos, parse_slo
from sreplat.slo.render import helm_values, prometheus_rules_file
from sreplat.slo.rules import GMP_GROUP_BY, WORKBOOK_ALERTS, RuleSettings, rule_groups, windows
from tests.support.contracts import contract_metrics

REPO = Path(__file__).resolve().parents[2]
SLO_DIR = REPO / "slo"

GOOD: dict[str, Any] = {
    "name": "api-availability",
    "service": "api",
    "description": "Requests succeed.",
    "objective": 0.999,
    "window": "30d",
    "sli": {"kind": "ratio", "metric": "m_total", "selector": 'route="/process"', "good": 'status!~"5.."'},
}


def test_the_repository_has_the_three_slos_of_the_issue() -> None:
    slos = {slo.name: slo for slo in load_slos(SLO_DIR)}
    assert set(slos) == {"api-availability", "api-latency", "job-freshness"}
    assert isinstance(slos["api-availability"].sli, RatioSli)
    assert isinstance(slos["job-freshness"].sli, ThresholdSli)
    assert slos["job-freshness"].sli.histogram == "sreplat_job_queue_wait_seconds"


def _histograms() -> dict[str, Histogram]:
    return {h._name: h for h in vars(app_metrics).values() if isinstance(h, Histogram)}


@pytest.mark.parametrize("slo", load_slos(SLO_DIR), ids=lambda s: s.name)
def test_slis_read_metrics_and_labels_the_apps_serve(slo: Any) -> None:
    known = contract_metrics()
    sli = slo.sli
    if isinstance(sli, RatioSli):
        metric, matchers = sli.metric, f"{sli.selector},{sli.good}"
        assert metric in known, f"{metric} is not in docs/contracts.md"
    else:
        metric, matchers = f"{sli.histogram}_bucket", sli.selector
        assert metric in known, f"{sli.histogram} is not a histogram in docs/contracts.md"
        # The threshold must be a bucket bound of the apps' histogram, or no `le` series matches.
        bounds = _histograms()[sli.histogram]._upper_bounds
        assert sli.threshold_seconds in bounds, f"{sli.threshold_seconds} is not a bucket bound: {bounds}"
    labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=|!=|=~|!~)", matchers))
    assert labels <= known[metric], f"{metric} has no label {labels - known[metric]}"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"objective": 1.0}, "objective=1.0: expected a share from 0.5 to below 1"),
        ({"objective": "99.9%"}, "objective='99.9%': expected a number"),
        ({"window": "30 days"}, "window='30 days': expected a duration"),
        ({"window": "3d"}, "window='3d': expected at least 7d"),
        ({"name": "API_Availability"}, "name='API_Availability'"),
        ({"owner": "sre"}, "unknown field 'owner'"),
        ({"sli": {**GOOD["sli"], "kind": "gauge"}}, "kind='gauge': expected ratio or threshold"),
        ({"sli": {**GOOD["sli"], "selector": "route=/process"}}, "selector='route=/process'"),
        ({"sli": {**GOOD["sli"], "good": ""}}, "good=''"),
        ({"sli": {"kind": "threshold", "histogram": "h", "threshold_seconds": 0}}, "threshold_seconds=0.0"),
        (
            {"sli": {"kind": "threshold", "histogram": "h", "threshold_seconds": 1, "good": "x"}},
            "unknown field",
        ),
    ],
)
def test_bad_slo_documents_are_refused_naming_file_and_field(change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(SloError) as raised:
        parse_slo({**GOOD, **change}, source="slo/x.yaml")
    assert raised.value.message.startswith("slo/x.yaml")
    assert complaint in raised.value.message
    assert isinstance(raised.value, ConfigError)  # exit 2: bad input, nothing changed


def test_a_missing_field_and_a_duplicate_name_are_refused(tmp_path: Path) -> None:
    doc = {key: value for key, value in GOOD.items() if key != "objective"}
    with pytest.raises(SloError, match="objective"):
        parse_slo(doc, source="x")
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump(GOOD))
    with pytest.raises(
        SloError, match=re.escape("b.yaml: name 'api-availability' is used by another SLO file")
    ):
        load_slos(tmp_path)
    with pytest.raises(SloError, match="no SLO files"):
        load_slos(tmp_path / "empty")


def test_burn_rate_factors_are_the_workbooks_for_30_days_and_scale_with_the_window() -> None:
    thirty = parse_slo(GOOD, source="x")
    assert [a.factor(thirty) for a in WORKBOOK_ALERTS] == [14.4, 6.0, 3.0, 1.0]
    assert [(a.long_window, a.short_window, a.severity) for a in WORKBOOK_ALERTS] == [
        ("1h", "5m", "page"),
        ("6h", "30m", "page"),
        ("1d", "2h", "ticket"),
        ("3d", "6h", "ticket"),
    ]
    week = parse_slo({**GOOD, "window": "7d"}, source="x")
    assert [a.factor(week) for a in WORKBOOK_ALERTS] == [3.36, 1.4, 0.7, 0.233333]
    assert windows(thirty, RuleSettings()) == ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")


def test_an_objective_too_low_for_an_alert_to_ever_fire_is_refused() -> None:
    loose = parse_slo({**GOOD, "objective": 0.9}, source="x")  # 14.4 x 10 % > 100 %
    with pytest.raises(SloError, match=re.escape("SLOFastBurn would need an error ratio above 14.4 x 0.1")):
        rule_groups([loose])


def test_every_aggregation_keeps_the_managed_prometheus_scope() -> None:
    (group,) = rule_groups([parse_slo(GOOD, source="x")], RuleSettings(group_by=GMP_GROUP_BY))
    sums = [m for rule in group.rules for m in re.findall(r"\bsum(?: by \([^)]*\))? \(", rule.expr)]
    assert sums and all(s == "sum by (project_id, location, cluster, namespace) (" for s in sums)
    (local,) = rule_groups([parse_slo(GOOD, source="x")])
    assert " by (" not in " ".join(r.expr for r in local.rules)


def test_the_rules_file_and_the_chart_value_carry_the_same_groups() -> None:
    groups = rule_groups(load_slos(SLO_DIR), RuleSettings(group_by=GMP_GROUP_BY))
    from_file = yaml.safe_load(prometheus_rules_file(groups))["groups"]
    assert from_file == helm_values(groups)["slo"]["ruleGroups"]
    assert [g["name"] for g in from_file] == ["slo-api-availability", "slo-api-latency", "slo-job-freshness"]
    assert all(g["interval"] == "30s" for g in from_file)
