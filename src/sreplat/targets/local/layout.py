"""Where one local environment keeps everything: folders and files under its state dir."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Where everything of one local environment lives."""

    state_dir: Path

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "supervisor"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def redis_dir(self) -> Path:
        return self.state_dir / "redis"

    @property
    def redis_data(self) -> Path:
        return self.redis_dir / "data"

    @property
    def redis_conf(self) -> Path:
        return self.redis_dir / "redis.conf"

    @property
    def runtime_dir(self) -> Path:
        return self.state_dir / "runtime"

    @property
    def releases_dir(self) -> Path:
        return self.state_dir / "releases"

    @property
    def prometheus_dir(self) -> Path:
        return self.state_dir / "prometheus"

    @property
    def prometheus_config(self) -> Path:
        return self.prometheus_dir / "prometheus.yml"

    @property
    def prometheus_rules(self) -> Path:
        return self.prometheus_dir / "slo-rules.yml"

    @property
    def prometheus_data(self) -> Path:
        return self.prometheus_dir / "data"

    @property
    def recorded_settings(self) -> Path:
        return self.state_dir / "local.json"

    @property
    def marker(self) -> str:
        """A string found in the argv or environment of every process of this environment."""
        return str(self.state_dir) + os.sep

    def log(self, program: str) -> Path:
        """The log file supervisord writes for ``program``."""
        return self.logs_dir / f"{program}.log"


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds it; True when it was written."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True
