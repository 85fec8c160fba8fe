"""How the Helm SDK reaches a cluster: a kubeconfig held in memory, and the SDK ``Config`` objects
(one per namespace) made from it.

:class:`KubeAccess` carries the kubeconfig — given as text/mapping, or built from (API server,
bearer token, CA certificate). It reaches client-go through an anonymous memory-backed file
(``memfd_create``, read via ``/proc/self/fd/N``): nothing lands on disk and ``~/.kube/config`` /
``$KUBECONFIG`` are never read or written. Where memfd is unavailable (non-Linux), the SDK's own
``kubeconfig_content`` is used: a private 0600 temp file that the SDK removes when the
connection closes.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sreplat.errors import UsageError


@dataclass(frozen=True)
class KubeAccess:
    """How to reach the cluster, held in memory only (``repr`` never shows credentials)."""

    kubeconfig: str = field(repr=False)
    context: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_kubeconfig(
        cls, kubeconfig: str | Mapping[str, Any], *, context: str | None = None
    ) -> KubeAccess:
        """From kubeconfig text (YAML or JSON) or an already-parsed mapping."""
        text = json.dumps(kubeconfig) if isinstance(kubeconfig, Mapping) else kubeconfig
        if not text.strip() or "clusters" not in text:
            raise UsageError("the kubeconfig is empty or has no clusters")
        return cls(kubeconfig=text, context=context)

    @classmethod
    def from_token(cls, *, server: str, token: str, ca_pem: str | bytes | None) -> KubeAccess:
        """From an API server URL, a bearer token and the cluster CA (PEM).

        ``ca_pem`` may be omitted only for a plain-HTTP loopback server (test doubles).
        """
        if not token:
            raise UsageError("an empty bearer token cannot authenticate to the cluster")
        loopback = server.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        cluster: dict[str, Any] = {"server": server}
        if ca_pem:
            pem = ca_pem.encode() if isinstance(ca_pem, str) else ca_pem
            if b"BEGIN CERTIFICATE" not in pem:
                raise UsageError("the cluster CA is not a PEM certificate")
            cluster["certificate-authority-data"] = base64.b64encode(pem).decode()
        elif not loopback:
            raise UsageError(f"the cluster CA certificate is required for {server}")
        if not server.startswith("https://") and not loopback:
            raise UsageError(f"the API server must be an https:// URL, not {server!r}")
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sreplat", "cluster": cluster}],
            "users": [{"name": "sreplat", "user": {"token": token}}],
            "contexts": [{"name": "sreplat", "context": {"cluster": "sreplat", "user": "sreplat"}}],
            "current-context": "sreplat",
        }
        return cls(kubeconfig=json.dumps(doc), secrets=(token,))


class HelmConfig(Protocol):
    """The part of ``helm_python.Config`` the manager uses (tests substitute a double)."""

    def install(
        self, chart: Any, name: str, values: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]: ...
    def upgrade(
        self, chart: Any, name: str, values: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]: ...
    def uninstall(self, name: str, **kw: Any) -> dict[str, Any]: ...
    def rollback(self, name: str, **kw: Any) -> None: ...
    def status(self, name: str, **kw: Any) -> dict[str, Any]: ...
    def history(self, name: str, **kw: Any) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


ConfigFactory = Callable[[str], HelmConfig]


def sdk_config_factory(access: KubeAccess, storage_driver: str) -> tuple[ConfigFactory, Callable[[], None]]:
    """A factory of ``helm_python.Config`` per namespace over one in-memory kubeconfig, and the
    function that releases that memory file."""
    import helm_python

    fd: int | None = None
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("sreplat-kubeconfig", os.MFD_CLOEXEC)
        os.write(fd, access.kubeconfig.encode())

    def make(namespace: str) -> HelmConfig:
        common: dict[str, Any] = {
            "namespace": namespace,
            "storage_driver": storage_driver,
            "kube_context": access.context,
        }
        if fd is not None:
            config = helm_python.Config(kubeconfig_path=f"/proc/self/fd/{fd}", **common)
        else:
            config = helm_python.Config(kubeconfig_content=access.kubeconfig, **common)
        return cast(HelmConfig, config)

    def release() -> None:
        if fd is not None:
            os.close(fd)

    return make, release
