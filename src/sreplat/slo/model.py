"""The SLO files: one YAML document per SLO in ``slo/`` (schema and examples: ``slo/README.md``).

An SLI is the share of good events among all events, from the apps' Prometheus metrics
(docs/contracts.md), in one of two forms:

- ``kind: ratio`` — a counter, the selector of all events and the extra matchers of good ones
  (API availability: requests to ``/process`` whose status is not 5xx);
- ``kind: threshold`` — a histogram and a threshold that must be one of its bucket bounds: the
  good events are those at or under it (API latency, job freshness).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sreplat.errors import ConfigError

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# A comma-separated list of PromQL label matchers: name op "value".
_MATCHER = r'\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*'
_MATCHERS_RE = re.compile(rf"^({_MATCHER}(,{_MATCHER})*)?$")
_SOME_MATCHERS_RE = re.compile(rf"^{_MATCHER}(,{_MATCHER})*$")
_DURATION_RE = re.compile(r"^([1-9][0-9]*)(m|h|d|w)$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class SloError(ConfigError):
    """An SLO file that cannot be used; the message names the file, the field and what is expected."""


def duration_seconds(text: str) -> int:
    """Seconds of a Prometheus duration in whole minutes, hours, days or weeks (``30d``)."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(f"expected a duration such as 5m, 6h, 28d or 4w, got {text!r}")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


@dataclass(frozen=True)
class RatioSli:
    """Good events / all events of one counter."""

    metric: str
    selector: str  # matchers of all events ("" for every series)
    good: str  # further matchers that pick the good events among them


@dataclass(frozen=True)
class ThresholdSli:
    """Events of a histogram at or under ``threshold_seconds`` (a bucket bound) / all events."""

    histogram: str  # the histogram's name, without _bucket/_count
    selector: str
    threshold_seconds: float


@dataclass(frozen=True)
class Slo:
    name: str
    service: str
    description: str
    objective: float  # share of good events to meet over the window, e.g. 0.999
    window: str  # the rolling compliance window, a Prometheus duration (30d)
    sli: RatioSli | ThresholdSli

    @property
    def error_budget(self) -> float:
        """The share of events that may be bad: 1 - objective (0.001 for 99.9 %)."""
        return round(1.0 - self.objective, 12)

    @property
    def window_seconds(self) -> int:
        return duration_seconds(self.window)


def load_slos(directory: Path) -> tuple[Slo, ...]:
    """Every ``*.yaml`` SLO in ``directory``, sorted by name; names must be unique."""
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise SloError(f"{directory}: no SLO files (*.yaml)")
    slos: dict[str, Slo] = {}
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise SloError(f"{path}: cannot read it as YAML: {exc}") from None
        slo = parse_slo(data, source=str(path))
        if slo.name in slos:
            raise SloError(f"{path}: name {slo.name!r} is used by another SLO file")
        slos[slo.name] = slo
    return tuple(slos[name] for name in sorted(slos))


def parse_slo(data: Any, *, source: str) -> Slo:
    """One SLO document, checked field by field."""
    fields = _Fields(data, source)
    name = fields.text("name", _NAME_RE, "lowercase letters, digits and hyphens, starting with a letter")
    service = fields.text("service", _NAME_RE, "a service name such as api or worker")
    description = fields.text("description", re.compile(r"^.{1,500}$", re.S), "one to 500 characters")
    objective = fields.number("objective")
    if not 0.5 <= objective < 1.0:
        raise fields.error("objective", objective, "a share from 0.5 to below 1, such as 0.999")
    window = fields.text("window", _DURATION_RE, "a duration such as 28d or 4w")
    if duration_seconds(window) < 7 * 86400:
        # The burn-rate alerts (rules.py) look back up to 3 days and spend a share of the window's
        # budget there: shorter windows make them meaningless.
        raise fields.error("window", window, "at least 7d")
    sli = _Fields(fields.get("sli", dict), f"{source}: sli")
    kind = sli.text("kind", re.compile(r"^(ratio|threshold)$"), "ratio or threshold")
    selector = sli.optional_text("selector", _MATCHERS_RE, 'PromQL label matchers such as route="/process"')
    parsed: RatioSli | ThresholdSli
    if kind == "ratio":
        parsed = RatioSli(
            metric=sli.text("metric", _METRIC_RE, "a metric name"),
            selector=selector,
            good=sli.text("good", _SOME_MATCHERS_RE, 'matchers of the good events, such as status!~"5.."'),
        )
        sli.only({"kind", "metric", "selector", "good"})
    else:
        threshold = sli.number("threshold_seconds")
        if threshold <= 0:
            raise sli.error("threshold_seconds", threshold, "a positive number of seconds (a bucket bound)")
        histogram = sli.text("histogram", _METRIC_RE, "a histogram name, without _bucket")
        parsed = ThresholdSli(histogram=histogram, selector=selector, threshold_seconds=threshold)
        sli.only({"kind", "histogram", "selector", "threshold_seconds"})
    fields.only({"name", "service", "description", "objective", "window", "sli"})
    return Slo(name, service, description.strip(), objective, window, parsed)


class _Fields:
    """Typed access to one mapping of an SLO file, with errors that name the file and the field."""

    def __init__(self, data: Any, source: str) -> None:
        if not isinstance(data, dict):
            raise SloError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.source = source

    def error(self, key: str, value: object, expected: str) -> SloError:
        return SloError(f"{self.source}: {key}={value!r}: expected {expected}")

    def get(self, key: str, kind: type) -> Any:
        if key not in self.data:
            raise SloError(f"{self.source}: {key} is missing")
        value = self.data[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise self.error(key, value, f"a {kind.__name__}")
        return value

    def text(self, key: str, pattern: re.Pattern[str], expected: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not pattern.match(value):
            raise self.error(key, value, expected)
        return value

    def optional_text(self, key: str, pattern: re.Pattern[str], expected: str) -> str:
        return self.text(key, pattern, expected).strip() if key in self.data else ""

    def number(self, key: str) -> float:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, value, "a number")
        return float(value)

    def only(self, known: set[str]) -> None:
        unknown = sorted(set(self.data) - known)
        if unknown:
            raise SloError(f"{self.source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
