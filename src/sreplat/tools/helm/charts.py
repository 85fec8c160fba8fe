"""Charts for the Helm release manager: release names and values checked before anything is
contacted, a chart loaded and its values validated against its ``values.schema.json``, and
offline rendering."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sreplat.errors import UsageError
from sreplat.tools.helm.errors import translated
from sreplat.tools.helm.manifests import join_rendered


def check_release_name(release: str) -> None:
    import helm_python as hp

    try:
        hp.validate_release_name(release)
    except hp.HelmError as exc:
        raise UsageError(f"invalid release name {release!r}: {exc}") from exc


def plain_values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Values as plain JSON data (what the SDK serialises), or a UsageError naming the problem."""
    if values is None:
        return {}
    try:
        plain: dict[str, Any] = json.loads(json.dumps(dict(values)))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"chart values must be JSON-serialisable: {exc}") from exc
    return plain


@contextmanager
def loaded_chart(chart_dir: Path, values: dict[str, Any]) -> Iterator[Any]:
    """The loaded chart, after checking ``values`` against its schema (UsageError if not)."""
    import helm_python as hp

    if not Path(chart_dir, "Chart.yaml").is_file():
        raise UsageError(f"{chart_dir} is not a chart directory (no Chart.yaml)")
    with translated(f"loading chart {chart_dir}"):
        chart = hp.Chart.load(chart_dir)
    try:
        try:
            chart.validate_schema(values)
        except hp.HelmError as exc:
            raise UsageError(
                f"values for chart {chart.name} do not match its values.schema.json: {str(exc).strip()}",
                detail=str(exc),
            ) from exc
        yield chart
    finally:
        chart.close()


def render(
    chart_dir: Path, values: Mapping[str, Any] | None = None, *, release: str, namespace: str = "sreplat"
) -> str:
    """The chart's manifest rendered offline (no cluster: ``lookup`` finds nothing), in the shape
    Helm stores; for a plan when there is no cluster yet."""
    plain = plain_values(values)
    with loaded_chart(chart_dir, plain) as chart, translated(f"rendering {chart_dir}"):
        templates = chart.render(plain, name=release, namespace=namespace, is_install=True)
    return join_rendered(templates)
