"""The HTTPS load balancer GKE builds for the API's Ingress, as a double.

It serves TLS for the API host (a certificate from the test CA, as the managed certificate would
be; ``add_host`` routes another environment's API host to its own cluster, one certificate naming
both) and routes by Host header like the URL map: ``/healthz`` and ``/readyz`` answer for the
``api`` Deployment found in the Kubernetes double — 502 when it has no ready replica (no healthy
backend), else 200 with the ``SREPLAT_RELEASE`` its pod template sets, as the real API reports
it. ``readyz_status`` makes ``/readyz`` fail (Redis unreachable behind a healthy process).
"""

from __future__ import annotations

import ssl
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response
from tests.doubles.kube import KubeDouble


class IngressDouble(DoubleServer):
    name = "ingress-double"

    def __init__(
        self, *, kube: KubeDouble, host: str, tls: ssl.SSLContext, namespace: str = "sreplat", **kwargs: Any
    ) -> None:
        super().__init__(tls=tls, **kwargs)
        self.kube = kube
        self.api_host = host
        self.hosts: dict[str, KubeDouble] = {host: kube}
        self.namespace = namespace
        self.readyz_status = 200
        self.route("GET", r"/healthz", self._healthz)
        self.route("GET", r"/readyz", self._readyz)

    def add_host(self, host: str, kube: KubeDouble) -> None:
        with self.lock:
            self.hosts[host] = kube

    def _backend(self, req: Request) -> Response | dict[str, Any]:
        host = req.headers.get("host", "").split(":")[0]
        kube = self.hosts.get(host)
        if kube is None:
            return Response(404, "default backend - 404", content_type="text/plain")
        deployment = kube.get("Deployment", "api", self.namespace)
        if deployment is None:
            return Response(404, "default backend - 404", content_type="text/plain")
        if int((deployment.get("status") or {}).get("readyReplicas") or 0) < 1:
            return Response(502, "<html><body>502 Server Error</body></html>", content_type="text/html")
        return deployment

    def _healthz(self, req: Request) -> Response:
        backend = self._backend(req)
        if isinstance(backend, Response):
            return backend
        containers = backend["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value", "") for c in containers for e in c.get("env", [])}
        return Response(body={"status": "ok", "release": env.get("SREPLAT_RELEASE", "")})

    def _readyz(self, req: Request) -> Response:
        backend = self._backend(req)
        if isinstance(backend, Response):
            return backend
        if self.readyz_status != 200:
            return Response(
                self.readyz_status,
                {"error": {"code": "redis_unavailable", "message": "Redis is unreachable"}, "trace_id": "0"},
                headers={"Retry-After": "1"},
            )
        return Response(body={"status": "ready"})
