"""DNS for the environment's API host: the Cloud DNS zone exists, holds an A record for the
host, and — what users actually experience — public resolution returns that address.

Public resolution goes to public resolvers (Google and Cloudflare by default) rather than the
local stub, so split-horizon or cached answers on this machine do not hide a broken delegation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sreplat.errors import UsageError
from sreplat.tools.api_calls import Deadline, ResourceMissing
from sreplat.tools.gcp.access import GcpAccess, deadline_session, gcp_call

PUBLIC_RESOLVERS = ("8.8.8.8", "1.1.1.1")
HOSTNAME = re.compile(r"(?=.{1,253}\.?$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?")
ZONE_NAME = re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")


class ResolutionFailed(Exception):
    """Raised by a Resolver: the name does not resolve; the message says how (NXDOMAIN, ...)."""


# (host, timeout seconds) → the IPv4 addresses the host resolves to.
Resolver = Callable[[str, float], tuple[str, ...]]


@dataclass(frozen=True)
class DnsStatus:
    zone: str
    host: str
    zone_found: bool
    zone_dns_name: str  # "dev.acme.example." ("" when the zone is missing)
    name_servers: tuple[str, ...]  # what the registrar must delegate to
    record_ips: tuple[str, ...]  # A records for host in the zone
    resolved_ips: tuple[str, ...]  # what public resolution returns
    resolution_error: str  # "" when resolution answered
    expected_ip: str  # "" when not checked
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_hostname(host: str) -> None:
    if not HOSTNAME.fullmatch(host.lower()):
        raise UsageError(f"invalid domain name {host!r}", hint="a DNS name such as api.dev.acme.example")


def public_resolver(nameservers: Sequence[str] = PUBLIC_RESOLVERS, port: int = 53) -> Resolver:
    """A Resolver asking ``nameservers`` directly (dnspython), bounded by the given timeout."""

    def resolve(host: str, timeout: float) -> tuple[str, ...]:
        import dns.exception
        import dns.resolver

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(nameservers)
        resolver.port = port
        resolver.cache = None
        try:
            answer = resolver.resolve(host, "A", lifetime=max(timeout, 0.05), search=False)
        except dns.resolver.NXDOMAIN as exc:
            raise ResolutionFailed(f"{host} does not exist (NXDOMAIN)") from exc
        except dns.resolver.NoAnswer as exc:
            raise ResolutionFailed(f"{host} has no A record") from exc
        except dns.exception.Timeout as exc:
            raise ResolutionFailed(f"no answer from {', '.join(nameservers)} within {timeout:g}s") from exc
        except dns.resolver.NoNameservers as exc:
            raise ResolutionFailed(f"every name server failed for {host} (SERVFAIL?)") from exc
        return tuple(sorted(rr.address for rr in answer))

    return resolve


def check_dns(
    access: GcpAccess,
    zone: str,
    host: str,
    *,
    expected_ip: str = "",
    resolver: Resolver | None = None,
    timeout: float = 10.0,
) -> DnsStatus:
    """The zone, the host's record in it and its public resolution, with what is wrong."""
    if not ZONE_NAME.fullmatch(zone):
        raise UsageError(
            f"invalid Cloud DNS zone name {zone!r}", hint="lowercase letters, digits and hyphens"
        )
    validate_hostname(host)
    deadline = Deadline(timeout)
    fqdn = host.lower().rstrip(".") + "."
    from google.cloud import dns  # type: ignore[attr-defined]  # (no py.typed)

    # google-cloud-dns methods take no timeout: the session bounds every request instead.
    credentials = access.resolved_credentials()
    client = dns.Client(
        project=access.project,
        credentials=credentials,
        _http=deadline_session(credentials, deadline),
        client_options=access.endpoints.options("dns"),
    )
    managed = client.zone(zone)
    problems: list[str] = []
    try:
        gcp_call(f"reading DNS zone {zone}", deadline, lambda _t: managed.reload())
    except ResourceMissing:
        managed = None
        problems.append(f"Cloud DNS zone {zone} does not exist in {access.project}")
    record_ips: tuple[str, ...] = ()
    if managed is not None:
        if not fqdn.endswith("." + managed.dns_name) and fqdn != managed.dns_name:
            problems.append(f"{host} is not inside zone {zone} ({managed.dns_name})")
        records = gcp_call(
            f"listing records of DNS zone {zone}",
            deadline,
            lambda _t: list(managed.list_resource_record_sets()),
        )
        record_ips = tuple(
            sorted(ip for r in records if r.name == fqdn and r.record_type == "A" for ip in r.rrdatas)
        )
        if not record_ips:
            problems.append(f"zone {zone} has no A record for {fqdn}")
        elif expected_ip and expected_ip not in record_ips:
            problems.append(
                f"the A record for {fqdn} is {', '.join(record_ips)}, not the ingress IP {expected_ip}"
            )
    resolve = resolver or public_resolver()
    resolved: tuple[str, ...] = ()
    resolution_error = ""
    try:
        resolved = resolve(host, max(deadline.remaining(), 0.05))
    except ResolutionFailed as exc:
        resolution_error = str(exc)
        servers = f"; delegate the domain to {', '.join(managed.name_servers)}" if managed is not None else ""
        problems.append(f"public DNS: {resolution_error}{servers}")
    if resolved and record_ips and set(resolved) != set(record_ips):
        problems.append(
            f"public DNS returns {', '.join(resolved)} but the zone says {', '.join(record_ips)} "
            "(propagating, or the domain is delegated elsewhere)"
        )
    return DnsStatus(
        zone=zone,
        host=host,
        zone_found=managed is not None,
        zone_dns_name=managed.dns_name if managed is not None else "",
        name_servers=tuple(managed.name_servers or ()) if managed is not None else (),
        record_ips=record_ips,
        resolved_ips=resolved,
        resolution_error=resolution_error,
        expected_ip=expected_ip,
        problems=tuple(problems),
    )
