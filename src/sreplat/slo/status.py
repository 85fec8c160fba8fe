"""Where each SLO stands now, read from the series ``rules.py`` records (the ``slo`` status check).

Per SLO: the error budget left over its window (``slo:error_budget:remaining``) and the current
burn rate (``slo:burn_rate:1h``, with ``slo:burn_rate:5m`` beside it). The SLO is *fast-burning*
when ``SLOFastBurn`` would fire: both windows above that alert's factor (14.4 for a 30-day window:
2 % of the budget in an hour) — the same condition the alert rule evaluates, computed here from
the same SLO definitions so it needs no alert state (Managed Service for Prometheus and a local
Prometheus answer it alike).

``slo_states(slos, query, selector)`` asks a Prometheus-compatible instant-query function; the
``selector`` scopes the series (on GKE: the cluster and namespace). NaN means no events in the
window (0/0); no series at all means nothing has been evaluated yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sreplat.slo.model import Slo
from sreplat.slo.rules import BURN_RATE_WINDOW, WORKBOOK_ALERTS, BurnRateAlert

FAST_BURN: BurnRateAlert = WORKBOOK_ALERTS[0]
# The "current burn rate" the dashboards draw is the fast-burn alert's long window.
CURRENT_BURN_RATE = f"slo:burn_rate:{BURN_RATE_WINDOW}"
REMAINING = "slo:error_budget:remaining"


class SampleLike(Protocol):
    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def value(self) -> float: ...


Query = Callable[[str], Sequence[SampleLike]]


@dataclass(frozen=True)
class SloState:
    name: str
    service: str
    objective: float
    threshold: float  # SLOFastBurn's factor for this SLO
    budget_remaining: float | None  # None: no series; NaN: no events in the window
    burn_rate_long: float | None  # over FAST_BURN.long_window (1h)
    burn_rate_short: float | None  # over FAST_BURN.short_window (5m)

    @property
    def evaluated(self) -> bool:
        return self.budget_remaining is not None or self.burn_rate_long is not None

    @property
    def fast_burn(self) -> bool:
        """Whether SLOFastBurn would fire (NaN and missing compare False, as in PromQL)."""
        long, short = self.burn_rate_long, self.burn_rate_short
        return long is not None and short is not None and long > self.threshold and short > self.threshold

    def describe(self) -> str:
        if not self.evaluated:
            return f"{self.name}: no data yet"
        budget = "no events" if _missing(self.budget_remaining) else f"{_percent(self.budget_remaining)} left"
        burn = "no events" if _missing(self.burn_rate_long) else f"{_rate(self.burn_rate_long)}x"
        text = f"{self.name}: budget {budget}, burn {FAST_BURN.long_window} {burn}"
        if self.fast_burn:
            text += (
                f" (FAST BURN: {FAST_BURN.long_window} and {FAST_BURN.short_window} above {self.threshold:g})"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "objective": self.objective,
            "error_budget_remaining": _json_number(self.budget_remaining),
            f"burn_rate_{FAST_BURN.long_window}": _json_number(self.burn_rate_long),
            f"burn_rate_{FAST_BURN.short_window}": _json_number(self.burn_rate_short),
            "fast_burn_threshold": self.threshold,
            "fast_burn": self.fast_burn,
        }


def slo_states(slos: Sequence[Slo], query: Query, selector: str = "") -> tuple[SloState, ...]:
    """Each SLO's state from three instant queries (one per series name)."""
    names = {
        "remaining": REMAINING,
        "long": CURRENT_BURN_RATE,
        "short": f"slo:burn_rate:{FAST_BURN.short_window}",
    }
    found = {
        key: _by_slo(query(f"{name}{{{selector}}}" if selector else name)) for key, name in names.items()
    }
    return tuple(
        SloState(
            name=slo.name,
            service=slo.service,
            objective=slo.objective,
            threshold=FAST_BURN.factor(slo),
            budget_remaining=_least(found["remaining"].get(slo.name)),
            burn_rate_long=_most(found["long"].get(slo.name)),
            burn_rate_short=_most(found["short"].get(slo.name)),
        )
        for slo in slos
    )


def _by_slo(samples: Sequence[SampleLike]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for sample in samples:
        name = sample.labels.get("slo")
        if name:
            out.setdefault(name, []).append(float(sample.value))
    return out


# Several series of one SLO (several clusters under one selector): report the worst.
def _most(values: list[float] | None) -> float | None:
    if not values:
        return None
    real = [v for v in values if not math.isnan(v)]
    return max(real) if real else math.nan


def _least(values: list[float] | None) -> float | None:
    if not values:
        return None
    real = [v for v in values if not math.isnan(v)]
    return min(real) if real else math.nan


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def _percent(value: float | None) -> str:
    return "?" if value is None else f"{value * 100:.1f}%"


def _rate(value: float | None) -> str:
    return "?" if value is None else f"{value:.3g}"


def _json_number(value: float | None) -> float | None:
    """JSON has no NaN: no events (NaN) and no series (None) are both null there."""
    return None if value is None or math.isnan(value) else round(value, 6)
