"""Kubernetes Engine (Container API v1) double: projects.locations.clusters get, list, create and
delete (the last two answer with a finished Operation, as Terraform's provider polls for).

Clusters carry what sreplat reads: status, statusMessage, endpoint, masterAuth.clusterCaCertificate
(base64 PEM, as the real API returns it), currentMasterVersion, autopilot. A created cluster's
control plane is ``kube_endpoint``/``kube_ca_pem`` (point them at the Kubernetes double).
"""

from __future__ import annotations

import base64
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response, rfc3339


class ContainerDouble(DoubleServer):
    name = "container-double"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clusters: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.kube_endpoint = "34.100.0.10"
        # A cluster created under one of these names gets its own control plane (several
        # environments in one test, each with its own Kubernetes double).
        self.kube_endpoints: dict[str, str] = {}
        self.kube_ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        self.created: list[str] = []
        self.deleted: list[str] = []
        base = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/clusters"
        self.route("GET", base, self._list)
        self.route("POST", base, self._create)
        self.route("GET", base + r"/(?P<cluster>[^/:]+)", self._get)
        self.route("DELETE", base + r"/(?P<cluster>[^/:]+)", self._delete)

    def add_cluster(
        self,
        project: str,
        location: str,
        name: str,
        *,
        status: str = "RUNNING",
        endpoint: str = "34.100.0.10",
        ca_pem: str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        version: str = "1.33.2-gke.1111000",
        status_message: str = "",
    ) -> dict[str, Any]:
        cluster = {
            "name": name,
            "location": location,
            "zone": location,
            "selfLink": f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{name}",
            "status": status,
            "statusMessage": status_message,
            "endpoint": endpoint,
            "initialClusterVersion": version,
            "currentMasterVersion": version,
            "createTime": rfc3339(),
            "autopilot": {"enabled": True},
            "masterAuth": {"clusterCaCertificate": base64.b64encode(ca_pem.encode()).decode()},
            "network": f"sreplat-{name}",
            "releaseChannel": {"channel": "REGULAR"},
        }
        with self.lock:
            self.clusters[(project, location, name)] = cluster
        return cluster

    def set_status(self, project: str, location: str, name: str, status: str, message: str = "") -> None:
        with self.lock:
            cluster = self.clusters[(project, location, name)]
            cluster["status"] = status
            cluster["statusMessage"] = message

    def _get(self, req: Request) -> Response:
        key = (req.match["project"], req.match["location"], req.match["cluster"])
        cluster = self.clusters.get(key)
        if cluster is None:
            return self.error(
                404,
                f"Not found: projects/{key[0]}/locations/{key[1]}/clusters/{key[2]}.",
                "notFound",
            )
        return Response(body=cluster)

    def _operation(self, req: Request, kind: str, name: str) -> Response:
        project, location = req.match["project"], req.match["location"]
        return Response(
            body={
                "name": f"operation-{len(self.created) + len(self.deleted)}",
                "operationType": kind,
                "status": "DONE",
                "selfLink": f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/operations/x",
                "targetLink": f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{name}",
                "startTime": rfc3339(),
                "endTime": rfc3339(),
            }
        )

    def _create(self, req: Request) -> Response:
        project, location = req.match["project"], req.match["location"]
        spec = (req.json() or {}).get("cluster") or {}
        name = spec.get("name", "")
        if (project, location, name) in self.clusters:
            return self.error(
                409, f"Already exists: projects/{project}/locations/{location}/clusters/{name}."
            )
        cluster = self.add_cluster(
            project,
            location,
            name,
            endpoint=self.kube_endpoints.get(name, self.kube_endpoint),
            ca_pem=self.kube_ca_pem,
        )
        cluster["autopilot"] = spec.get("autopilot") or {"enabled": True}
        self.created.append(name)
        return self._operation(req, "CREATE_CLUSTER", name)

    def _delete(self, req: Request) -> Response:
        key = (req.match["project"], req.match["location"], req.match["cluster"])
        if self.clusters.pop(key, None) is None:
            return self.error(404, f"Not found: projects/{key[0]}/locations/{key[1]}/clusters/{key[2]}.")
        self.deleted.append(key[2])
        return self._operation(req, "DELETE_CLUSTER", key[2])

    def _list(self, req: Request) -> Response:
        project, location = req.match["project"], req.match["location"]
        items = [c for (p, loc, _), c in self.clusters.items() if p == project and location in ("-", loc)]
        return Response(body={"clusters": items})
