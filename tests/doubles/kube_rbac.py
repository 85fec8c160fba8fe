"""Kubernetes RBAC in front of the API double: which request attributes a request has, and whether
a namespaced Role allows them — the rules of kubernetes.io/docs/reference/access-authn-authz/
(authorization: "Determine the request verb"; rbac: Role, rules, resourceNames).

``RbacKubeDouble`` serves like ``KubeDouble``; while ``role`` is None every request passes (a
cluster admin sets things up), and once a Role is set every request must be allowed by it
(or be a discovery request, which the default ClusterRole ``system:discovery`` grants every
authenticated user): anything else is answered 403 Forbidden, as the API server would, and
recorded. Every request's attributes are recorded in ``seen``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.doubles.base import Request, Response
from tests.doubles.kube import KubeDouble

# Non-resource URLs system:discovery / system:public-info-viewer grant to everyone authenticated.
DISCOVERY = re.compile(r"^/(api|apis|openapi|version|healthz|livez|readyz)(/.*)?$")
_RESOURCE = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?(?:/(?P<res>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?)?$"
)


@dataclass(frozen=True)
class Attributes:
    verb: str
    api_group: str
    resource: str  # "deployments", or "deployments/status" for a subresource
    namespace: str  # "" for cluster-scoped requests
    name: str

    def describe(self) -> str:
        where = f' in the namespace "{self.namespace}"' if self.namespace else " at the cluster scope"
        return f'cannot {self.verb} resource "{self.resource}" in API group "{self.api_group}"{where}'


def attributes_of(request: Request) -> Attributes | None:
    """The RBAC attributes of a resource request; None for a non-resource URL."""
    m = _RESOURCE.match(request.path)
    if m is None or (m.group("res") is None and m.group("ns") is None):
        return None  # /api/v1, /apis/<g>/<v>: discovery
    group = m.group("group") or ""
    namespace, resource, name, sub = (
        m.group("ns") or "",
        m.group("res"),
        m.group("name") or "",
        m.group("sub"),
    )
    if resource is None:  # /api/v1/namespaces/<ns>: the Namespace object itself
        namespace, resource, name = "", "namespaces", m.group("ns")
    if resource == "namespaces" and name == "" and namespace:
        raise AssertionError(request.path)
    collection = name == ""
    method = request.method
    if method in ("GET", "HEAD"):
        watch = request.param("watch") in ("true", "1")
        verb = "get" if not collection else ("watch" if watch else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method) or (
            "deletecollection" if collection else "delete"
        )
    return Attributes(verb, group, f"{resource}/{sub}" if sub else resource, namespace, name)


def role_allows(role: dict[str, Any], attrs: Attributes) -> bool:
    """Whether a namespaced Role grants ``attrs`` (a Role never grants cluster-scoped requests)."""
    if attrs.namespace != role["metadata"]["namespace"]:
        return False
    for rule in role.get("rules", []):
        if not _in(attrs.verb, rule.get("verbs", [])):
            continue
        if not _in(attrs.api_group, rule.get("apiGroups", [])):
            continue
        if not _in(attrs.resource, rule.get("resources", [])):
            continue
        names = rule.get("resourceNames") or []
        if names and attrs.name not in names:
            continue
        return True
    return False


def _in(value: str, allowed: list[str]) -> bool:
    return "*" in allowed or value in allowed


class RbacKubeDouble(KubeDouble):
    name = "kube-rbac-double"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.role: dict[str, Any] | None = None
        self.user = ""
        self.seen: list[Attributes] = []
        self.denied: list[Attributes] = []

    def check_auth(self, request: Request) -> Response | None:
        refusal = super().check_auth(request)
        if refusal is not None or self.role is None:
            return refusal
        attrs = attributes_of(request)
        if attrs is None:
            if request.method == "GET" and DISCOVERY.match(request.path):
                return None
            self.denied.append(Attributes("get", "", request.path, "", ""))
            return self.error(403, f'User "{self.user}" cannot get path "{request.path}"')
        self.seen.append(attrs)
        if role_allows(self.role, attrs):
            return None
        self.denied.append(attrs)
        return self.error(
            403, f'{attrs.resource} "{attrs.name}" is forbidden: User "{self.user}" {attrs.describe()}'
        )
