"""The ``slo`` status check, the same for every target: each SLO's remaining error budget and
current burn rate from a Prometheus-compatible query API; unhealthy while a fast-burn alert
would fire (``sreplat.slo.status``)."""

from __future__ import annotations

from collections.abc import Sequence

from sreplat.pipeline.checks import Finding, healthy, unhealthy
from sreplat.slo.model import Slo
from sreplat.slo.status import FAST_BURN, Query, slo_states


def slo_finding(slos: Sequence[Slo], query: Query, *, selector: str = "", where: str) -> Finding:
    """``where``: which Prometheus answered (shown when nothing is evaluated yet)."""
    states = slo_states(slos, query, selector)
    data = {"slos": {s.name: s.to_dict() for s in states}, "source": where}
    summary = "; ".join(s.describe() for s in states)
    burning = [s for s in states if s.fast_burn]
    if burning:
        names = ", ".join(s.name for s in burning)
        return unhealthy(
            summary,
            hint=f"{names}: {FAST_BURN.name} would fire; see the burn rate graph and `sreplat logs`",
            **data,
        )
    if not any(s.evaluated for s in states):
        return healthy(f"no SLO data yet in {where} (no traffic, or rules not evaluated yet)", **data)
    return healthy(summary, **data)
