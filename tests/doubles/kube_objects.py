"""Builders of realistic Kubernetes objects (with the status a controller would write) for the
Kubernetes double. Complete enough that the real `kubernetes` client deserialises them.
"""

from __future__ import annotations

from typing import Any

from tests.doubles.base import rfc3339

NAMESPACE = "sreplat"


def namespace(name: str = NAMESPACE) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "sreplat"}


def _template(app: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": _labels(app)},
        "spec": {"containers": [{"name": app, "image": image, "ports": [{"containerPort": 8080}]}]},
    }


def deployment(
    name: str,
    *,
    namespace: str = NAMESPACE,
    replicas: int = 2,
    image: str = "example/api:1",
    ready: int | None = None,
    updated: int | None = None,
    available: int | None = None,
    total: int | None = None,
    observed_generation: int | None = 1,
    progress_deadline_exceeded: bool = False,
) -> dict[str, Any]:
    """A Deployment; by default fully rolled out (every count equal to ``replicas``)."""
    ready = replicas if ready is None else ready
    updated = replicas if updated is None else updated
    available = ready if available is None else available
    total = max(replicas, updated) if total is None else total
    progressing = (
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": f'ReplicaSet "{name}-7d9f8b6c5d" has timed out progressing.',
        }
        if progress_deadline_exceeded
        else {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable" if updated == replicas else "ReplicaSetUpdated",
            "message": f'ReplicaSet "{name}-7d9f8b6c5d" is progressing.',
        }
    )
    status: dict[str, Any] = {
        "replicas": total,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
        "conditions": [
            {
                "type": "Available",
                "status": "True" if available >= replicas else "False",
                "reason": "MinimumReplicasAvailable"
                if available >= replicas
                else "MinimumReplicasUnavailable",
                "lastUpdateTime": rfc3339(),
                "lastTransitionTime": rfc3339(),
            },
            {**progressing, "lastUpdateTime": rfc3339(), "lastTransitionTime": rfc3339()},
        ],
    }
    if observed_generation is not None:
        status["observedGeneration"] = observed_generation
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(name), "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": _labels(name)},
            "template": _template(name, image),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "progressDeadlineSeconds": 600,
        },
        "status": status,
    }


def statefulset(
    name: str,
    *,
    namespace: str = NAMESPACE,
    replicas: int = 1,
    image: str = "example/redis:7",
    ready: int | None = None,
    updated: int | None = None,
    current_revision: str | None = None,
    update_revision: str | None = None,
    observed_generation: int | None = 1,
) -> dict[str, Any]:
    ready = replicas if ready is None else ready
    updated = replicas if updated is None else updated
    update_revision = update_revision or f"{name}-5d8c7b9f4"
    status: dict[str, Any] = {
        "replicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": replicas,
        "updatedReplicas": updated,
        "currentRevision": current_revision or update_revision,
        "updateRevision": update_revision,
        "collisionCount": 0,
    }
    if observed_generation is not None:
        status["observedGeneration"] = observed_generation
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(name), "generation": 1},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": _labels(name)},
            "template": _template(name, image),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        },
        "status": status,
    }


def pod(
    name: str,
    app: str,
    *,
    namespace: str = NAMESPACE,
    image: str = "example/api:1",
    ready: bool = True,
    restarts: int = 0,
    waiting_reason: str | None = None,
    waiting_message: str | None = None,
    terminated_reason: str | None = None,
    unschedulable: str | None = None,
    phase: str | None = None,
) -> dict[str, Any]:
    """A Pod of ``app``. Ready by default; or waiting (CrashLoopBackOff, ImagePullBackOff...),
    terminated, or unschedulable (Pending with the scheduler's message)."""
    container_name = app
    conditions: list[dict[str, Any]] = [
        {
            "type": "PodScheduled",
            "status": "False" if unschedulable else "True",
            "lastTransitionTime": rfc3339(),
        }
    ]
    status: dict[str, Any] = {"conditions": conditions, "qosClass": "Guaranteed"}
    if unschedulable:
        conditions[0].update(reason="Unschedulable", message=unschedulable)
        status["phase"] = phase or "Pending"
    else:
        state: dict[str, Any]
        if waiting_reason:
            state = {"waiting": {"reason": waiting_reason, "message": waiting_message or ""}}
        elif terminated_reason:
            state = {
                "terminated": {"reason": terminated_reason, "exitCode": 1, "message": waiting_message or ""}
            }
        else:
            state = {"running": {"startedAt": rfc3339()}}
        container_ready = ready and not waiting_reason and not terminated_reason
        status.update(
            phase=phase or "Running",
            podIP="10.1.0.7",
            hostIP="10.0.0.3",
            startTime=rfc3339(),
            containerStatuses=[
                {
                    "name": container_name,
                    "image": image,
                    "imageID": "",
                    "ready": container_ready,
                    "started": container_ready,
                    "restartCount": restarts,
                    "state": state,
                }
            ],
        )
        for ctype in ("Initialized", "ContainersReady", "Ready"):
            ok = ctype == "Initialized" or container_ready
            cond: dict[str, Any] = {
                "type": ctype,
                "status": "True" if ok else "False",
                "lastTransitionTime": rfc3339(),
            }
            if not ok:
                cond["reason"] = "ContainersNotReady"
                cond["message"] = f"containers with unready status: [{container_name}]"
            conditions.append(cond)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(app)},
        "spec": {"containers": [{"name": container_name, "image": image}], "nodeName": "gk3-node-1"},
        "status": status,
    }


def helm_release_secret(
    release: str,
    revision: int,
    *,
    namespace: str = NAMESPACE,
    status: str = "deployed",
    chart_version: str = "0.1.0",
    app_version: str = "",
) -> dict[str, Any]:
    """A Helm release as Helm's secret storage driver writes it: the release JSON, gzipped and
    base64-encoded by Helm, then base64-encoded again as Secret data."""
    import base64
    import gzip
    import json

    now = rfc3339()
    body = {
        "name": release,
        "namespace": namespace,
        "version": revision,
        "info": {
            "first_deployed": now,
            "last_deployed": now,
            "deleted": "",
            "description": "Upgrade complete" if revision > 1 else "Install complete",
            "status": status,
        },
        "chart": {
            "metadata": {
                "name": release,
                "version": chart_version,
                "appVersion": app_version,
                "apiVersion": "v2",
                "type": "application",
            },
            "templates": [],
            "values": {},
        },
        "config": {},
        "manifest": "",
    }
    helm_encoded = base64.b64encode(gzip.compress(json.dumps(body).encode())).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": f"sh.helm.release.v1.{release}.v{revision}",
            "namespace": namespace,
            "labels": {"owner": "helm", "name": release, "status": status, "version": str(revision)},
        },
        "data": {"release": base64.b64encode(helm_encoded.encode()).decode()},
    }


def managed_certificate(
    name: str, domains: list[str], *, namespace: str = NAMESPACE, status: str | None = "Provisioning"
) -> dict[str, Any]:
    """A GKE ManagedCertificate; ``status=None`` is one the controller has not looked at yet."""
    obj: dict[str, Any] = {
        "apiVersion": "networking.gke.io/v1",
        "kind": "ManagedCertificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"domains": domains},
    }
    if status is not None:
        obj["status"] = {
            "certificateName": f"mcrt-{name}",
            "certificateStatus": status,
            "domainStatus": [{"domain": d, "status": status} for d in domains],
        }
    return obj
