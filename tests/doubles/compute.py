"""Compute Engine double: the load-balancer pieces GKE creates for Ingresses and Services —
forwarding rules (global list, aggregated list) and network endpoint groups (aggregated and zonal
list).

A resource can be told to vanish after it has been listed N times, which is how the tests model
GKE's controllers tearing the load balancer down in the background without timing.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response, rfc3339

API = "https://www.googleapis.com/compute/v1"
_IDS = itertools.count(7000000000000000001)


@dataclass
class Tracked:
    kind: str  # "forwardingRules" | "networkEndpointGroups"
    scope: str  # "global" | "regions/<r>" | "zones/<z>"
    body: dict[str, Any]
    lists_left: int | None = None  # vanish after being listed this many more times


class ComputeDouble(DoubleServer):
    name = "compute-double"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resources: dict[tuple[str, str], Tracked] = {}  # (project, name) → resource
        base = r"/compute/v1/projects/(?P<project>[^/]+)"
        self.route("GET", base + r"/global/forwardingRules", self._list_global_rules)
        self.route("GET", base + r"/aggregated/forwardingRules", self._aggregated("forwardingRules"))
        self.route(
            "GET", base + r"/aggregated/networkEndpointGroups", self._aggregated("networkEndpointGroups")
        )
        self.route("GET", base + r"/zones/(?P<zone>[^/]+)/networkEndpointGroups", self._list_zonal_negs)

    # --- seeding ------------------------------------------------------------------------------
    def add_forwarding_rule(
        self,
        project: str,
        name: str,
        *,
        ip: str,
        region: str | None = None,
        network: str | None = None,
        ingress: str | None = None,
        vanish_after_lists: int | None = None,
    ) -> dict[str, Any]:
        scope = f"regions/{region}" if region else "global"
        body: dict[str, Any] = {
            "kind": "compute#forwardingRule",
            "id": str(next(_IDS)),
            "creationTimestamp": rfc3339(),
            "name": name,
            "IPAddress": ip,
            "IPProtocol": "TCP",
            "portRange": "443-443",
            "target": f"{API}/projects/{project}/global/targetHttpsProxies/k8s2-ts-{name[-8:]}",
            "loadBalancingScheme": "EXTERNAL_MANAGED",
            "selfLink": f"{API}/projects/{project}/{scope}/forwardingRules/{name}",
        }
        if region:
            body["region"] = f"{API}/projects/{project}/regions/{region}"
        if network:
            body["network"] = f"{API}/projects/{project}/global/networks/{network}"
        if ingress:
            body["description"] = json.dumps({"kubernetes.io/ingress-name": ingress})
        with self.lock:
            self.resources[(project, name)] = Tracked("forwardingRules", scope, body, vanish_after_lists)
        return body

    def add_neg(
        self,
        project: str,
        name: str,
        *,
        zone: str,
        network: str,
        namespace: str = "sreplat",
        service: str = "api",
        vanish_after_lists: int | None = None,
    ) -> dict[str, Any]:
        region = zone.rsplit("-", 1)[0]
        body = {
            "kind": "compute#networkEndpointGroup",
            "id": str(next(_IDS)),
            "creationTimestamp": rfc3339(),
            "name": name,
            "description": json.dumps(
                {"cluster-uid": "0123abcd", "namespace": namespace, "service-name": service, "port": "8080"}
            ),
            "networkEndpointType": "GCE_VM_IP_PORT",
            "size": 2,
            "defaultPort": 8080,
            "zone": f"{API}/projects/{project}/zones/{zone}",
            "network": f"{API}/projects/{project}/global/networks/{network}",
            "subnetwork": f"{API}/projects/{project}/regions/{region}/subnetworks/{network}",
            "selfLink": f"{API}/projects/{project}/zones/{zone}/networkEndpointGroups/{name}",
        }
        with self.lock:
            self.resources[(project, name)] = Tracked(
                "networkEndpointGroups", f"zones/{zone}", body, vanish_after_lists
            )
        return body

    def remove(self, project: str, name: str) -> None:
        with self.lock:
            self.resources.pop((project, name), None)

    # --- listing ------------------------------------------------------------------------------
    def _take(self, project: str, kind: str, scope_filter: str | None = None) -> list[Tracked]:
        """The matching resources, counting this listing towards their disappearance."""
        found = []
        for key, res in list(self.resources.items()):
            if key[0] != project or res.kind != kind:
                continue
            if scope_filter is not None and res.scope != scope_filter:
                continue
            if res.lists_left is not None:
                if res.lists_left <= 0:
                    del self.resources[key]
                    continue
                res.lists_left -= 1
            found.append(res)
        return found

    def _list_global_rules(self, req: Request) -> Response:
        items = [r.body for r in self._take(req.match["project"], "forwardingRules", "global")]
        return Response(
            body={"kind": "compute#forwardingRuleList", "id": "global/forwardingRules", "items": items}
        )

    def _list_zonal_negs(self, req: Request) -> Response:
        scope = f"zones/{req.match['zone']}"
        items = [r.body for r in self._take(req.match["project"], "networkEndpointGroups", scope)]
        return Response(body={"kind": "compute#networkEndpointGroupList", "items": items})

    def _aggregated(self, kind: str) -> Any:
        def handler(req: Request) -> Response:
            scopes: dict[str, dict[str, Any]] = {
                "regions/asia-south1": {
                    "warning": {"code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope."}
                }
            }
            for res in self._take(req.match["project"], kind):
                scopes.setdefault(res.scope, {}).pop("warning", None)
                scopes[res.scope].setdefault(kind, []).append(res.body)
            return Response(
                body={
                    "kind": f"compute#{kind[:-1]}AggregatedList",
                    "id": f"projects/{req.match['project']}/aggregated/{kind}",
                    "items": scopes,
                }
            )

        return handler
