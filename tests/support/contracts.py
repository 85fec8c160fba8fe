"""What docs/contracts.md promises, read from it (the dashboards' and the SLO files' tests both
hold their metric names against it)."""

from __future__ import annotations

import re
from pathlib import Path

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def contract_metrics() -> dict[str, set[str]]:
    """Metric name → labels, from the metrics table of docs/contracts.md."""
    metrics: dict[str, set[str]] = {}
    for line in CONTRACTS.read_text().splitlines():
        m = re.match(r"^\|\s*`(sreplat_[a-z_]+)`\s*\|\s*(\w+)[^|]*\|(.*)\|\s*$", line)
        if m:
            name, kind, labels = m.groups()
            label_set = set(re.findall(r"`([a-z_]+)`", labels))
            metrics[name] = label_set
            if kind == "histogram":
                for suffix in ("_bucket", "_sum", "_count"):
                    metrics[name + suffix] = label_set | ({"le"} if suffix == "_bucket" else set())
    return metrics
