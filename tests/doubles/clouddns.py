"""Cloud DNS v1 double: managedZones get/list/create/delete, resourceRecordSets list, changes
create (additions and deletions of record sets)."""

from __future__ import annotations

import itertools
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response, rfc3339

_ZONE_IDS = itertools.count(4000000000000000001)
SOA = "ns-cloud-a1.googledomains.com. cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"


class CloudDnsDouble(DoubleServer):
    name = "clouddns-double"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.zones: dict[tuple[str, str], dict[str, Any]] = {}
        self.records: dict[tuple[str, str], list[dict[str, Any]]] = {}
        base = r"/dns/v1/projects/(?P<project>[^/]+)/managedZones"
        self.route("GET", base, self._list_zones)
        self.route("GET", base + r"/(?P<zone>[^/]+)", self._get_zone)
        self.route("GET", base + r"/(?P<zone>[^/]+)/rrsets", self._list_records)
        self.route("POST", base, self._create_zone)
        self.route("DELETE", base + r"/(?P<zone>[^/]+)", self._delete_zone)
        self.route("POST", base + r"/(?P<zone>[^/]+)/changes", self._change)

    def add_zone(self, project: str, name: str, dns_name: str) -> dict[str, Any]:
        zone = {
            "kind": "dns#managedZone",
            "name": name,
            "dnsName": dns_name if dns_name.endswith(".") else dns_name + ".",
            "description": "sreplat",
            "id": str(next(_ZONE_IDS)),
            "nameServers": [f"ns-cloud-a{i}.googledomains.com." for i in (1, 2, 3, 4)],
            "creationTime": rfc3339(),
            "visibility": "public",
        }
        with self.lock:
            self.zones[(project, name)] = zone
            self.records[(project, name)] = [
                self._rrset(zone["dnsName"], "NS", 21600, list(zone["nameServers"])),
                self._rrset(
                    zone["dnsName"],
                    "SOA",
                    21600,
                    [SOA],
                ),
            ]
        return zone

    def add_record(
        self, project: str, zone: str, name: str, rtype: str, rrdatas: list[str], *, ttl: int = 300
    ) -> None:
        fqdn = name if name.endswith(".") else name + "."
        with self.lock:
            self.records[(project, zone)].append(self._rrset(fqdn, rtype, ttl, rrdatas))

    def remove_records(self, project: str, zone: str, name: str) -> None:
        fqdn = name if name.endswith(".") else name + "."
        with self.lock:
            self.records[(project, zone)] = [r for r in self.records[(project, zone)] if r["name"] != fqdn]

    @staticmethod
    def _rrset(name: str, rtype: str, ttl: int, rrdatas: list[str]) -> dict[str, Any]:
        return {"kind": "dns#resourceRecordSet", "name": name, "type": rtype, "ttl": ttl, "rrdatas": rrdatas}

    def _zone(self, req: Request) -> dict[str, Any] | Response:
        zone = self.zones.get((req.match["project"], req.match["zone"]))
        if zone is None:
            return self.error(
                404,
                f"The 'parameters.managedZone' resource named '{req.match['zone']}' does not exist.",
                "notFound",
            )
        return zone

    def _get_zone(self, req: Request) -> Response:
        zone = self._zone(req)
        return zone if isinstance(zone, Response) else Response(body=zone)

    def _list_zones(self, req: Request) -> Response:
        dns_name = req.param("dnsName")
        items = [
            z
            for (p, _), z in self.zones.items()
            if p == req.match["project"] and (dns_name is None or z["dnsName"] == dns_name)
        ]
        return Response(body={"kind": "dns#managedZonesListResponse", "managedZones": items})

    def _create_zone(self, req: Request) -> Response:
        body = req.json() or {}
        project, name = req.match["project"], body.get("name", "")
        if (project, name) in self.zones:
            return self.error(
                409, f"The resource 'entity.managedZone' named '{name}' already exists", "alreadyExists"
            )
        return Response(body=self.add_zone(project, name, body.get("dnsName", "")))

    def _delete_zone(self, req: Request) -> Response:
        zone = self._zone(req)
        if isinstance(zone, Response):
            return zone
        key = (req.match["project"], req.match["zone"])
        if any(r["type"] not in ("NS", "SOA") for r in self.records[key]):
            return self.error(
                400,
                f"The resource named '{key[1]}' cannot be deleted because it is not empty",
                "containerNotEmpty",
            )
        del self.zones[key]
        del self.records[key]
        return Response(204)

    def _change(self, req: Request) -> Response:
        zone = self._zone(req)
        if isinstance(zone, Response):
            return zone
        key = (req.match["project"], req.match["zone"])
        body = req.json() or {}
        for gone in body.get("deletions") or []:
            self.records[key] = [
                r for r in self.records[key] if (r["name"], r["type"]) != (gone["name"], gone["type"])
            ]
        for added in body.get("additions") or []:
            self.records[key].append(
                self._rrset(added["name"], added["type"], int(added.get("ttl", 300)), list(added["rrdatas"]))
            )
        return Response(body={"kind": "dns#change", "id": "1", "status": "done", **body})

    def _list_records(self, req: Request) -> Response:
        zone = self._zone(req)
        if isinstance(zone, Response):
            return zone
        name, rtype = req.param("name"), req.param("type")
        items = [
            r
            for r in self.records[(req.match["project"], req.match["zone"])]
            if (name is None or r["name"] == name) and (rtype is None or r["type"] == rtype)
        ]
        return Response(body={"kind": "dns#resourceRecordSetsListResponse", "rrsets": items})
