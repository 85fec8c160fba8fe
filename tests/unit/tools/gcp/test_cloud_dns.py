"""check_dns against the Cloud DNS double, resolving through a real UDP DNS server on loopback."""

from __future__ import annotations

import pytest

from sreplat.errors import UsageError
from sreplat.tools.api_calls import CallTimeout
from sreplat.tools.gcp.access import GcpAccess
from sreplat.tools.gcp.cloud_dns import ResolutionFailed, check_dns, public_resolver
from tests.doubles.clouddns import CloudDnsDouble
from tests.doubles.dns_server import DnsServer
from tests.doubles.fixtures import PROJECT

ZONE = "sreplat-dev"
HOST = "api.dev.acme.example"
IP = "34.120.7.9"


@pytest.fixture
def zone(clouddns_double: CloudDnsDouble) -> CloudDnsDouble:
    clouddns_double.add_zone(PROJECT, ZONE, "dev.acme.example")
    clouddns_double.add_record(PROJECT, ZONE, HOST, "A", [IP])
    return clouddns_double


def test_healthy_zone_record_and_public_resolution(
    gcp_access: GcpAccess, zone: CloudDnsDouble, dns_server: DnsServer
) -> None:
    dns_server.add(HOST, IP)
    status = check_dns(
        gcp_access, ZONE, HOST, expected_ip=IP, resolver=public_resolver(["127.0.0.1"], port=dns_server.port)
    )
    assert status.ok, status.problems
    assert (status.zone_found, status.zone_dns_name) == (True, "dev.acme.example.")
    assert status.record_ips == (IP,)
    assert status.resolved_ips == (IP,)
    assert len(status.name_servers) == 4
    assert dns_server.queries == [HOST + "."]


def test_undelegated_domain_says_where_to_delegate(
    gcp_access: GcpAccess, zone: CloudDnsDouble, dns_server: DnsServer
) -> None:
    status = check_dns(gcp_access, ZONE, HOST, resolver=public_resolver(["127.0.0.1"], port=dns_server.port))
    assert not status.ok
    assert status.resolution_error == f"{HOST} does not exist (NXDOMAIN)"
    assert status.problems == (
        f"public DNS: {HOST} does not exist (NXDOMAIN); delegate the domain to "
        "ns-cloud-a1.googledomains.com., ns-cloud-a2.googledomains.com., "
        "ns-cloud-a3.googledomains.com., ns-cloud-a4.googledomains.com.",
    )


def test_record_pointing_elsewhere_and_stale_public_answer(
    gcp_access: GcpAccess, zone: CloudDnsDouble, dns_server: DnsServer
) -> None:
    dns_server.add(HOST, "203.0.113.5")
    status = check_dns(
        gcp_access,
        ZONE,
        HOST,
        expected_ip="34.120.7.10",
        resolver=public_resolver(["127.0.0.1"], port=dns_server.port),
    )
    assert status.problems == (
        f"the A record for {HOST}. is {IP}, not the ingress IP 34.120.7.10",
        f"public DNS returns 203.0.113.5 but the zone says {IP} "
        "(propagating, or the domain is delegated elsewhere)",
    )


def test_missing_record(gcp_access: GcpAccess, clouddns_double: CloudDnsDouble) -> None:
    clouddns_double.add_zone(PROJECT, ZONE, "dev.acme.example")
    status = check_dns(gcp_access, ZONE, HOST, resolver=lambda host, timeout: (IP,))
    assert status.record_ips == ()
    assert status.problems == (f"zone {ZONE} has no A record for {HOST}.",)


def test_missing_zone_and_host_outside_it(gcp_access: GcpAccess, clouddns_double: CloudDnsDouble) -> None:
    def nxdomain(host: str, timeout: float) -> tuple[str, ...]:
        raise ResolutionFailed(f"{host} does not exist (NXDOMAIN)")

    status = check_dns(gcp_access, ZONE, HOST, resolver=nxdomain)
    assert not status.zone_found
    assert status.problems == (
        f"Cloud DNS zone {ZONE} does not exist in {PROJECT}",
        f"public DNS: {HOST} does not exist (NXDOMAIN)",
    )
    clouddns_double.add_zone(PROJECT, ZONE, "other.example")
    outside = check_dns(gcp_access, ZONE, HOST, resolver=lambda host, timeout: ())
    assert f"{HOST} is not inside zone {ZONE} (other.example.)" in outside.problems


def test_silent_resolver_times_out_within_the_budget(
    gcp_access: GcpAccess, zone: CloudDnsDouble, dns_server: DnsServer
) -> None:
    dns_server.drop = True
    status = check_dns(
        gcp_access, ZONE, HOST, timeout=1.0, resolver=public_resolver(["127.0.0.1"], port=dns_server.port)
    )
    assert status.resolution_error.startswith("no answer from 127.0.0.1 within")
    assert status.record_ips == (IP,)  # the API part still reported
    assert dns_server.queries  # it was asked


def test_hanging_cloud_dns_api_times_out(gcp_access: GcpAccess, zone: CloudDnsDouble) -> None:
    zone.inject(r"/managedZones/", hang=True)
    with pytest.raises(CallTimeout, match=f"reading DNS zone {ZONE}: no answer within 0.4s"):
        check_dns(gcp_access, ZONE, HOST, timeout=0.4, resolver=lambda host, timeout: (IP,))


@pytest.mark.parametrize(
    ("zone_name", "host"), [("Bad_Zone", HOST), (ZONE, "not a host"), (ZONE, "-x.example")]
)
def test_bad_input_fails_before_any_call(
    gcp_access: GcpAccess, clouddns_double: CloudDnsDouble, zone_name: str, host: str
) -> None:
    with pytest.raises(UsageError):
        check_dns(gcp_access, zone_name, host, resolver=lambda h, t: ())
    assert clouddns_double.calls() == []
