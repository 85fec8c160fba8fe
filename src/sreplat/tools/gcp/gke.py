"""GKE access without gcloud: the Container API gives the cluster's control-plane endpoint,
google-auth gives a token, and both the `kubernetes` client and the Helm SDK are fed from memory.
No kubeconfig file is written or changed.

sreplat always connects through the control plane's DNS-based endpoint
(``controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint``, ``<uid>.<region>.gke.goog``): it is on
every cluster, reachable from anywhere Google APIs are, and gated by IAM
(``container.clusters.connect``) before Kubernetes RBAC, so a laptop or a CI runner needs no
authorized network. It presents a publicly trusted certificate, so the client verifies it with the
system's trust store and not with the cluster CA (as ``gcloud container clusters get-credentials
--dns-endpoint`` does: its kubeconfig carries no ``certificate-authority-data``). The IP-based
endpoint (cluster CA, authorized networks) is never used: it is closed to the outside unless
``master_authorized_networks`` opens it, and sreplat has no need for it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sreplat.errors import OperationFailed, UsageError
from sreplat.tools.api_calls import Deadline, ResourceMissing
from sreplat.tools.gcp.access import GcpAccess, access_token, gcp_call

# States in which the control plane answers (RECONCILING: an upgrade or repair in progress).
USABLE_STATES = ("RUNNING", "RECONCILING")
LOCATION = re.compile(r"[a-z]+-[a-z]+\d+(-[a-z])?")
CLUSTER_NAME = re.compile(r"[a-z]([a-z0-9-]{0,38}[a-z0-9])?")


DNS_ACCESS_HINT = (
    "apply the cluster stack again (it sets control_plane_endpoints_config.dns_endpoint_config."
    "allow_external_traffic = true), or run `gcloud container clusters update {name} --location "
    "{location} --enable-dns-access`"
)


class ClusterNotReady(OperationFailed):
    """The cluster exists but its control plane cannot be used yet (or any more)."""


def control_plane_url(dns_endpoint: str) -> str:
    """Where the DNS-based endpoint answers: HTTPS on the name itself."""
    return f"https://{dns_endpoint}"


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    location: str
    status: str  # PROVISIONING | RUNNING | RECONCILING | STOPPING | ERROR | DEGRADED
    status_message: str
    endpoint: str  # the control plane's IP (or host[:port]), no scheme; "" while provisioning
    ca_pem: str
    master_version: str
    autopilot: bool
    dns_endpoint: str = ""  # <uid>.<region>.gke.goog
    dns_external: bool = False  # allowExternalTraffic: whether user traffic may use it
    authorized_networks: tuple[str, ...] = ()  # CIDRs allowed to reach the IP endpoint

    @property
    def usable(self) -> bool:
        return self.status in USABLE_STATES and bool(self.dns_endpoint)


@dataclass(frozen=True)
class ClusterAccess:
    """What a Kubernetes client needs: the ``https://`` endpoint, a bearer token, and how to
    trust the server: ``ca_pem`` (a CA to trust alone), or "" for the system's trust store;
    ``server_name``, when set, is the TLS name asked for and verified (SNI) whatever host the
    endpoint URL names."""

    endpoint: str
    ca_pem: str
    token: str = field(repr=False)
    server_name: str | None = None

    def kube_configuration(self) -> Any:
        """An in-memory ``kubernetes.client.Configuration``.

        urllib3's own retries are off: callers bound every request with a timeout and retry
        on their own deadline.
        """
        from kubernetes import client

        config = client.Configuration(
            host=self.endpoint,
            api_key={"authorization": self.token},
            api_key_prefix={"authorization": "Bearer"},
            ca_cert_data=self.ca_pem or None,  # None: urllib3 loads the system's trust store
            tls_server_name=self.server_name,
        )
        config.retries = False
        return config

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` on ``kube_configuration()`` (close it when done)."""
        from kubernetes import client

        return client.ApiClient(self.kube_configuration())


def validate_cluster_ref(location: str, name: str) -> None:
    if not LOCATION.fullmatch(location):
        raise UsageError(f"invalid GKE location {location!r}", hint="a region such as asia-south1")
    if not CLUSTER_NAME.fullmatch(name):
        raise UsageError(
            f"invalid GKE cluster name {name!r}",
            hint="1-40 characters: lowercase letters, digits and hyphens, starting with a letter",
        )


def describe_cluster(access: GcpAccess, location: str, name: str, *, timeout: float = 30.0) -> ClusterInfo:
    """The cluster as the Container API reports it; ResourceMissing if there is none."""
    validate_cluster_ref(location, name)
    deadline = Deadline(timeout)
    from google.cloud import container_v1

    client = container_v1.ClusterManagerClient(
        credentials=access.resolved_credentials(),
        transport="rest",
        client_options=access.endpoints.options("container"),
    )
    path = f"projects/{access.project}/locations/{location}/clusters/{name}"
    try:
        cluster = gcp_call(
            f"reading GKE cluster {name}",
            deadline,
            lambda t: client.get_cluster(name=path, timeout=t, retry=None),
        )
    except ResourceMissing as exc:
        raise ResourceMissing(
            f"GKE cluster {name} not found in {access.project}/{location}",
            hint="run `sreplat bootstrap` to create it",
            detail=exc.message,
        ) from exc
    ca = cluster.master_auth.cluster_ca_certificate
    endpoints = cluster.control_plane_endpoints_config
    networks = endpoints.ip_endpoints_config.authorized_networks_config
    return ClusterInfo(
        name=cluster.name,
        location=cluster.location,
        status=container_v1.Cluster.Status(cluster.status).name,
        status_message=cluster.status_message,
        endpoint=cluster.endpoint,
        ca_pem=base64.b64decode(ca).decode() if ca else "",
        master_version=cluster.current_master_version,
        autopilot=bool(cluster.autopilot.enabled),
        dns_endpoint=endpoints.dns_endpoint_config.endpoint,
        dns_external=bool(endpoints.dns_endpoint_config.allow_external_traffic),
        authorized_networks=tuple(block.cidr_block for block in networks.cidr_blocks),
    )


def connect(
    access: GcpAccess,
    location: str,
    name: str,
    *,
    timeout: float = 30.0,
    control_plane: Callable[[str], str] = control_plane_url,
) -> ClusterAccess:
    """The DNS-based endpoint and a fresh token for cluster ``name``; ClusterNotReady if it cannot
    serve. ``control_plane`` maps the endpoint's name to the URL that reaches it (tests: a local
    double; the name stays the TLS server name)."""
    deadline = Deadline(timeout)
    info = describe_cluster(access, location, name, timeout=max(deadline.remaining(), 0.01))
    if not info.usable:
        why = f": {info.status_message}" if info.status_message else ""
        raise ClusterNotReady(
            f"GKE cluster {name} is {info.status}{why}",
            hint="wait for it to be RUNNING (`sreplat status` shows progress)"
            if info.status == "PROVISIONING"
            else None,
        )
    if not info.dns_external:
        raise ClusterNotReady(
            f"GKE cluster {name}'s DNS-based control-plane endpoint ({info.dns_endpoint}) does not "
            "accept user traffic (allowExternalTraffic is off), and sreplat connects only through it",
            hint=DNS_ACCESS_HINT.format(name=name, location=location),
        )
    token = access_token(access.resolved_credentials(), deadline)
    return ClusterAccess(
        endpoint=control_plane(info.dns_endpoint), ca_pem="", token=token, server_name=info.dns_endpoint
    )
