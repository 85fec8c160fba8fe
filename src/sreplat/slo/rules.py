"""Prometheus rule groups for SLOs: error-ratio recording rules and multi-window, multi-burn-rate
alerts, as in the Google SRE workbook, chapter 5 "Alerting on SLOs" (sre.google/workbook/alerting-on-slos/).

Per SLO, one group ``slo-<name>`` (rules in a group run in order, so the alerts see the recordings
of the same evaluation):

- ``slo:sli_error:ratio_rate<W>{slo=...}`` — the share of bad events over each window ``W`` the
  alerts use (5m, 30m, 1h, 2h, 6h, 1d, 3d) and over the SLO's own window (e.g. 30d);
- ``slo:burn_rate:<W>`` — that ratio divided by the error budget, for the same windows but the
  SLO's own (1: the budget lasts exactly the window; 14.4: a 30-day budget is gone in 2 days);
  ``slo:burn_rate:1h`` is the "current burn rate";
- ``slo:error_budget:remaining`` — 1 minus the share of the window's budget spent (negative once
  the SLO is missed);
- the alerts of ``WORKBOOK_ALERTS``: each fires while the burn rate over both its long and its
  short window is above its factor. The long window makes the alert significant, the short one
  lets it stop soon after the burn does.

The factor is ``budget_consumed × SLO window / long window`` (the workbook's formula); for a 30-day
window it gives the workbook's table: 14.4 (1 h, 5 m, page), 6 (6 h, 30 m, page), 3 (1 d, 2 h,
ticket) and 1 (3 d, 6 h, ticket).

``RuleSettings.group_by`` names the labels every aggregation keeps. Locally (one Prometheus, one
platform) it is empty. For Managed Service for Prometheus it must keep the labels its rule
evaluator scopes a namespaced ``Rules`` resource by — ``project_id``, ``location``, ``cluster``,
``namespace`` (cloud.google.com/stackdriver/docs/managed-prometheus/rules-managed) — so that two
clusters or namespaces are never summed into one ratio.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sreplat.slo.model import RatioSli, Slo, SloError, ThresholdSli, duration_seconds

GMP_GROUP_BY = ("project_id", "location", "cluster", "namespace")


@dataclass(frozen=True)
class BurnRateAlert:
    name: str
    long_window: str
    short_window: str
    budget_consumed: float  # share of the SLO window's budget the long window burns at the threshold
    severity: str  # "page" or "ticket": the Alertmanager route decides what each means

    def factor(self, slo: Slo) -> float:
        return round(self.budget_consumed * slo.window_seconds / duration_seconds(self.long_window), 6)


# SRE workbook, table 5-8 ("Recommended parameters for a 99.9% SLO alerting configuration") and
# the 1 d / 2 h ticket of its final multiwindow, multi-burn-rate configuration.
WORKBOOK_ALERTS = (
    BurnRateAlert("SLOFastBurn", "1h", "5m", 0.02, "page"),
    BurnRateAlert("SLOSlowBurn", "6h", "30m", 0.05, "page"),
    BurnRateAlert("SLOSustainedBurn", "1d", "2h", 0.10, "ticket"),
    BurnRateAlert("SLOBudgetDrain", "3d", "6h", 0.10, "ticket"),
)
BURN_RATE_WINDOW = "1h"


@dataclass(frozen=True)
class RuleSettings:
    group_by: tuple[str, ...] = ()
    interval: str = "30s"
    alerts: tuple[BurnRateAlert, ...] = WORKBOOK_ALERTS


@dataclass(frozen=True)
class Rule:
    expr: str
    record: str | None = None
    alert: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record} if self.record else {"alert": self.alert}
        out["expr"] = self.expr
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class RuleGroup:
    name: str
    interval: str
    rules: tuple[Rule, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "interval": self.interval, "rules": [r.to_dict() for r in self.rules]}


def rule_groups(slos: Iterable[Slo], settings: RuleSettings | None = None) -> tuple[RuleGroup, ...]:
    settings = settings or RuleSettings()
    return tuple(_group(slo, settings) for slo in slos)


def windows(slo: Slo, settings: RuleSettings) -> tuple[str, ...]:
    """Every window a recording rule is needed for, shortest first."""
    needed = {BURN_RATE_WINDOW, slo.window}
    for alert in settings.alerts:
        needed |= {alert.long_window, alert.short_window}
    return tuple(sorted(needed, key=duration_seconds))


def _number(value: float) -> str:
    return format(value, "g")


def _group(slo: Slo, settings: RuleSettings) -> RuleGroup:
    budget = _number(slo.error_budget)
    selector = f'slo="{slo.name}"'
    # On every rule, though the inputs carry them already: rule names repeat across the groups,
    # and Prometheus tells the results apart by their static labels.
    labels = {"slo": slo.name, "service": slo.service}
    rules = [
        Rule(
            record=f"slo:sli_error:ratio_rate{window}",
            expr=error_ratio(slo, window, settings.group_by),
            labels=labels,
        )
        for window in windows(slo, settings)
    ]
    rules += [
        Rule(
            record=f"slo:burn_rate:{window}",
            expr=f"slo:sli_error:ratio_rate{window}{{{selector}}} / {budget}",
            labels=labels,
        )
        for window in windows(slo, settings)
        if window != slo.window  # over the whole window that is 1 - remaining budget
    ]
    rules.append(
        Rule(
            record="slo:error_budget:remaining",
            expr=f"1 - slo:sli_error:ratio_rate{slo.window}{{{selector}}} / {budget}",
            labels=labels,
        )
    )
    for alert in settings.alerts:
        factor = alert.factor(slo)
        if factor * slo.error_budget >= 1:
            raise SloError(
                f"SLO {slo.name}: objective {slo.objective} leaves a budget of {budget}; {alert.name} would "
                f"need an error ratio above {factor} x {budget} >= 1 and could never fire",
                hint="raise the objective or lengthen the window",
            )
        rules.append(
            Rule(
                alert=alert.name,
                expr=(
                    f"slo:burn_rate:{alert.long_window}{{{selector}}} > {_number(factor)}\n"
                    f"and\n"
                    f"slo:burn_rate:{alert.short_window}{{{selector}}} > {_number(factor)}"
                ),
                labels={**labels, "severity": alert.severity},
                annotations={
                    "summary": (
                        f"{slo.name}: error budget burning {_number(factor)}x too fast "
                        f"over {alert.long_window} and {alert.short_window}"
                    ),
                    "description": (
                        f"{slo.description} Objective {_number(slo.objective * 100)}% over {slo.window}; "
                        f"at this rate {_number(alert.budget_consumed * 100)}% of its error budget goes "
                        f"in {alert.long_window}. Graph: slo:burn_rate:{BURN_RATE_WINDOW}."
                    ),
                },
            )
        )
    return RuleGroup(name=f"slo-{slo.name}", interval=settings.interval, rules=tuple(rules))


def error_ratio(slo: Slo, window: str, group_by: tuple[str, ...]) -> str:
    """PromQL of the share of bad events over ``window``: 1 - good/total.

    Written as 1 - good/total (not bad/total) so a service without a single bad event yet has a
    ratio of 0 instead of no value at all; with no events at all it is NaN, which alerts on
    nothing.
    """
    by = f" by ({', '.join(group_by)})" if group_by else ""
    sli = slo.sli
    if isinstance(sli, RatioSli):
        good = f"{sli.metric}{{{_join(sli.selector, sli.good)}}}"
        total = f"{sli.metric}{{{sli.selector}}}"
    else:
        good = f"{sli.histogram}_bucket{{{_join(sli.selector, _le_matcher(sli))}}}"
        total = f"{sli.histogram}_count{{{sli.selector}}}"
    return f"1 - (\n  sum{by} (rate({good}[{window}]))\n/\n  sum{by} (rate({total}[{window}]))\n)"


def _join(*matchers: str) -> str:
    return ", ".join(m for m in matchers if m)


def _le_matcher(sli: ThresholdSli) -> str:
    """The bucket of the threshold. prometheus_client writes whole bounds as ``5.0``; Prometheus 3
    normalises ``le`` to ``5`` when it ingests classic histograms: match either spelling."""
    value = sli.threshold_seconds
    if value.is_integer():
        whole = str(int(value))
        return f'le=~"{whole}|{whole}\\\\.0"'
    return f'le="{_number(value)}"'
