"""What the CLI session injects into the gcp target: where Google's APIs, public DNS, the cluster's
Helm storage and the load balancer are reached. Production runs use the defaults (the real
world); tests pass doubles through ``sreplat.cli.main.main(argv, seams=Seams(gcp=GcpSeams(...)))``.

Nothing below the target reads these from the environment: tools take what they are given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sreplat.tools.gcp.access import GcpEndpoints
from sreplat.tools.gcp.cloud_dns import Resolver
from sreplat.tools.gcp.gke import control_plane_url
from sreplat.tools.helm.access import HelmConnection, KubeAccess, SdkConnection
from sreplat.tools.images.pipeline import Builder


def load_balancer_url(address: str) -> str:
    """The global load balancer answers HTTPS on its reserved address."""
    return f"https://{address}"


@dataclass(frozen=True)
class GcpSeams:
    """``endpoints``: Google API base URLs (None each: the public one). ``resolver``: how public
    DNS is asked (None: the ``dns_resolvers`` setting's servers). ``helm_connection``: how the
    Helm SDK reaches the cluster. ``load_balancer``: ingress address → the base URL that reaches
    the load balancer on it (requests keep the API host as TLS SNI and Host header).
    ``docker_builder``: makes the Docker engine builder when ``image_builder`` picks Docker (None:
    the local engine as is; benchmarks give one on a host network with locally made bases).
    ``control_plane``: the cluster's DNS-based endpoint name → the base URL that reaches it
    (clients keep the name as TLS SNI and verify the certificate for it). ``lock_renew_every_s``:
    how often the environment lock is renewed (None: every minute; tests that take it over
    mid-run shorten it)."""

    endpoints: GcpEndpoints = field(default_factory=GcpEndpoints)
    resolver: Resolver | None = None
    helm_connection: Callable[[KubeAccess], HelmConnection] = SdkConnection
    load_balancer: Callable[[str], str] = load_balancer_url
    docker_builder: Callable[[], Builder] | None = None
    control_plane: Callable[[str], str] = control_plane_url
    lock_renew_every_s: float | None = None
