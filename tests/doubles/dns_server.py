"""A tiny authoritative DNS server on a loopback UDP port (dnspython), standing in for the
public resolvers in tests: it answers A queries from ``records``, NXDOMAIN otherwise, and can be
told to drop every query (a resolver that times out).
"""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}  # "api.dev.acme.example." → ["34.1.2.3"]
        self.drop = False
        self.queries: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-double", daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def add(self, name: str, *ips: str) -> None:
        self.records[name.rstrip(".").lower() + "."] = list(ips)

    def start(self) -> DnsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text().lower()
            self.queries.append(name)
            if self.drop:
                continue
            response = dns.message.make_response(query)
            ips = self.records.get(name)
            if ips is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                response.answer.append(dns.rrset.from_text(name, 300, "IN", "A", *ips))
            self._sock.sendto(response.to_wire(), peer)
