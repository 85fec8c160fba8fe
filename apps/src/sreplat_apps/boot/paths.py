"""Every path the apps write, all under one runtime directory (a temp dir by default).

The containers run with a read-only root filesystem; only ``TMPDIR`` (an emptyDir) is writable,
so nothing here may default outside ``tempfile.gettempdir()``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def runtime_dir(environ: Mapping[str, str] = os.environ) -> Path:
    configured = environ.get("SREPLAT_RUNTIME_DIR", "").strip()
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "sreplat"


def metrics_dir(service: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Prometheus multiprocess directory: ``$PROMETHEUS_MULTIPROC_DIR`` or one per service.

    The default is per service so that the API and the worker can share a runtime dir on one
    machine without reading (or wiping) each other's files.
    """
    configured = environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    return Path(configured) if configured else runtime_dir(environ) / "metrics" / service


def activate_metrics_dir(service: str, *, wipe: bool) -> Path:
    """Create the multiprocess directory and point prometheus_client at it.

    Must run before ``prometheus_client`` is first imported in this process tree: the library
    picks its value class from ``PROMETHEUS_MULTIPROC_DIR`` at import time. ``wipe`` removes the
    files of a previous run (only a supervisor starting fresh may do that, never a reload).
    """
    path = metrics_dir(service)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if wipe:
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def private_dir(name: str, environ: Mapping[str, str] = os.environ) -> Path:
    """A directory under the runtime dir for one purpose (gunicorn heartbeat files, ...)."""
    path = runtime_dir(environ) / name
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
