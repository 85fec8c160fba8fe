"""Synthetic traffic as ``promtool test rules`` input series, and running Debian's ``promtool``.

A scenario is a list of phases (minutes, events per minute, share of bad events); the helpers
turn it into cumulative counters in promtool's expanding notation (``start+stepxN``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROMTOOL = "promtool"


@dataclass(frozen=True)
class Phase:
    minutes: int
    bad_share: float
    per_minute: float = 1000.0


def counter(phases: list[Phase], share_of: str, interval_minutes: int) -> str:
    """Values of a counter sampled every ``interval_minutes``, counting per phase the ``good`` or
    ``bad`` events (``share_of``), or ``all`` of them."""
    segments: list[str] = []
    value = 0.0
    first = True
    for phase in phases:
        share = {"bad": phase.bad_share, "good": 1 - phase.bad_share, "all": 1.0}[share_of]
        step = round(phase.per_minute * share * interval_minutes, 6)
        steps = phase.minutes // interval_minutes
        assert steps * interval_minutes == phase.minutes, "phases must be whole intervals"
        start = value if first else value + step
        count = steps if first else steps - 1  # a segment of N steps yields N+1 samples
        segments.append(f"{_g(start)}+{_g(step)}x{count}")
        value = start + step * count
        first = False
    return " ".join(segments)


def _g(value: float) -> str:
    return format(round(value, 6), "g")


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


def run_rule_tests(
    workdir: Path, rules_text: str, tests: list[dict[str, Any]], *, interval: str
) -> subprocess.CompletedProcess[str]:
    """``promtool test rules`` of ``tests`` (promtool's test-case format) against ``rules_text``."""
    (workdir / "rules.yml").write_text(rules_text)
    spec = {"rule_files": ["rules.yml"], "evaluation_interval": interval, "tests": tests}
    (workdir / "tests.yml").write_text(yaml.safe_dump(spec, sort_keys=False, width=100000))
    return run("test", "rules", "tests.yml", cwd=workdir)
