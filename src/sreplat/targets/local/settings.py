"""The local target's settings: the ``Settings`` model of ``[environments.<name>]`` tables with
``target = "local"``, and the shaping part of it (ports, process counts) recorded at bootstrap and
compared with the configuration on every later run."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, model_validator

from sreplat.config import EnvironmentSettings
from sreplat.targets.local.layout import Layout, write_if_changed
from sreplat.tools.signatures import CommitTrustSettings


def _ipv4_address(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("an IPv4 address such as 127.0.0.1") from None
    return value


# Strict: ``api_port = 18080.0`` or ``= true`` in the file is a type error (config.py reads text
# from env vars and flags as these types first).
Port = Annotated[StrictInt, Field(ge=1024, le=65535)]
IPv4 = Annotated[str, AfterValidator(_ipv4_address)]


class LocalSettings(EnvironmentSettings, CommitTrustSettings):
    """The ``local`` target: supervisord + redis-server + the bundled apps on this machine."""

    TARGET: ClassVar[str] = "local"
    RELATIVE_PATHS: ClassVar[tuple[str, ...]] = ("repo", "slo_dir")

    target: Literal["local"] = "local"
    api_host: IPv4 = Field("127.0.0.1", description="address the API listens on")
    api_port: Port = 8080
    redis_port: Port = 6379
    worker_metrics_port: Port = Field(9100, description="metrics port of worker 1; worker N uses +N-1")
    workers: StrictInt = Field(
        2, ge=1, le=16, description="RQ worker processes (one supervisord program each)"
    )
    api_workers: StrictInt = Field(2, ge=1, le=32, description="gunicorn worker processes of the API")
    apps_dir: str = Field("apps/src", description="directory of the repo holding the apps' import package")
    keep_releases: StrictInt = Field(5, ge=1, le=100, description="release directories kept after a deploy")
    ready_timeout_s: StrictFloat = Field(120.0, gt=0, le=3600, description="how long to wait for readiness")
    # Observability (issue 13): a Prometheus under the same supervisord; its UI is the dashboard.
    prometheus_port: Port = Field(9090, description="port of the local Prometheus (127.0.0.1 only)")
    scrape_interval_s: StrictInt = Field(
        15, ge=1, le=300, description="how often Prometheus scrapes the apps"
    )
    evaluation_interval_s: StrictInt = Field(
        30, ge=1, le=300, description="how often it evaluates the SLO rules"
    )
    slo_dir: Path | None = Field(None, description="SLO files (default: slo/ of the project root)")

    @property
    def worker_ports(self) -> tuple[int, ...]:
        return tuple(self.worker_metrics_port + i for i in range(self.workers))

    @property
    def ports(self) -> dict[str, int]:
        """Every port this environment listens on, by what listens there."""
        named = {"api": self.api_port, "redis": self.redis_port}
        named.update({f"worker-{i + 1} metrics": port for i, port in enumerate(self.worker_ports)})
        named["prometheus"] = self.prometheus_port
        return named

    def claims(self) -> Mapping[str, str]:
        """Its TCP ports: two environments on one machine cannot listen on the same one."""
        return {f"port {port}": what for what, port in self.ports.items()}

    @model_validator(mode="after")
    def _distinct_ports(self) -> LocalSettings:
        seen: dict[int, str] = {}
        for what, port in self.ports.items():
            if port > 65535:
                raise ValueError(f"{what} port {port} is above 65535: lower worker_metrics_port")
            if port in seen:
                raise ValueError(f"{what} and {seen[port]} would both use port {port}")
            seen[port] = what
        return self


# Settings that shape what runs; changing one needs a destroy (or another environment).
SHAPING = (
    "api_host",
    "api_port",
    "redis_port",
    "worker_metrics_port",
    "workers",
    "api_workers",
    "prometheus_port",
)


def fingerprint(settings: LocalSettings) -> str:
    """Changes when a shaping setting does (a bootstrap checkpoint is then not resumed)."""
    return hashlib.sha256(json.dumps([getattr(settings, k) for k in SHAPING]).encode()).hexdigest()[:16]


def recorded(layout: Layout, configured: LocalSettings) -> LocalSettings | None:
    """``configured`` with the shaping settings recorded at bootstrap; None when there are none."""
    try:
        data = json.loads(layout.recorded_settings.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        return configured.model_copy(update={k: data[k] for k in SHAPING if k in data})
    except (TypeError, ValueError):
        return None


def record(layout: Layout, settings: LocalSettings) -> bool:
    """Record the shaping settings; True when the record changed."""
    values = {k: getattr(settings, k) for k in SHAPING}
    return write_if_changed(layout.recorded_settings, json.dumps(values, indent=1) + "\n")


def differences(live: LocalSettings, configured: LocalSettings) -> list[str]:
    """``key live → configured`` for every shaping setting that differs."""
    return [
        f"{key} {getattr(live, key)} → {getattr(configured, key)}"
        for key in SHAPING
        if getattr(live, key) != getattr(configured, key)
    ]
