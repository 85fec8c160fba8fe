"""pytest fixtures that start the API doubles on free loopback ports (one set per test).

Use them from a conftest with ``from tests.doubles.fixtures import *``. Every double is stopped at
teardown, and the test fails if a double saw a request it has no route for or raised: a gap in
a double must not pass for a behaviour of sreplat.

``gcp_access`` is a ``GcpAccess`` whose endpoints point at the GCP doubles and whose credentials
are a fixed bearer token (``GCP_TOKEN``) that the doubles require (the CLI gets endpoints through
the seams of tests/unit/targets/gcp/world.py instead). ``kube_double`` serves HTTPS
with a throwaway CA (``kube_ca_pem``) and requires ``KUBE_TOKEN``, as a GKE control plane does.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from tests.doubles.artifact_registry import ArtifactRegistryDouble
from tests.doubles.base import DoubleServer
from tests.doubles.clouddns import CloudDnsDouble
from tests.doubles.compute import ComputeDouble
from tests.doubles.container import ContainerDouble
from tests.doubles.dns_server import DnsServer
from tests.doubles.gcs import StorageDouble
from tests.doubles.kube import KubeDouble

if TYPE_CHECKING:
    from sreplat.tools.gcp.access import GcpAccess

PROJECT = "acme-sre-dev"
REGION = "asia-south1"
GCP_TOKEN = "ya29.test-access-token"
KUBE_TOKEN = "ya29.test-access-token"  # GKE accepts the same Google access token

__all__ = [
    "GCP_TOKEN",
    "KUBE_TOKEN",
    "PROJECT",
    "REGION",
    "artifact_registry_double",
    "clouddns_double",
    "compute_double",
    "container_double",
    "dns_server",
    "gcp_access",
    "gcs_double",
    "kube_ca_pem",
    "kube_double",
    "kube_tls",
    "serve",
]

D = TypeVar("D", bound=DoubleServer)


def serve(double: D) -> Iterator[D]:
    """Run ``double`` for one fixture: started, stopped at teardown, the test failed if it saw a
    request it has no route for (``yield from serve(MyDouble(...))``)."""
    double.start()
    try:
        yield double
    finally:
        double.stop()
    assert not double.problems, f"{double.name} problems:\n" + "\n".join(double.problems)


@pytest.fixture(scope="session")
def kube_tls() -> tuple[ssl.SSLContext, str]:
    """A server SSL context for 127.0.0.1 signed by a throwaway CA, and that CA's PEM."""
    import trustme

    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context, ca.cert_pem.bytes().decode()


@pytest.fixture
def kube_ca_pem(kube_tls: tuple[ssl.SSLContext, str]) -> str:
    return kube_tls[1]


@pytest.fixture
def gcs_double() -> Iterator[StorageDouble]:
    yield from serve(StorageDouble(project=PROJECT, require_token=GCP_TOKEN))


@pytest.fixture
def container_double() -> Iterator[ContainerDouble]:
    yield from serve(ContainerDouble(require_token=GCP_TOKEN))


@pytest.fixture
def clouddns_double() -> Iterator[CloudDnsDouble]:
    yield from serve(CloudDnsDouble(require_token=GCP_TOKEN))


@pytest.fixture
def compute_double() -> Iterator[ComputeDouble]:
    yield from serve(ComputeDouble(require_token=GCP_TOKEN))


@pytest.fixture
def artifact_registry_double() -> Iterator[ArtifactRegistryDouble]:
    yield from serve(ArtifactRegistryDouble(require_token=GCP_TOKEN))


@pytest.fixture
def kube_double(kube_tls: tuple[ssl.SSLContext, str]) -> Iterator[KubeDouble]:
    yield from serve(KubeDouble(tls=kube_tls[0], require_token=KUBE_TOKEN))


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gcp_access(
    gcs_double: StorageDouble,
    container_double: ContainerDouble,
    clouddns_double: CloudDnsDouble,
    compute_double: ComputeDouble,
    artifact_registry_double: ArtifactRegistryDouble,
) -> GcpAccess:
    from google.oauth2.credentials import Credentials

    from sreplat.tools.gcp.access import GcpAccess, GcpEndpoints

    credentials: Any = Credentials(token=GCP_TOKEN)
    return GcpAccess(
        project=PROJECT,
        credentials=credentials,
        endpoints=GcpEndpoints(
            storage=gcs_double.url,
            container=container_double.url,
            dns=clouddns_double.url,
            compute=compute_double.url,
            artifact_registry=artifact_registry_double.url,
        ),
    )
