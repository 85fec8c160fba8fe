"""What the running processes say about themselves: the release the API and each worker serve,
and which workers are registered and alive."""

from __future__ import annotations

import re
import socket

from sreplat.targets.local.programs import QUEUE
from sreplat.tools import http_probe
from sreplat.tools.local import processes, redis_probe

_BUILD_INFO = re.compile(r"^sreplat_build_info\{([^}]*)\}\s+1", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def serving(api_url: str) -> str | None:
    """The release the API reports on /healthz, None if it does not answer."""
    answer = http_probe.get(f"{api_url}/healthz")
    body = answer.json() if answer.status == 200 else None
    return str(body.get("release")) if isinstance(body, dict) else None


def worker_release(port: int) -> str | None:
    """The release a worker reports on its /metrics (``sreplat_build_info``), None if no answer."""
    answer = http_probe.get(f"http://127.0.0.1:{port}/metrics")
    if answer.status != 200:
        return None
    for match in _BUILD_INFO.finditer(answer.body):
        labels = dict(_LABEL.findall(match.group(1)))
        if labels.get("service") == "worker":
            return labels.get("release")
    return None


def worker_release_mismatch(port: int, version: str) -> str | None:
    """A wait probe: None once the worker on ``port`` reports ``version``."""
    seen = worker_release(port)
    return None if seen == version else f"it reports {seen or 'nothing'}"


def alive_workers(redis_url: str) -> list[redis_probe.RegisteredWorker]:
    """Workers registered on the queue whose process runs on this machine."""
    host = socket.gethostname()
    return [
        w
        for w in redis_probe.workers(redis_url, QUEUE)
        if w.pid and (w.hostname in (None, host)) and processes.alive(w.pid)
    ]
