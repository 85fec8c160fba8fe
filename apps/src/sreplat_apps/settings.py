"""Configuration of both apps, read once from the environment (docs/contracts.md lists the names).

Invalid values fail at start-up with the variable, the value and what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from sreplat_apps.boot import paths
from sreplat_apps.telemetry.otel_config import TracingConfig

_T = TypeVar("_T")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[?[0-9A-Fa-f:.]+\]?)$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A project ID (6-30 characters), optionally domain-scoped ("example.com:my-project").
_PROJECT_RE = re.compile(r"^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class SettingsError(ValueError):
    """An environment variable has a value the apps cannot use."""


def package_version() -> str:
    try:
        return metadata.version("sreplat-apps")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        from sreplat_apps import __version__

        return __version__


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://localhost:6379/0"
    queue: str = "jobs"
    max_body_bytes: int = 65536
    release: str = ""
    runtime_dir: Path = Path("/tmp/sreplat")  # noqa: S108  (replaced by from_env: $TMPDIR/sreplat)
    log_level: str = "INFO"
    worker_metrics_port: int = 9100
    worker_metrics_host: str = "0.0.0.0"  # noqa: S104  (scraped from other pods; local: 127.0.0.1)
    # Job lifecycle. The idempotency window of POST /process is the life of the job record:
    # result_ttl after success, failure_ttl after failure.
    result_ttl: int = 3600
    failure_ttl: int = 7 * 24 * 3600
    retry_max: int = 3
    retry_intervals: tuple[int, ...] = (1, 5, 30)
    # Abandoned jobs (worker killed mid-job) are found within about
    # heartbeat + abandon_grace + maintenance seconds, then retried.
    heartbeat_seconds: int = 10
    abandon_grace_seconds: int = 30
    maintenance_seconds: int = 15
    scheduler_seconds: int = 1
    redis_timeout_seconds: float = 2.0
    # Observability: the Google Cloud project of Cloud Logging's trace field
    # (GOOGLE_CLOUD_PROJECT; empty: none) and the standard OTEL_* export/sampling variables.
    gcp_project: str = ""
    tracing: TracingConfig = field(default_factory=TracingConfig)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        reader = _Reader(environ)
        settings = cls(
            redis_url=reader.get("REDIS_URL", cls.redis_url, _redis_url),
            queue=reader.get("SREPLAT_QUEUE", cls.queue, _queue_name),
            max_body_bytes=reader.get(
                "MAX_BODY_BYTES", cls.max_body_bytes, _int_between(1, 16 * 1024 * 1024)
            ),
            release=reader.get("SREPLAT_RELEASE", "", _release) or package_version(),
            runtime_dir=paths.runtime_dir(environ),
            log_level=reader.get("LOG_LEVEL", cls.log_level, _log_level),
            worker_metrics_port=reader.get(
                "WORKER_METRICS_PORT", cls.worker_metrics_port, _int_between(0, 65535)
            ),
            worker_metrics_host=reader.get("WORKER_METRICS_HOST", cls.worker_metrics_host, _host),
            result_ttl=reader.get("SREPLAT_RESULT_TTL", cls.result_ttl, _int_between(1, 365 * 86400)),
            failure_ttl=reader.get("SREPLAT_FAILURE_TTL", cls.failure_ttl, _int_between(1, 365 * 86400)),
            retry_max=reader.get("SREPLAT_RETRY_MAX", cls.retry_max, _int_between(0, 100)),
            retry_intervals=reader.get("SREPLAT_RETRY_INTERVALS", cls.retry_intervals, _intervals),
            heartbeat_seconds=reader.get(
                "SREPLAT_HEARTBEAT_SECONDS", cls.heartbeat_seconds, _int_between(1, 3600)
            ),
            abandon_grace_seconds=reader.get(
                "SREPLAT_ABANDON_GRACE_SECONDS", cls.abandon_grace_seconds, _int_between(1, 3600)
            ),
            maintenance_seconds=reader.get(
                "SREPLAT_MAINTENANCE_SECONDS", cls.maintenance_seconds, _int_between(1, 3600)
            ),
            scheduler_seconds=reader.get(
                "SREPLAT_SCHEDULER_SECONDS", cls.scheduler_seconds, _int_between(1, 60)
            ),
            redis_timeout_seconds=reader.get(
                "SREPLAT_REDIS_TIMEOUT_SECONDS", cls.redis_timeout_seconds, _float_between(0.05, 60)
            ),
            gcp_project=reader.get("GOOGLE_CLOUD_PROJECT", "", _project),
            tracing=_tracing(environ),
        )
        return settings


class _Reader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def get(self, name: str, default: _T, parse: Callable[[str], _T]) -> _T:
        raw = self.environ.get(name, "").strip()
        if not raw:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}={raw!r}: {exc}") from None


def _redis_url(raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return raw


def _host(raw: str) -> str:
    if not _HOST_RE.match(raw):
        raise ValueError("expected an IP address or a host name")
    return raw


def _queue_name(raw: str) -> str:
    if not _QUEUE_RE.match(raw):
        raise ValueError("expected 1-64 letters, digits or . _ : -")
    return raw


def _release(raw: str) -> str:
    if len(raw) > 128 or not raw.isprintable():
        raise ValueError("expected at most 128 printable characters")
    return raw


def _project(raw: str) -> str:
    if not _PROJECT_RE.match(raw):
        raise ValueError("expected a Google Cloud project ID (6-30 lowercase letters, digits or hyphens)")
    return raw


def _tracing(environ: Mapping[str, str]) -> TracingConfig:
    try:
        return TracingConfig.from_env(environ)
    except ValueError as exc:  # the message already names the variable and its value
        raise SettingsError(str(exc)) from None


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(_LOG_LEVELS)}")
    return level


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number between {low} and {high}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a whole number between {low} and {high}")
        return value

    return parse


def _float_between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number between {low} and {high}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number between {low} and {high}")
        return value

    return parse


def _intervals(raw: str) -> tuple[int, ...]:
    parse = _int_between(0, 86400)
    try:
        values = tuple(parse(part.strip()) for part in raw.split(","))
    except ValueError:
        raise ValueError("expected comma-separated whole numbers of seconds (0-86400), e.g. 1,5,30") from None
    return values
