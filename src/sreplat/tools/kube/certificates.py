"""GKE ManagedCertificates (``networking.gke.io/v1``): whether Google has issued the API's
certificate yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sreplat.tools.api_calls import Deadline, ResourceMissing
from sreplat.tools.kube.api import kube_call, request_timeout


@dataclass(frozen=True)
class CertificateStatus:
    """A GKE ManagedCertificate: ``Provisioning`` until DNS points at the load balancer and
    Google has issued it (often 15-60 minutes), then ``Active``."""

    name: str
    state: str  # Provisioning | Active | ProvisioningFailed... ; "missing" when there is none
    domains: tuple[tuple[str, str], ...]  # (domain, its status: Provisioning, Active, FailedNotVisible...)

    @property
    def active(self) -> bool:
        return self.state == "Active"

    def describe(self) -> str:
        detail = ", ".join(f"{d}: {s}" for d, s in self.domains)
        return f"certificate {self.name}: {self.state}" + (f" ({detail})" if detail else "")


def managed_certificate(api: Any, namespace: str, name: str, *, timeout: float = 10.0) -> CertificateStatus:
    """The state of the GKE ManagedCertificate ``name`` (networking.gke.io/v1)."""
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    try:
        obj: Any = kube_call(
            f"reading managedcertificate/{name}",
            Deadline(timeout),
            lambda t: custom.get_namespaced_custom_object(
                "networking.gke.io",
                "v1",
                namespace,
                "managedcertificates",
                name,
                _request_timeout=request_timeout(t),
            ),
        )
    except ResourceMissing:
        return CertificateStatus(name, "missing", ())
    status = obj.get("status") or {}
    domains = tuple((d.get("domain", ""), d.get("status", "")) for d in status.get("domainStatus") or ())
    # The controller has not written a status yet right after creation: that is provisioning too.
    return CertificateStatus(name, status.get("certificateStatus") or "Provisioning", domains)
