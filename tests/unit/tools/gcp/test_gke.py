"""GKE access: Container API → the control plane's DNS-based endpoint, google-auth → token, then
the real `kubernetes` client and the real Helm SDK reach the (HTTPS) Kubernetes double from memory
only.

The control plane is modelled with both of its doors (issue 12, item 1): the IP endpoint, whose
certificate the cluster CA signs and which drops connections from outside the VPC (no authorized
network lists the caller: the stacks' default), and the DNS endpoint ``<uid>.<region>.gke.goog``,
which presents a publicly trusted certificate (tests/support/public_pki.py) and answers from
anywhere. A client that uses the IP endpoint, or that trusts only the cluster CA, fails here as
it would against GKE.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sreplat.errors import ExitCode, OperationFailed, UsageError
from sreplat.tools.api_calls import AccessDenied, CallTimeout, ResourceMissing
from sreplat.tools.gcp.access import GcpAccess
from sreplat.tools.gcp.gke import ClusterAccess, ClusterNotReady, connect, describe_cluster
from tests.doubles.container import ContainerDouble
from tests.doubles.fixtures import KUBE_TOKEN, PROJECT, REGION, serve
from tests.doubles.kube import KubeDouble
from tests.doubles.kube_objects import deployment, helm_release_secret, namespace
from tests.support import public_pki

CLUSTER = "sreplat-dev"
DNS_ENDPOINT = f"gke-0f1e2d3c4b5a69788796a5b4c3d2e1f0-123456789012.{REGION}.gke.goog"


@pytest.fixture
def control_plane(kube_tls: tuple[ssl.SSLContext, str]) -> Iterator[KubeDouble]:
    """The cluster's API server: the IP endpoint (cluster CA) closed to this caller, the DNS
    endpoint (public certificate) open, on one port."""
    double = KubeDouble(
        tls=kube_tls[0],
        sni={DNS_ENDPOINT: public_pki.server_context(DNS_ENDPOINT)},
        ip_endpoint_open=False,
        require_token=KUBE_TOKEN,
    )
    yield from serve(double)


def _cluster(container: ContainerDouble, kube: KubeDouble, ca_pem: str, **kwargs: Any) -> None:
    kwargs.setdefault("endpoint", kube.host)
    kwargs.setdefault("dns_endpoint", DNS_ENDPOINT)
    container.add_cluster(PROJECT, REGION, CLUSTER, ca_pem=ca_pem, **kwargs)


def _reach(kube: KubeDouble) -> Callable[[str], str]:
    """Where the DNS endpoint answers: this machine's double (nothing else resolves here)."""
    return lambda name: kube.url if name == DNS_ENDPOINT else f"https://{name}"


def test_describe_cluster_reads_state_version_and_both_endpoints(
    gcp_access: GcpAccess, container_double: ContainerDouble, kube_double: KubeDouble, kube_ca_pem: str
) -> None:
    _cluster(
        container_double,
        kube_double,
        kube_ca_pem,
        version="1.33.2-gke.1111000",
        authorized_networks=[{"displayName": "office", "cidrBlock": "203.0.113.0/24"}],
    )
    info = describe_cluster(gcp_access, REGION, CLUSTER)
    assert (info.status, info.master_version, info.autopilot) == ("RUNNING", "1.33.2-gke.1111000", True)
    assert (info.endpoint, info.ca_pem) == (kube_double.host, kube_ca_pem)  # the IP endpoint
    assert (info.dns_endpoint, info.dns_external) == (DNS_ENDPOINT, True)
    assert info.authorized_networks == ("203.0.113.0/24",)
    assert info.usable


