"""The slo status check's reading of the recorded series: fast burn exactly when SLOFastBurn's
condition holds (both windows above the factor), NaN as "no events", no series as "no data"."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sreplat.pipeline.checks import Verdict
from sreplat.slo.model import load_slos
from sreplat.slo.status import slo_states
from sreplat.targets.slo_check import slo_finding

SLOS = load_slos(Path(__file__).resolve().parents[2] / "slo")


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


def answering(series: dict[str, dict[str, float]]) -> tuple[list[str], object]:
    asked: list[str] = []

    def query(promql: str) -> Sequence[Sample]:
        asked.append(promql)
        name = promql.split("{", 1)[0]
        return [Sample({"slo": slo, "service": "api"}, value) for slo, value in series.get(name, {}).items()]

    return asked, query


def test_fast_burn_needs_both_windows_above_the_factor() -> None:
    _, query = answering(
        {
            "slo:error_budget:remaining": {"api-availability": 0.42, "api-latency": 0.9},
            "slo:burn_rate:1h": {"api-availability": 20.0, "api-latency": 20.0},
            "slo:burn_rate:5m": {"api-availability": 15.0, "api-latency": 3.0},  # latency recovering
        }
    )
    states = {s.name: s for s in slo_states(SLOS, query)}
    assert states["api-availability"].fast_burn is True
    assert states["api-latency"].fast_burn is False  # the short window says it stopped
    assert states["job-freshness"].evaluated is False
    finding = slo_finding(SLOS, query, where="test")
    assert finding.verdict is Verdict.UNHEALTHY
    assert finding.summary.startswith("api-availability: budget 42.0% left, burn 1h 20x (FAST BURN")
    assert finding.data["slos"]["api-availability"]["burn_rate_5m"] == 15.0
    assert finding.hint and finding.hint.startswith("api-availability: SLOFastBurn would fire")


def test_no_events_and_no_series_are_healthy_and_json_safe() -> None:
    asked, query = answering({"slo:burn_rate:1h": {"api-availability": math.nan}})
    finding = slo_finding(SLOS, query, selector='cluster="c",namespace="sreplat"', where="test")
    assert finding.verdict is Verdict.HEALTHY
    assert "api-availability: budget no events, burn 1h no events" in finding.summary
    assert finding.data["slos"]["api-availability"]["burn_rate_1h"] is None  # JSON has no NaN
    assert asked[0] == 'slo:error_budget:remaining{cluster="c",namespace="sreplat"}'
    _, nothing = answering({})
    assert slo_finding(SLOS, nothing, where="Prometheus").summary.startswith("no SLO data yet in Prometheus")
