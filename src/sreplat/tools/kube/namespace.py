"""The releases' namespace, from its manifest (``helm/namespace.yaml``).

A Helm chart cannot create the namespace it is installed into, and the namespace carries what
the charts do not: the Pod Security Admission labels that enforce the ``restricted`` profile
(kubernetes.io/docs/concepts/security/pod-security-admission). Bootstrap applies it before the
first release, with server-side apply (``PATCH`` as ``application/apply-patch+yaml``, field
manager ``sreplat``): it creates the namespace, or brings the labels of an existing one (made by an
older sreplat, or by hand) up to the manifest's. Releases are then installed without
``create_namespace`` (the CI deployer's Role could not create one anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sreplat.errors import UsageError
from sreplat.tools.api_calls import Deadline, ResourceMissing
from sreplat.tools.kube.api import kube_call, request_timeout

FIELD_MANAGER = "sreplat"


@dataclass(frozen=True)
class NamespaceChange:
    name: str
    created: bool
    changed_labels: tuple[str, ...]  # labels set or corrected on an existing namespace

    @property
    def changed(self) -> bool:
        return self.created or bool(self.changed_labels)

    def describe(self) -> str:
        if self.created:
            return f"namespace {self.name} created"
        if self.changed_labels:
            return f"namespace {self.name}: set {', '.join(self.changed_labels)}"
        return f"namespace {self.name} up to date"


def read_manifest(path: Path) -> dict[str, Any]:
    """The Namespace object of ``path``; UsageError when it is not one."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read the namespace manifest {path}: {exc}") from None
    kind = (document.get("apiVersion"), document.get("kind")) if isinstance(document, dict) else None
    if not isinstance(document, dict) or kind != ("v1", "Namespace"):
        raise UsageError(f"{path} is not a v1 Namespace manifest")
    name = (document.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise UsageError(f"{path}: the Namespace has no metadata.name")
    return document


def apply_namespace(api: Any, manifest: dict[str, Any], *, timeout: float = 30.0) -> NamespaceChange:
    """Create the namespace or bring its labels up to ``manifest``'s (server-side apply)."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = str(manifest["metadata"]["name"])
    wanted: dict[str, str] = dict(manifest["metadata"].get("labels") or {})
    deadline = Deadline(timeout)
    try:
        current: Any = kube_call(
            f"reading namespace {name}",
            deadline,
            lambda t: core.read_namespace(name, _request_timeout=request_timeout(t)),
        )
    except ResourceMissing:
        current = None
    labels = dict((current.metadata.labels or {}) if current is not None else {})
    differing = tuple(sorted(key for key, value in wanted.items() if labels.get(key) != value))
    if current is not None and not differing:
        return NamespaceChange(name, created=False, changed_labels=())
    kube_call(
        f"applying namespace {name}",
        deadline,
        lambda t: core.patch_namespace(
            name,
            manifest,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
            _request_timeout=request_timeout(t),
        ),
    )
    return NamespaceChange(name, created=current is None, changed_labels=() if current is None else differing)
