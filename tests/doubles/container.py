"""Kubernetes Engine (Container API v1) double: projects.locations.clusters get, list, create and
delete (the last two answer with a finished Operation, as Terraform's provider polls for).

Clusters carry what sreplat reads: status, statusMessage, endpoint, masterAuth.clusterCaCertificate
(base64 PEM, as the real API returns it), currentMasterVersion, autopilot, and the control plane's
two endpoints as the v1 API reports them (``controlPlaneEndpointsConfig``):

- ``dnsEndpointConfig``: ``endpoint`` (output only, "always present": ``<uid>.<region>.gke.goog``,
  serving a publicly trusted certificate) and ``allowExternalTraffic`` (whether user traffic may
  use it; off unless the create request turns it on);
- ``ipEndpointsConfig``: ``publicEndpoint`` (the IP the legacy ``endpoint`` field repeats, whose
  certificate the cluster CA signs) and ``authorizedNetworksConfig`` (the networks allowed to
  reach it; enabled with none listed: nobody outside the VPC).

A created cluster's control plane is ``kube_endpoint``/``kube_ca_pem`` (the IP endpoint) and
``dns_endpoint_name(...)`` (point them at the Kubernetes double).
"""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response, rfc3339

PROJECT_NUMBER = "123456789012"


def dns_endpoint_name(project: str, location: str, name: str) -> str:
    """The DNS-based endpoint a cluster gets: ``gke-<uid>-<project number>.<location>.gke.goog``,
    the uid derived from the cluster's path so a test (and the fixture stacks' output) can know it
    before the cluster exists."""
    uid = hashlib.md5(f"{project}/{location}/{name}".encode(), usedforsecurity=False).hexdigest()
    return f"gke-{uid}-{PROJECT_NUMBER}.{location}.gke.goog"


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
        self.project_number = PROJECT_NUMBER
        self.created: list[str] = []
        self.create_requests: list[dict[str, Any]] = []
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
        dns_endpoint: str = "",
        allow_external_traffic: bool = True,
        authorized_networks: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        dns = dns_endpoint or dns_endpoint_name(project, location, name)
        networks = {
            "enabled": True,
            "cidrBlocks": copy.deepcopy(authorized_networks or []),
            "gcpPublicCidrsAccessEnabled": False,
        }
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
            "masterAuthorizedNetworksConfig": copy.deepcopy(networks),
            "controlPlaneEndpointsConfig": {
                "dnsEndpointConfig": {"endpoint": dns, "allowExternalTraffic": allow_external_traffic},
                "ipEndpointsConfig": {
                    "enabled": True,
                    "enablePublicEndpoint": True,
                    "authorizedNetworksConfig": networks,
                    "publicEndpoint": endpoint,
                    "privateEndpoint": "10.10.0.2",
                },
            },
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
        endpoints = spec.get("controlPlaneEndpointsConfig") or {}
        ip_config = endpoints.get("ipEndpointsConfig") or {}
        dns_config = endpoints.get("dnsEndpointConfig") or {}
        # The provider sends authorized networks in either place (the older top-level field too).
        networks = ip_config.get("authorizedNetworksConfig") or {}
        networks = networks or spec.get("masterAuthorizedNetworksConfig") or {}
        cluster = self.add_cluster(
            project,
            location,
            name,
            endpoint=self.kube_endpoints.get(name, self.kube_endpoint),
            ca_pem=self.kube_ca_pem,
            # A bool field left out of the request is false, as in the API.
            allow_external_traffic=bool(dns_config.get("allowExternalTraffic")),
            authorized_networks=networks.get("cidrBlocks") or [],
        )
        cluster["autopilot"] = spec.get("autopilot") or {"enabled": True}
        self.created.append(name)
        self.create_requests.append(copy.deepcopy(spec))
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
