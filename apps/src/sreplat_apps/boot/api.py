"""``sreplat-api``: the API under gunicorn with its production settings.

This module and ``boot.gunicorn_server`` are all the gunicorn master imports from
``sreplat_apps`` (plus ``boot.paths`` and ``boot.jsonlog``, standard library only). The Flask
application is imported by each worker after it forks (no ``preload_app``), so:

- SIGHUP: gunicorn re-reads this configuration, forks new workers that import the application
  fresh from ``sys.path``, and gracefully stops the old ones. The listening socket stays open
  throughout (the bind address does not change), so no connection is refused.
- SIGTERM: graceful stop; in-flight requests finish within ``graceful_timeout``.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sreplat_apps.boot import paths
from sreplat_apps.boot.cpus import available_cpus

SERVICE = "api"
DEFAULT_BIND = "0.0.0.0:8080"
_BIND_RE = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):(?P<port>\d{1,5})$")


class UsageError(ValueError):
    """A flag or environment variable the launcher cannot use; the message says which and why."""


def _bind(value: str) -> str:
    match = _BIND_RE.match(value)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (port 1-65535), got {value!r}")
    return value


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return number


def default_workers(environ: Mapping[str, str]) -> int:
    """``WEB_CONCURRENCY``, else one gunicorn worker per available CPU.

    Each worker runs several threads (``boot.loop_worker``), so one process per core keeps the
    cores busy;
    more processes only add contention (benchmarks/bench_apps.py: 4 workers on 2 cores cost
    ~20% more CPU per request than 2).
    """
    raw = environ.get("WEB_CONCURRENCY", "").strip()
    if not raw:
        return available_cpus()
    try:
        return _positive_int(raw)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"WEB_CONCURRENCY: {exc}") from None


@dataclass(frozen=True)
class ServerSettings:
    """What the master reads from the environment for the server itself (the application's own
    settings are read by each worker, ``sreplat_apps.settings``)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000  # per worker process

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServerSettings:
        return cls(
            header_timeout=_env_number(
                environ, "SREPLAT_HEADER_TIMEOUT_SECONDS", cls.header_timeout, 0.1, 3600
            ),
            body_timeout=_env_number(environ, "SREPLAT_BODY_TIMEOUT_SECONDS", cls.body_timeout, 0.1, 3600),
            max_connections=int(
                _env_number(environ, "SREPLAT_MAX_CONNECTIONS", cls.max_connections, 1, 100_000, whole=True)
            ),
        )


def _env_number(
    environ: Mapping[str, str], name: str, default: float, low: float, high: float, *, whole: bool = False
) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    kind = "a whole number" if whole else "a number"
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise UsageError(f"{name}={raw!r}: expected {kind} from {low:g} to {high:g}")
    return value


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sreplat-api",
        description="Serve the sreplat API with gunicorn (configuration from the environment).",
    )
    parser.add_argument(
        "--bind", type=_bind, default=DEFAULT_BIND, help=f"HOST:PORT (default {DEFAULT_BIND})"
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="worker processes (default: $WEB_CONCURRENCY, else one per available CPU)",
    )
    args = parser.parse_args(argv)
    try:
        if args.workers is None:
            args.workers = default_workers(environ)
        args.server = ServerSettings.from_env(environ)
    except UsageError as exc:
        parser.error(str(exc))
    return args


def main(argv: Sequence[str] | None = None) -> None:
    # Flags and WEB_CONCURRENCY first: gunicorn itself crashes on a bad WEB_CONCURRENCY at import.
    args = parse_args(argv, os.environ)
    # Before anything imports prometheus_client; a fresh master starts from empty counters.
    paths.activate_metrics_dir(SERVICE, wipe=True)
    from sreplat_apps.boot.gunicorn_server import ApiServer, gunicorn_options

    ApiServer(gunicorn_options(args.bind, args.workers, os.environ, args.server)).run()
