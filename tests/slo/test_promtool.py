"""The generated rules under Debian's ``promtool``: they check clean, and synthetic traffic fires
exactly the alerts the SRE workbook's multi-window, multi-burn-rate table says it should.

Budgets: api-availability 99.9 % (0.1 %), api-latency and job-freshness 99 % (1 %), all over 30 d,
so the thresholds are 14.4x (1 h & 5 m), 6x (6 h & 30 m), 3x (1 d & 2 h) and 1x (3 d & 6 h).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sreplat.slo.model import Slo, load_slos
from sreplat.slo.render import prometheus_rules_file
from sreplat.slo.rules import GMP_GROUP_BY, RuleGroup, RuleSettings, rule_groups
from tests.slo.promtool import Phase, counter, run, run_rule_tests

pytestmark = pytest.mark.prometheus

SLO_DIR = Path(__file__).resolve().parents[2] / "slo"
ALERTS = ("SLOFastBurn", "SLOSlowBurn", "SLOSustainedBurn", "SLOBudgetDrain")
AVAILABILITY = 'sreplat_http_requests_total{route="/process",method="POST",status="%s"}'


def slo(name: str) -> Slo:
    (found,) = [s for s in load_slos(SLO_DIR) if s.name == name]
    return found


def groups_of(name: str, settings: RuleSettings | None = None) -> tuple[RuleGroup, ...]:
    return rule_groups([slo(name)], settings)


def availability_series(phases: list[Phase], interval: int, **labels: str) -> list[dict[str, str]]:
    extra = "".join(f',{k}="{v}"' for k, v in labels.items())
    return [
        {"series": (AVAILABILITY % "202")[:-1] + extra + "}", "values": counter(phases, "good", interval)},
        {"series": (AVAILABILITY % "503")[:-1] + extra + "}", "values": counter(phases, "bad", interval)},
    ]


def expected(group: RuleGroup, alertname: str, **labels: str) -> dict[str, Any]:
    (rule,) = [r for r in group.rules if r.alert == alertname]
    return {"exp_labels": {**rule.labels, **labels}, "exp_annotations": dict(rule.annotations)}


def firing(
    tmp_path: Path,
    groups: tuple[RuleGroup, ...],
    series: list[dict[str, str]],
    at: str,
    fire: set[str],
    *,
    interval: int,
    labels: dict[str, str] | None = None,
    exprs: list[dict[str, Any]] | None = None,
) -> None:
    """Assert that at ``at`` exactly the alerts in ``fire`` are firing (once each), the others not;
    ``exprs``: promtool ``promql_expr_test`` cases to check in the same run."""
    cases = [
        {
            "eval_time": at,
            "alertname": name,
            "exp_alerts": [expected(groups[0], name, **(labels or {}))] if name in fire else [],
        }
        for name in ALERTS
    ]
    test: dict[str, Any] = {"interval": f"{interval}m", "input_series": series, "alert_rule_test": cases}
    if exprs:
        test["promql_expr_test"] = exprs
    result = run_rule_tests(tmp_path, prometheus_rules_file(groups), [test], interval=f"{interval}m")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_rules_pass_promtool_check(tmp_path: Path) -> None:
    for name, settings in (("local", RuleSettings()), ("gmp", RuleSettings(group_by=GMP_GROUP_BY))):
        path = tmp_path / f"{name}.yml"
        path.write_text(prometheus_rules_file(rule_groups(load_slos(SLO_DIR), settings)))
        result = run("check", "rules", path, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout


def test_check_catches_a_broken_expression(tmp_path: Path) -> None:
    (group,) = groups_of("api-availability")
    broken = replace(group, rules=(replace(group.rules[0], expr="sum(rate(x[5m])"),))
    path = tmp_path / "broken.yml"
    path.write_text(prometheus_rules_file([broken]))
    assert run("check", "rules", path, cwd=tmp_path).returncode != 0


def test_a_fast_burn_pages_within_minutes_and_stops_soon_after(tmp_path: Path) -> None:
    groups = groups_of("api-availability")
    # 2 h of clean traffic, then half the requests fail for 10 minutes (a 500x burn), then clean.
    phases = [Phase(120, 0.0), Phase(10, 0.5), Phase(60, 0.0)]
    series = availability_series(phases, 1)
    firing(
        tmp_path,
        groups,
        series,
        "2h10m",
        {"SLOFastBurn", "SLOSlowBurn", "SLOSustainedBurn", "SLOBudgetDrain"},
        interval=1,
    )
    # 15 minutes after the fix the 5 m window is clean: the fast burn stops paging. The 30 m window
    # still holds the burst, so the slow-burn page lasts until the burst leaves it.
    firing(
        tmp_path, groups, series, "2h25m", {"SLOSlowBurn", "SLOSustainedBurn", "SLOBudgetDrain"}, interval=1
    )
    firing(tmp_path, groups, series, "2h45m", {"SLOSustainedBurn", "SLOBudgetDrain"}, interval=1)


def test_a_slow_burn_fires_the_slow_page_and_not_the_fast_one(tmp_path: Path) -> None:
    groups = groups_of("api-availability")
    # 1 % of requests fail for 8 h: a 10x burn, above 6x, below 14.4x.
    series = availability_series([Phase(60, 0.0), Phase(480, 0.01)], 1)
    firing(tmp_path, groups, series, "9h", {"SLOSlowBurn", "SLOSustainedBurn", "SLOBudgetDrain"}, interval=1)


def test_a_sustained_burn_opens_a_ticket_and_pages_nobody(tmp_path: Path) -> None:
    groups = groups_of("api-availability")
    # 0.4 % failing for a day and a half: 4x, above the 1 d ticket's 3x, below the pages.
    series = availability_series([Phase(60, 0.0), Phase(2160, 0.004)], 2)
    firing(tmp_path, groups, series, "37h", {"SLOSustainedBurn", "SLOBudgetDrain"}, interval=2)


def test_a_slow_drain_of_the_budget_opens_only_the_three_day_ticket(tmp_path: Path) -> None:
    groups = groups_of("api-availability")
    # 0.15 % failing for 3.5 days: 1.5x, enough to miss the SLO over 30 days if it went on.
    series = availability_series([Phase(5040, 0.0015)], 4)
    firing(tmp_path, groups, series, "84h", {"SLOBudgetDrain"}, interval=4)


def test_a_healthy_service_fires_nothing_and_keeps_its_budget(tmp_path: Path) -> None:
    # 0.05 % failing for 3.5 days: half the budget's pace, so half the budget is left.
    series = availability_series([Phase(5040, 0.0005)], 4)
    labels = '{service="api",slo="api-availability"}'
    exprs = [
        {
            "expr": f"round({name}, 0.001)",
            "eval_time": "84h",
            "exp_samples": [{"labels": labels, "value": 0.5}],
        }
        for name in ("slo:error_budget:remaining", "slo:burn_rate:1h")
    ]
    firing(tmp_path, groups_of("api-availability"), series, "84h", set(), interval=4, exprs=exprs)


def test_no_traffic_at_all_fires_nothing(tmp_path: Path) -> None:
    series = availability_series([Phase(180, 0.0, per_minute=0.0)], 1)
    firing(tmp_path, groups_of("api-availability"), series, "3h", set(), interval=1)


def histogram_series(
    name: str, labels: str, le: str, phases: list[Phase], interval: int
) -> list[dict[str, str]]:
    """The threshold bucket counts the good events, ``_count`` all of them."""
    sep = "," if labels else ""
    return [
        {"series": f'{name}_bucket{{{labels}{sep}le="{le}"}}', "values": counter(phases, "good", interval)},
        {"series": f'{name}_bucket{{{labels}{sep}le="+Inf"}}', "values": counter(phases, "all", interval)},
        {"series": f"{name}_count{{{labels}}}", "values": counter(phases, "all", interval)},
    ]


@pytest.mark.parametrize(
    ("slo_name", "histogram", "labels", "le"),
    [
        ("api-latency", "sreplat_http_request_duration_seconds", 'route="/process",method="POST"', "0.25"),
        # prometheus_client writes 5.0; Prometheus 3 stores it as 5: both must count.
        ("job-freshness", "sreplat_job_queue_wait_seconds", 'task="echo"', "5.0"),
        ("job-freshness", "sreplat_job_queue_wait_seconds", 'task="echo"', "5"),
    ],
)
def test_threshold_slos_page_when_too_many_events_are_slow(
    tmp_path: Path, slo_name: str, histogram: str, labels: str, le: str
) -> None:
    groups = groups_of(slo_name)
    # 40 % of events over the threshold for 30 minutes: 40x the 1 % budget's pace.
    slow = histogram_series(histogram, labels, le, [Phase(120, 0.0), Phase(30, 0.4)], 1)
    firing(tmp_path, groups, slow, "2h30m", set(ALERTS), interval=1)
    healthy = histogram_series(histogram, labels, le, [Phase(180, 0.002)], 1)
    firing(tmp_path, groups, healthy, "3h", set(), interval=1)


def test_managed_prometheus_rules_keep_clusters_and_namespaces_apart(tmp_path: Path) -> None:
    """With GMP's scoping labels in every `by`, a burning namespace pages for itself only, and a
    healthy one next to it neither hides the burn nor is paged for it."""
    groups = groups_of("api-availability", RuleSettings(group_by=GMP_GROUP_BY))
    scope = {"project_id": "acme-sre-dev", "location": "asia-south1", "cluster": "sreplat-dev"}
    burning = availability_series([Phase(120, 0.0), Phase(10, 0.5)], 1, **scope, namespace="sreplat")
    # Ten times the traffic, all good: summed together the burn would look 10x smaller.
    healthy = availability_series([Phase(130, 0.0, per_minute=10000.0)], 1, **scope, namespace="other")
    case = {
        "eval_time": "2h10m",
        "alertname": "SLOFastBurn",
        "exp_alerts": [expected(groups[0], "SLOFastBurn", **scope, namespace="sreplat")],
    }
    test = {"interval": "1m", "input_series": burning + healthy, "alert_rule_test": [case]}
    result = run_rule_tests(tmp_path, prometheus_rules_file(groups), [test], interval="1m")
    assert result.returncode == 0, result.stdout + result.stderr
