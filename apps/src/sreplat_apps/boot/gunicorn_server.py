"""The gunicorn side of ``sreplat-api``: configuration, JSON logger, and the application loader.

Imported by the master; the Flask application itself is imported only in ``ApiServer.load``,
which gunicorn calls in each worker after it forks.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from sreplat_apps.boot import jsonlog, paths
from sreplat_apps.boot.api import ServerSettings
from sreplat_apps.boot.loop_worker import ThreadLoopWorker, Timeouts

SERVICE = "api"

# Gunicorn worker class and threads per worker. Threads keep client connections alive (the sync
# worker closes every one) and overlap the Redis round trip of one request with the Python work
# of another; ThreadLoopWorker does it without gthread's hand-offs between an event-loop thread
# and a pool (boot/loop_worker.py). benchmarks/bench_apps.py measures the choice.
WORKER_CLASS = ThreadLoopWorker
THREADS_PER_WORKER = 4
# Longer than the idle timeout of the Google Cloud load balancer in front of GKE (600 s), so the
# balancer, not gunicorn, closes idle connections and never reuses one gunicorn just closed.
KEEPALIVE_SECONDS = 620


class JsonGunicornLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    """Gunicorn's own lines (boot, reload, worker exits) as JSON on stdout, like the app's."""

    def _set_handler(
        self, log: logging.Logger, output: str | None, fmt: object, stream: object = None
    ) -> None:
        if output == "-":
            stream = sys.stdout
        super()._set_handler(log, output, jsonlog.JsonFormatter(SERVICE), stream=stream)


def _child_exit(server: object, worker: Any) -> None:
    # Runs in the master: drop the live gauges of a worker that exited (multiprocess mode).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def gunicorn_options(
    bind: str, workers: int, environ: Mapping[str, str], server: ServerSettings | None = None
) -> dict[str, object]:
    server = server or ServerSettings()
    return {
        "bind": [bind],
        "workers": workers,
        "worker_class": WORKER_CLASS.with_timeouts(Timeouts(server.header_timeout, server.body_timeout)),
        "threads": THREADS_PER_WORKER,
        "worker_connections": server.max_connections,
        "keepalive": KEEPALIVE_SECONDS,
        "timeout": 30,
        "graceful_timeout": 30,
        "preload_app": False,  # the contract: the master never imports the application
        "worker_tmp_dir": str(paths.private_dir("gunicorn", environ)),
        "control_socket_disable": True,  # no writable $HOME under a read-only root filesystem
        "accesslog": None,  # requests are logged by the app, inside their span
        "errorlog": "-",
        "loglevel": environ.get("LOG_LEVEL", "INFO").lower(),
        "logger_class": JsonGunicornLogger,
        "proc_name": "sreplat-api",
        "child_exit": _child_exit,
    }


class ApiServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(self, options: Mapping[str, object]) -> None:
        self._options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Called in each worker after fork: this is where application code is first imported.
        from gunicorn.errors import AppImportError

        from sreplat_apps.api import create_app
        from sreplat_apps.settings import SettingsError

        try:
            return create_app()
        except SettingsError as exc:
            # gunicorn prints this one line and stops (exit 4) instead of respawning forever.
            raise AppImportError(f"sreplat-api: {exc}") from None
