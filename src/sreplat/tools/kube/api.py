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
            hint="the cluster CA from the Container API does not match the server's certificate",
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
                hint="the Google account needs Kubernetes Engine Developer (roles/container.developer)",
            )
        if exc.status == 409:
            return AlreadyExists(f"{what}: {message}")
        return OperationFailed(f"{what}: HTTP {exc.status}: {message}")
    if isinstance(exc, u3.HTTPError | ConnectionError):
        return OperationFailed(f"{what}: cannot reach the Kubernetes API", detail=str(exc))
    return OperationFailed(f"{what}: {type(exc).__name__}: {exc}", detail=repr(exc))