def test_connect_goes_through_the_dns_endpoint_with_the_public_trust_store(
    gcp_access: GcpAccess, container_double: ContainerDouble, control_plane: KubeDouble, kube_ca_pem: str
) -> None:
    """Issue 12 item 1: the IP endpoint is unreachable from here (no authorized network), the
    DNS endpoint is not; every request goes through it, verified against the public trust."""
    from kubernetes import client

    _cluster(container_double, control_plane, kube_ca_pem)
    control_plane.put(namespace())
    control_plane.put(deployment("api"))
    home_before = sorted(os.listdir(os.environ["HOME"]))
    access = connect(gcp_access, REGION, CLUSTER, control_plane=_reach(control_plane))
    assert (access.endpoint, access.server_name, access.ca_pem) == (control_plane.url, DNS_ENDPOINT, "")
    assert access.token == KUBE_TOKEN  # the Google access token, as GKE accepts it
    assert KUBE_TOKEN not in repr(access)
    with access.api_client() as api:
        dep = client.AppsV1Api(api).read_namespaced_deployment("api", "sreplat")
    assert dep.metadata.name == "api"
    call = control_plane.calls("GET", "/deployments/api")[0]
    assert (call.server_name, call.headers["authorization"]) == (DNS_ENDPOINT, f"Bearer {KUBE_TOKEN}")
    assert control_plane.refused == []
    assert sorted(os.listdir(os.environ["HOME"])) == home_before  # no ~/.kube written
    assert not Path(os.environ["HOME"], ".kube").exists()


def test_the_ip_endpoint_and_the_cluster_ca_do_not_reach_the_control_plane(
    control_plane: KubeDouble, kube_ca_pem: str
) -> None:
    """What the model refuses, as GKE would: the IP endpoint from outside the VPC (dropped), and
    the DNS endpoint verified against the cluster CA (it is not what signed its certificate)."""
    from sreplat.tools.api_calls import CallTimeout as Timeout
    from sreplat.tools.kube.workloads import workload_status

    control_plane.put(namespace())
    control_plane.put(deployment("api"))
    by_ip = ClusterAccess(endpoint=control_plane.url, ca_pem=kube_ca_pem, token=KUBE_TOKEN)
    unreachable = r"cannot reach|did not answer"
    with by_ip.api_client() as api, pytest.raises((OperationFailed, Timeout), match=unreachable):
        workload_status(api, "sreplat", "Deployment", "api", timeout=5)
    assert control_plane.refused
    pinned = ClusterAccess(
        endpoint=control_plane.url, ca_pem=kube_ca_pem, token=KUBE_TOKEN, server_name=DNS_ENDPOINT
    )
    with pinned.api_client() as api, pytest.raises(OperationFailed, match="TLS verification") as info:
        workload_status(api, "sreplat", "Deployment", "api", timeout=5)
    assert "trust store" in (info.value.hint or "")


def test_a_dns_endpoint_closed_to_user_traffic_is_named_with_the_fix(
    gcp_access: GcpAccess, container_double: ContainerDouble, control_plane: KubeDouble, kube_ca_pem: str
) -> None:
    _cluster(container_double, control_plane, kube_ca_pem, allow_external_traffic=False)
    with pytest.raises(ClusterNotReady, match="does not accept user traffic") as info:
        connect(gcp_access, REGION, CLUSTER, control_plane=_reach(control_plane))
    assert "--enable-dns-access" in (info.value.hint or "")
    assert control_plane.calls() == [] and control_plane.refused == []


@pytest.mark.helm
def test_cluster_access_feeds_the_helm_sdk(
    gcp_access: GcpAccess, container_double: ContainerDouble, control_plane: KubeDouble, kube_ca_pem: str
) -> None:
    """What the gcp target does: the DNS endpoint and a token, to the Helm SDK through an
    in-memory kubeconfig (no CA: Go's system roots; the endpoint's name as TLS server name); the
    SDK reads its release storage (Secrets) from the API."""
    from sreplat.tools.helm.access import KubeAccess, SdkConnection

    _cluster(container_double, control_plane, kube_ca_pem)
    control_plane.put(namespace())
    control_plane.put(helm_release_secret("api", 1, status="superseded"))
    control_plane.put(helm_release_secret("api", 2, chart_version="0.2.0"))
    cluster = connect(gcp_access, REGION, CLUSTER, control_plane=_reach(control_plane))
    access = KubeAccess.from_token(
        server=cluster.endpoint, token=cluster.token, ca_pem=None, server_name=cluster.server_name
    )
    connection = SdkConnection(access)
    helm = connection.config("sreplat")
    try:
        release = helm.status("api")
    finally:
        helm.close()
        connection.close()
    assert (release["revision"], release["status"], release["chart_version"]) == (2, "deployed", "0.2.0")
    secrets_calls = control_plane.calls("GET", "/namespaces/sreplat/secrets")
    assert secrets_calls and secrets_calls[0].headers["authorization"] == f"Bearer {KUBE_TOKEN}"
    assert {c.server_name for c in control_plane.calls()} == {DNS_ENDPOINT}
    assert control_plane.refused == []


