"""A load generator that never pauses: POST /process and GET /healthz in a loop on a few threads,
a fresh connection per request, counting every failure (error status, reset, refused, timeout)."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadReport:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    releases: Counter[str] = field(default_factory=Counter)


class Load:
    def __init__(self, host: str, port: int, *, threads: int = 3, timeout_s: float = 60.0):
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 10)

    def _one(self, method: str, path: str, body: dict[str, object] | None) -> tuple[int, str]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            headers = {"Connection": "close"}
            payload = None
            if body is not None:
                headers["Content-Type"] = "application/json"
                payload = json.dumps(body)
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                status, body = self._one("POST", "/process", {"task": "echo", "payload": {"n": n}})
                if status != 202:
                    raise RuntimeError(f"POST /process -> {status}: {body[:200]}")
                status, body = self._one("GET", "/healthz", None)
                if status != 200:
                    raise RuntimeError(f"GET /healthz -> {status}: {body[:200]}")
                release = str(json.loads(body)["release"])
            except Exception as exc:  # every kind of failure counts
                with self._lock:
                    self.report.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with self._lock:
                self.report.ok += 1
                self.report.releases[release] += 1
