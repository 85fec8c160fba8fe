"""A pass-through proxy in front of a real registry, to model what the real one does not do.

- ``refuse_mounts``: drop the ``mount``/``from`` parameters of upload requests, so the registry
  answers ``202 Accepted`` with an upload session, as the OCI distribution spec lets a registry
  that does not mount (the client must then upload the blob);
- ``deny_mounts``: answer mount requests ``403 DENIED`` (what some registries do when they cannot
  read the ``from`` repository), so the client must open a plain upload;
- faults from ``DoubleServer.inject`` (a manifest PUT failing once: an interrupted copy).

Everything else goes to the registry unchanged, and ``Location`` headers are rewritten to come
back through the proxy.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from tests.doubles.base import DoubleServer, Request, Response

_HOP = {"content-length", "transfer-encoding", "connection", "content-type", "keep-alive", "date"}


class RegistryProxy(DoubleServer):
    name = "registry-proxy"

    def __init__(
        self, upstream: str, *, refuse_mounts: bool = False, deny_mounts: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.upstream = upstream.rstrip("/")
        self.refuse_mounts = refuse_mounts
        self.deny_mounts = deny_mounts
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
            self.route(method, r"/v2/.*", self._forward)

    def error(self, status: int, message: str, reason: str | None = None) -> Response:
        return Response(status, {"errors": [{"code": reason or "UNKNOWN", "message": message}]})

    def _forward(self, req: Request) -> Response:
        if self.deny_mounts and req.param("mount"):
            return self.error(403, "mount denied", "DENIED")
        query = {k: v for k, v in req.query.items() if not (self.refuse_mounts and k in ("mount", "from"))}
        url = f"{self.upstream}{req.path}" + (f"?{urlencode(query, doseq=True)}" if query else "")
        headers = {
            k: v for k, v in req.headers.items() if k not in ("host", "content-length", "transfer-encoding")
        }
        answer = httpx.request(req.method, url, headers=headers, content=req.body or None, timeout=30)
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
        if "location" in kept:
            kept["location"] = kept["location"].replace(self.upstream, self.url)
        return Response(
            answer.status_code,
            answer.content if req.method != "HEAD" else None,
            headers=kept,
            content_type=answer.headers.get("content-type", "application/octet-stream"),
        )