def test_a_wrong_ca_is_a_readable_tls_error(kube_double: KubeDouble) -> None:
    import trustme

    from sreplat.tools.kube.workloads import workload_status

    other_ca = trustme.CA().cert_pem.bytes().decode()
    access = ClusterAccess(endpoint=kube_double.url, ca_pem=other_ca, token=KUBE_TOKEN)
    with access.api_client() as api, pytest.raises(Exception, match="TLS verification") as info:
        workload_status(api, "sreplat", "Deployment", "api", timeout=5)
    assert "trust store" in (getattr(info.value, "hint", "") or "")


def test_provisioning_cluster_is_not_ready(
    gcp_access: GcpAccess, container_double: ContainerDouble, kube_double: KubeDouble, kube_ca_pem: str
) -> None:
    _cluster(container_double, kube_double, kube_ca_pem, status="PROVISIONING", endpoint="")
    with pytest.raises(ClusterNotReady, match=f"GKE cluster {CLUSTER} is PROVISIONING") as info:
        connect(gcp_access, REGION, CLUSTER)
    assert "sreplat status" in (info.value.hint or "")


def test_cluster_in_error_says_why(
    gcp_access: GcpAccess, container_double: ContainerDouble, kube_double: KubeDouble, kube_ca_pem: str
) -> None:
    _cluster(
        container_double, kube_double, kube_ca_pem, status="ERROR", status_message="quota exceeded: CPUS"
    )
    with pytest.raises(ClusterNotReady, match="is ERROR: quota exceeded: CPUS"):
        connect(gcp_access, REGION, CLUSTER)


def test_missing_cluster(gcp_access: GcpAccess) -> None:
    with pytest.raises(
        ResourceMissing, match=f"GKE cluster {CLUSTER} not found in {PROJECT}/{REGION}"
    ) as info:
        describe_cluster(gcp_access, REGION, CLUSTER)
    assert "bootstrap" in (info.value.hint or "")


def test_hanging_container_api_times_out(gcp_access: GcpAccess, container_double: ContainerDouble) -> None:
    container_double.inject("/clusters/", hang=True)
    with pytest.raises(CallTimeout, match=f"reading GKE cluster {CLUSTER}: no answer within 0.4s"):
        describe_cluster(gcp_access, REGION, CLUSTER, timeout=0.4)


def test_anonymous_credentials_cannot_get_a_cluster_token(
    gcp_access: GcpAccess, container_double: ContainerDouble, kube_double: KubeDouble, kube_ca_pem: str
) -> None:
    from google.auth.credentials import AnonymousCredentials

    _cluster(container_double, kube_double, kube_ca_pem)
    container_double.require_token = None
    anonymous = dataclasses.replace(gcp_access, credentials=AnonymousCredentials())
    with pytest.raises(AccessDenied, match="no access token"):
        connect(anonymous, REGION, CLUSTER)


@pytest.mark.parametrize(("location", "name"), [("asia south1", CLUSTER), (REGION, "Bad_Name"), (REGION, "")])
def test_bad_cluster_reference_fails_before_any_call(
    gcp_access: GcpAccess, container_double: ContainerDouble, location: str, name: str
) -> None:
    with pytest.raises(UsageError) as info:
        describe_cluster(gcp_access, location, name)
    assert info.value.exit_code == ExitCode.USAGE
    assert container_double.calls() == []
