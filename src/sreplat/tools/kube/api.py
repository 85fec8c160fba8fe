"""Calls to the Kubernetes API under a deadline, and its errors as sreplat errors.

``kube_call(what, deadline, attempt)`` runs one request of the ``kubernetes`` client: transient
failures (429, 5xx, a dropped connection) are retried while the deadline allows, each attempt
gets what is left of it as its ``_request_timeout``, and what fails is translated (404 →
``ResourceMissing``, 401/403 → ``AccessDenied``/``PermissionDenied``, TLS trouble → a readable
``OperationFailed``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sreplat.errors import OperationFailed
from sreplat.tools.api_calls import (
    AccessDenied,
    AlreadyExists,
    CallTimeout,
    Deadline,
    PermissionDenied,
    ResourceMissing,
    call_with_deadline,
)

T = TypeVar("T")


def kube_call(what: str, deadline: Deadline, attempt: Callable[[float], T]) -> T:
    """Run one Kubernetes API request under ``deadline``; ``attempt`` gets the seconds left."""
    return call_with_deadline(
        what, deadline, attempt, is_transient=_is_transient, translate=translate_kube_error
    )


def request_timeout(seconds_left: float) -> float:
    return max(seconds_left, 0.01)


def _is_transient(exc: BaseException) -> bool:
    import urllib3.exceptions as u3
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        return exc.status in (429, 500, 502, 503, 504)
    if isinstance(exc, u3.TimeoutError | u3.SSLError):
        return False
    return isinstance(exc, u3.NewConnectionError | u3.ProtocolError | ConnectionError)


# Who may do what (README, "Bootstrapping a real GCP project from zero"): IAM lets an account
# through the DNS endpoint (container.clusters.connect, in Kubernetes Engine Cluster Viewer),
# Kubernetes RBAC then decides: the CI deployer has the platform chart's Role in namespace
# sreplat; bootstrap needs Kubernetes Engine Admin (it creates the namespace and that Role).
KUBE_ACCESS_HINT = (
    "deploys need roles/container.clusterViewer on the project and the platform chart's Role "
    "`sreplat-deployer` in namespace sreplat (deployer.user); bootstrap and destroy need "
    "roles/container.admin"
)


def translate_kube_error(exc: BaseException, what: str, deadline: Deadline) -> Exception:  # noqa: PLR0911
    import json

    import urllib3.exceptions as u3
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, OperationFailed):
        return exc
    if isinstance(exc, u3.TimeoutError | TimeoutError):
        return CallTimeout(f"{what}: the Kubernetes API did not answer within {deadline.timeout:g}s")
    if isinstance(exc, u3.SSLError) or (
        isinstance(exc, ApiException) and exc.status == 0 and str(exc.reason).startswith("SSLError")
    ):
        return OperationFailed(
            f"{what}: TLS verification of the Kubernetes API failed",
            hint="the control plane's DNS endpoint presents a publicly trusted certificate: check the "
            "system's trust store (SSL_CERT_FILE/SSL_CERT_DIR) and any proxy that intercepts TLS",
            detail=str(exc),
        )
    if isinstance(exc, ApiException):
        try:
            message = json.loads(exc.body or "{}").get("message") or exc.reason
        except ValueError:
            message = exc.reason
        if exc.status == 404:
            return ResourceMissing(f"{what}: not found: {message}")
        if exc.status in (401, 403):
            return (PermissionDenied if exc.status == 403 else AccessDenied)(
                f"{what}: {exc.status} {message}",
                hint=KUBE_ACCESS_HINT if exc.status == 403 else "check the Google credentials sreplat uses",
            )
        if exc.status == 409:
            return AlreadyExists(f"{what}: {message}")
        return OperationFailed(f"{what}: HTTP {exc.status}: {message}")
    if isinstance(exc, u3.HTTPError | ConnectionError):
        return OperationFailed(f"{what}: cannot reach the Kubernetes API", detail=str(exc))
    return OperationFailed(f"{what}: {type(exc).__name__}: {exc}", detail=repr(exc))
