"""GKE access: Container API → endpoint + CA, google-auth → token, then the real `kubernetes`
client and the real Helm SDK reach the (HTTPS) Kubernetes double from memory only."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from sreplat.errors import ExitCode, UsageError
from sreplat.tools.api_calls import AccessDenied, CallTimeout, ResourceMissing
from sreplat.tools.gcp.access import GcpAccess
from sreplat.tools.gcp.gke import ClusterAccess, ClusterNotReady, connect, describe_cluster
from tests.doubles.container import ContainerDouble
from tests.doubles.fixtures import KUBE_TOKEN, PROJECT, REGION
from tests.doubles.kube import KubeDouble
from tests.doubles.kube_objects import deployment, helm_release_secret, namespace

CLUSTER = "sreplat-dev"


def _cluster(container: ContainerDouble, kube: KubeDouble, ca_pem: str, **kwargs: str) -> None:
    kwargs.setdefault("endpoint", kube.host)
    container.add_cluster(PROJECT, REGION, CLUSTER, ca_pem=ca_pem, **kwargs)


def test_describe_cluster_reads_state_version_and_ca(
    gcp_access: GcpAccess, container_double: ContainerDouble, kube_double: KubeDouble, kube_ca_pem: str
) -> None:
    _cluster(container_double, kube_double, kube_ca_pem, version="1.33.2-gke.1111000")
    info = describe_cluster(gcp_access, REGION, CLUSTER)
    assert (info.status, info.master_version, info.autopilot) == ("RUNNING", "1.33.2-gke.1111000", True)
    assert info.endpoint == kube_double.host
    assert info.ca_pem == kube_ca_pem
    assert info.usable


def test_connect_feeds_the_kubernetes_client_from_memory(
    gcp_access: GcpAccess, container_double: ContainerDouble, kube_double: KubeDouble, kube_ca_pem: str
) -> None:
    from kubernetes import client

    _cluster(container_double, kube_double, kube_ca_pem)
    kube_double.put(namespace())
    kube_double.put(deployment("api"))
    home_before = sorted(os.listdir(os.environ["HOME"]))
    access = connect(gcp_access, REGION, CLUSTER)
    assert access.endpoint == f"https://{kube_double.host}"
    assert access.token == KUBE_TOKEN  # the Google access token, as GKE accepts it
    assert KUBE_TOKEN not in repr(access)
    with access.api_client() as api:
        dep = client.AppsV1Api(api).read_namespaced_deployment("api", "sreplat")
    assert dep.metadata.name == "api"
    assert kube_double.calls("GET", "/deployments/api")[0].headers["authorization"] == f"Bearer {KUBE_TOKEN}"
    assert sorted(os.listdir(os.environ["HOME"])) == home_before  # no ~/.kube written
    assert not Path(os.environ["HOME"], ".kube").exists()


@pytest.mark.helm
def test_cluster_access_feeds_the_helm_sdk(kube_double: KubeDouble, kube_ca_pem: str) -> None:
    """What the gcp target does: the Container API's endpoint and CA plus a token, to the Helm SDK
    through an in-memory kubeconfig; the SDK reads its release storage (Secrets) from the API."""
    from sreplat.tools.helm.access import KubeAccess, SdkConnection

    kube_double.put(namespace())
    kube_double.put(helm_release_secret("api", 1, status="superseded"))
    kube_double.put(helm_release_secret("api", 2, chart_version="0.2.0"))
    cluster = ClusterAccess(endpoint=kube_double.url, ca_pem=kube_ca_pem, token=KUBE_TOKEN)
    access = KubeAccess.from_token(server=cluster.endpoint, token=cluster.token, ca_pem=cluster.ca_pem)
    connection = SdkConnection(access)
    helm = connection.config("sreplat")
    try:
        release = helm.status("api")
    finally:
        helm.close()
        connection.close()
    assert (release["revision"], release["status"], release["chart_version"]) == (2, "deployed", "0.2.0")
    secrets_calls = kube_double.calls("GET", "/namespaces/sreplat/secrets")
    assert secrets_calls and secrets_calls[0].headers["authorization"] == f"Bearer {KUBE_TOKEN}"


def test_a_wrong_ca_is_a_readable_tls_error(kube_double: KubeDouble) -> None:
    import trustme

    from sreplat.tools.kube.workloads import workload_status

    other_ca = trustme.CA().cert_pem.bytes().decode()
    access = ClusterAccess(endpoint=kube_double.url, ca_pem=other_ca, token=KUBE_TOKEN)
    with access.api_client() as api, pytest.raises(Exception, match="TLS verification") as info:
        workload_status(api, "sreplat", "Deployment", "api", timeout=5)
    assert "cluster CA" in (getattr(info.value, "hint", "") or "")


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
