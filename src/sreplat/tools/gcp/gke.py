"""GKE access without gcloud: the Container API gives the cluster's endpoint and CA,
google-auth gives a token, and both the `kubernetes` client and the Helm SDK are fed from memory.
No kubeconfig file is written or changed.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from sreplat.errors import OperationFailed, UsageError
from sreplat.tools.api_calls import Deadline, ResourceMissing
from sreplat.tools.gcp.access import GcpAccess, access_token, gcp_call

# States in which the control plane answers (RECONCILING: an upgrade or repair in progress).
USABLE_STATES = ("RUNNING", "RECONCILING")
LOCATION = re.compile(r"[a-z]+-[a-z]+\d+(-[a-z])?")
CLUSTER_NAME = re.compile(r"[a-z]([a-z0-9-]{0,38}[a-z0-9])?")


class ClusterNotReady(OperationFailed):
    """The cluster exists but its control plane cannot be used yet (or any more)."""


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

    @property
    def usable(self) -> bool:
        return self.status in USABLE_STATES and bool(self.endpoint) and bool(self.ca_pem)


@dataclass(frozen=True)
class ClusterAccess:
    """What a Kubernetes client needs: ``https://`` endpoint, CA (PEM) and a bearer token."""

    endpoint: str
    ca_pem: str
    token: str = field(repr=False)

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
            ca_cert_data=self.ca_pem,
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
    return ClusterInfo(
        name=cluster.name,
        location=cluster.location,
        status=container_v1.Cluster.Status(cluster.status).name,
        status_message=cluster.status_message,
        endpoint=cluster.endpoint,
        ca_pem=base64.b64decode(ca).decode() if ca else "",
        master_version=cluster.current_master_version,
        autopilot=bool(cluster.autopilot.enabled),
    )


def connect(access: GcpAccess, location: str, name: str, *, timeout: float = 30.0) -> ClusterAccess:
    """Endpoint, CA and a fresh token for cluster ``name``; ClusterNotReady if it cannot serve."""
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
    token = access_token(access.resolved_credentials(), deadline)
    return ClusterAccess(endpoint=f"https://{info.endpoint}", ca_pem=info.ca_pem, token=token)
