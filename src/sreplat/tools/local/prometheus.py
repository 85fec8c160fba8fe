"""A Prometheus server on this machine (Debian's ``prometheus`` package): its configuration file
and its HTTP API (readiness, scrape targets, instant queries).

The configuration is a standard ``prometheus.yml``: one scrape job per app (``api``, ``worker``)
over static loopback targets, the rules files to load, and the scrape/evaluation intervals.
Prometheus re-reads it on SIGHUP (prometheus.io/docs/prometheus/latest/configuration/configuration/).

The API calls are plain HTTP GETs (standard library): ``/-/ready`` (200 once it serves queries),
``/api/v1/targets`` and ``/api/v1/query`` (prometheus.io/docs/prometheus/latest/querying/api/).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sreplat.errors import OperationFailed


@dataclass(frozen=True)
class ScrapeJob:
    name: str
    targets: tuple[str, ...]  # host:port, /metrics on each


def config_file(
    jobs: Sequence[ScrapeJob],
    *,
    rule_files: Sequence[Path],
    scrape_interval_s: int,
    evaluation_interval_s: int,
) -> str:
    """The text of ``prometheus.yml``."""
    document: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{scrape_interval_s}s",
            # A scrape may not outlast its interval (Prometheus refuses the file otherwise).
            "scrape_timeout": f"{min(10, scrape_interval_s)}s",
            "evaluation_interval": f"{evaluation_interval_s}s",
        },
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job.name, "static_configs": [{"targets": list(job.targets)}]} for job in jobs
        ],
    }
    header = "# written by sreplat: changes are overwritten\n"
    return header + yaml.safe_dump(document, sort_keys=False)


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector; ``value`` may be NaN (0/0: no events in a window)."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Target:
    job: str
    url: str
    health: str  # up | down | unknown
    last_error: str


class PrometheusApi:
    """The HTTP API of one Prometheus server (``base_url`` such as http://127.0.0.1:9090)."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def ready(self) -> bool:
        """Whether it answers ``/-/ready`` with 200 (it serves queries)."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/-/ready", timeout=self.timeout_s) as answer:  # noqa: S310 - our own loopback URL
                return bool(answer.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def targets(self) -> tuple[Target, ...]:
        data = self._get("/api/v1/targets", {"state": "active"})
        return tuple(
            Target(
                job=str(t.get("labels", {}).get("job", "")),
                url=str(t.get("scrapeUrl", "")),
                health=str(t.get("health", "unknown")),
                last_error=str(t.get("lastError", "")),
            )
            for t in data.get("activeTargets") or ()
        )

    def rule_groups(self) -> tuple[str, ...]:
        """Names of the rule groups it has loaded."""
        data = self._get("/api/v1/rules", {})
        return tuple(str(g.get("name")) for g in data.get("groups") or ())

    def query(self, promql: str) -> tuple[Sample, ...]:
        """Evaluate ``promql`` now; the samples of the resulting instant vector."""
        data = self._get("/api/v1/query", {"query": promql})
        if data.get("resultType") != "vector":
            raise OperationFailed(f"{promql!r} did not give a vector but {data.get('resultType')!r}")
        return tuple(
            # float() reads Prometheus' "NaN" and "+Inf" as such.
            Sample(labels=dict(item.get("metric") or {}), value=float(item["value"][1]))
            for item in data.get("result") or ()
        )

    def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"{self.base_url}{path}{query}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as answer:  # noqa: S310 - loopback URL
                document = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            document = _json_or_none(exc.read())
            reason = document.get("error") if isinstance(document, dict) else None
            detail = f"HTTP {exc.code} {reason or ''}".strip()
            raise OperationFailed(f"Prometheus refused {path}: {detail}") from None
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise OperationFailed(f"Prometheus at {self.base_url} did not answer: {exc}") from None
        if not isinstance(document, dict) or document.get("status") != "success":
            raise OperationFailed(f"Prometheus refused {path}: {document}")
        data = document.get("data")
        return data if isinstance(data, dict) else {}


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
