"""``sreplat-worker [--burst] [--workers N] [--metrics-host H] [--metrics-port P] [--queue NAME]``."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from sreplat_apps.boot import paths
from sreplat_apps.boot.cpus import available_cpus

SERVICE = "worker"
HOST_RE = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[?[0-9A-Fa-f:.]+\]?)$")


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 64:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 64, got {value!r}")
    return number


def _host(value: str) -> str:
    if not HOST_RE.match(value):
        raise argparse.ArgumentTypeError(f"expected an IP address or a host name, got {value!r}")
    return value


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port from 0 to 65535 (0: no metrics server), got {value!r}"
        )
    return number


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sreplat-worker",
        description="Run sreplat's RQ worker (configuration from the environment).",
    )
    parser.add_argument("--burst", action="store_true", help="drain the queue, then exit")
    parser.add_argument(
        "--workers",
        type=_count,
        default=None,
        help="worker processes (default: one per available CPU, as sreplat-api)",
    )
    parser.add_argument(
        "--metrics-host",
        type=_host,
        default=None,
        help="address /metrics listens on (default $WORKER_METRICS_HOST, else 0.0.0.0)",
    )
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        help="port of /metrics (default $WORKER_METRICS_PORT, else 9100; 0 turns it off)",
    )
    parser.add_argument("--queue", default=None, help="queue to work (default $SREPLAT_QUEUE, else jobs)")
    args = parser.parse_args(argv)
    if args.workers is None:
        # Jobs are Python bookkeeping plus Redis round trips: one process per core keeps the cores
        # busy (benchmarks/bench_apps.py); a pod's CPU limit caps it, as for the API.
        args.workers = min(available_cpus(), 64)
    return args


class _EarlyStop:
    """Counts SIGTERM/SIGINT received while starting, before the supervisor's own handlers."""

    def __init__(self) -> None:
        self.count = 0
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._record)

    def _record(self, _signum: int, _frame: FrameType | None) -> None:
        self.count += 1


def main(argv: Sequence[str] | None = None) -> None:
    early = _EarlyStop()  # a stop during the imports below is honoured, not fatal
    args = parse_args(argv)
    environ = dict(os.environ)
    if args.queue is not None:
        environ["SREPLAT_QUEUE"] = args.queue

    from sreplat_apps.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(environ)
    except SettingsError as exc:
        print(f"sreplat-worker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # Before prometheus_client is imported; a fresh supervisor starts from empty counters.
    paths.activate_metrics_dir(SERVICE, wipe=True)

    from sreplat_apps.telemetry import logs
    from sreplat_apps.worker.supervisor import Supervisor, SupervisorError

    logs.setup(SERVICE, settings.log_level, project=settings.gcp_project)
    port = settings.worker_metrics_port if args.metrics_port is None else args.metrics_port
    host = settings.worker_metrics_host if args.metrics_host is None else args.metrics_host
    supervisor = Supervisor(
        settings, processes=args.workers, burst=args.burst, metrics_port=port, metrics_host=host
    )
    try:
        code = supervisor.run(early_signals=lambda: early.count)
    except SupervisorError as exc:
        print(f"sreplat-worker: {exc}", file=sys.stderr)
        code = 1
    raise SystemExit(code)
