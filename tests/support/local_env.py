"""Free ports and settings for a local-target environment in tests."""

from __future__ import annotations

import contextlib
import socket

from tests.support.redis_server import free_port


def free_run(length: int) -> int:
    """The first of ``length`` consecutive free ports."""
    for _ in range(200):
        base = free_port()
        if base + length > 65535:
            continue
        ok = True
        for port in range(base, base + length):
            with socket.socket() as sock, contextlib.suppress(OSError):
                sock.bind(("127.0.0.1", port))
                continue
            ok = False
            break
        if ok:
            return base
    raise RuntimeError("no run of free ports found")


def port_settings(workers: int = 2) -> dict[str, int]:
    """api_port, redis_port, worker_metrics_port and prometheus_port, all free now and distinct."""
    while True:
        api, redis, prometheus = free_port(), free_port(), free_port()
        metrics = free_run(workers)
        used = {api, redis, prometheus, *range(metrics, metrics + workers)}
        if len(used) == 3 + workers:
            return {
                "api_port": api,
                "redis_port": redis,
                "worker_metrics_port": metrics,
                "prometheus_port": prometheus,
            }


def set_flags(settings: dict[str, object]) -> list[str]:
    flags: list[str] = []
    for key, value in settings.items():
        flags += ["--set", f"{key}={value}"]
    return flags
