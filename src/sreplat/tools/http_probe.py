"""Small HTTP GETs for readiness checks (standard library only: cheap to import, no pooling,
a fresh connection per probe so a check never rides a connection the server is closing)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HttpAnswer:
    status: int  # 0: no HTTP answer at all (refused, reset, timed out)
    body: str
    error: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def describe(self) -> str:
        return self.error if self.status == 0 else f"HTTP {self.status}"


def get(url: str, *, timeout_s: float = 3.0) -> HttpAnswer:
    """GET ``url``; never raises for network trouble (``status`` 0 and ``error`` say what)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s
    )
    try:
        connection.request("GET", parts.path or "/", headers={"Connection": "close"})
        response = connection.getresponse()
        return HttpAnswer(response.status, response.read().decode("utf-8", errors="replace"))
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        return HttpAnswer(0, "", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        connection.close()
