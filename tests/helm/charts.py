"""The charts under helm/, their ci/*-values.yaml scenarios, and rendering them with the real
Helm SDK (helm_python) into parsed Kubernetes objects."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
HELM_DIR = REPO / "helm"
CHARTS = ("platform", "redis", "api", "worker")
NAMESPACE = "sreplat"


@dataclass(frozen=True)
class Scenario:
    chart: str
    name: str  # "default" or the ci file's stem without "-values"
    values_file: Path | None

    @property
    def id(self) -> str:
        return f"{self.chart}:{self.name}"

    @property
    def chart_dir(self) -> Path:
        return HELM_DIR / self.chart

    def values(self) -> dict[str, Any]:
        if self.values_file is None:
            return {}
        loaded = yaml.safe_load(self.values_file.read_text())
        return dict(loaded or {})


def scenarios(chart: str | None = None) -> list[Scenario]:
    found = []
    for name in CHARTS if chart is None else (chart,):
        found.append(Scenario(name, "default", None))
        for path in sorted((HELM_DIR / name / "ci").glob("*-values.yaml")):
            found.append(Scenario(name, path.name.removesuffix("-values.yaml"), path))
    return found


def render_templates(
    chart: str, values: dict[str, Any] | None = None, *, release: str | None = None
) -> dict[str, str]:
    import helm_python as hp

    with hp.Chart.load(HELM_DIR / chart) as loaded:
        return loaded.render(values or {}, name=release or chart, namespace=NAMESPACE, is_install=True)


def objects_of(templates: dict[str, str]) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    for path, text in sorted(templates.items()):
        if path.endswith("NOTES.txt"):
            continue
        objs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objs


def render_objects(
    chart: str, values: dict[str, Any] | None = None, *, release: str | None = None
) -> list[dict[str, Any]]:
    return objects_of(render_templates(chart, values, release=release))


@cache
def rendered(scenario: Scenario) -> tuple[dict[str, Any], ...]:
    """The scenario's objects (cached: rendering is deterministic except the random Redis password)."""
    return tuple(render_objects(scenario.chart, scenario.values()))


def find(
    objs: tuple[dict[str, Any], ...] | list[dict[str, Any]], kind: str, name: str | None = None
) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(
    objs: tuple[dict[str, Any], ...] | list[dict[str, Any]], kind: str, name: str | None = None
) -> dict[str, Any]:
    matches = find(objs, kind, name)
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def workloads(objs: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")]
