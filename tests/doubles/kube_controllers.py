"""Controllers for the Kubernetes double: what a cluster does after an object is written.

Install one with ``kube_double.reactors.append(...)``. They run after every write through the
API (not after ``KubeDouble.put``, which stores exactly what a test gives it) and change the
stored object in place, before the write's watch event goes out.

- ``WorkloadController``: Deployments, StatefulSets, PVCs, PDBs and HPAs get the status a finished
  rollout has (every replica updated and ready), unless ``never_ready`` says a workload's pods
  never become ready (a bad image): its status then shows no ready replica, so a rollout that
  waits for it times out.
- ``GkeControllers``: GKE's Ingress controller (a load balancer on the Ingress's static IP: the
  forwarding rule and NEG appear in the Compute double, and disappear a few polls after the
  Ingress is deleted, as GKE tears them down in the background) and the ManagedCertificate
  controller (``certificate_state``: ``Active`` or ``Provisioning``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.doubles.compute import ComputeDouble
    from tests.doubles.kube import KubeDouble

Predicate = Callable[[dict[str, Any]], bool]


def container_images(obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [c.get("image", "") for c in spec.get("containers", [])]


@dataclass
class WorkloadController:
    never_ready: Predicate | None = None

    def __call__(self, double: KubeDouble, verb: str, obj: dict[str, Any]) -> None:
        if verb == "delete":
            return
        gen = obj["metadata"].get("generation", 1)
        kind = obj["kind"]
        ready = not (self.never_ready is not None and self.never_ready(obj))
        replicas = int(obj.get("spec", {}).get("replicas", 1))
        if kind == "Deployment":
            n = replicas if ready else 0
            status: dict[str, Any] = {
                "observedGeneration": gen,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": n,
                "availableReplicas": n,
                "conditions": [
                    {
                        "type": "Available",
                        "status": "True" if ready else "False",
                        "reason": "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable",
                    },
                    {
                        "type": "Progressing",
                        "status": "True",
                        "reason": "NewReplicaSetAvailable" if ready else "ReplicaSetUpdated",
                    },
                ],
            }
            if not ready:
                status["unavailableReplicas"] = replicas
            obj["status"] = status
        elif kind == "StatefulSet":
            n = replicas if ready else 0
            obj["status"] = {
                "observedGeneration": gen,
                "replicas": replicas,
                "readyReplicas": n,
                "availableReplicas": n,
                "currentReplicas": replicas,
                "updatedReplicas": replicas,
                "currentRevision": f"{obj['metadata']['name']}-r{gen}",
                "updateRevision": f"{obj['metadata']['name']}-r{gen}",
            }
        elif kind == "PersistentVolumeClaim":
            obj["status"] = {"phase": "Bound"}
        elif kind in ("PodDisruptionBudget", "HorizontalPodAutoscaler"):
            obj["status"] = {"observedGeneration": gen}


@dataclass
class GkeControllers:
    """Ingress → load balancer in ``compute`` (on ``addresses[static IP name]``), ManagedCertificate
    → ``certificate_state``. ``teardown_polls``: how many listings the load balancer resources
    survive after their Ingress is deleted."""

    compute: ComputeDouble
    project: str
    zone: str
    network: str
    addresses: dict[str, str] = field(default_factory=dict)  # static IP name → address
    certificate_state: str = "Active"
    teardown_polls: int = 2
    ingresses_seen: list[str] = field(default_factory=list)

    def __call__(self, double: KubeDouble, verb: str, obj: dict[str, Any]) -> None:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Ingress":
            self._ingress(verb, name, obj)
        elif kind == "ManagedCertificate" and verb != "delete":
            domains = obj.get("spec", {}).get("domains", [])
            obj["status"] = {
                "certificateName": f"mcrt-{obj['metadata'].get('uid', '')[:8]}",
                "certificateStatus": self.certificate_state,
                "domainStatus": [{"domain": d, "status": self.certificate_state} for d in domains],
            }

    def _rule_names(self, ingress: str) -> tuple[str, str]:
        return f"k8s2-fr-sreplat-{ingress}", f"k8s1-neg-sreplat-{ingress}"

    def _ingress(self, verb: str, name: str, obj: dict[str, Any]) -> None:
        rule, neg = self._rule_names(name)
        if verb == "delete":
            with self.compute.lock:
                for key in ((self.project, rule), (self.project, neg)):
                    tracked = self.compute.resources.get(key)
                    if tracked is not None:
                        tracked.lists_left = self.teardown_polls
            return
        ip_name = (
            obj["metadata"].get("annotations", {}).get("kubernetes.io/ingress.global-static-ip-name", "")
        )
        address = self.addresses.get(ip_name)
        if address is None:
            obj["status"] = {"loadBalancer": {}}
            return
        self.ingresses_seen.append(name)
        if (self.project, rule) not in self.compute.resources:
            self.compute.add_forwarding_rule(self.project, rule, ip=address, ingress=f"sreplat/{name}")
            self.compute.add_neg(self.project, neg, zone=self.zone, network=self.network)
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": address}]}}
