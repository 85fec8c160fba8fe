"""How the Helm SDK reaches a cluster: a kubeconfig held in memory, and the connection that makes
SDK ``Config`` objects (one per namespace) from it.

:class:`KubeAccess` carries a kubeconfig built from (API server, bearer token, and a CA certificate
or none: the system's trust store).
:class:`SdkConnection` hands it to client-go through an anonymous memory-backed file
(``memfd_create``, read via ``/proc/self/fd/N``): nothing lands on disk and ``~/.kube/config`` /
``$KUBECONFIG`` are never read or written. Where memfd is unavailable (non-Linux), the SDK's own
``kubeconfig_content`` is used: a private 0600 temp file that the SDK removes when the connection
closes.

A :class:`HelmConnection` is what the release manager needs; the session injects how one is made
(``targets.gcp.seams``), so tests can put a double of the SDK's ``Config`` behind it.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from sreplat.errors import UsageError

StorageDriver = Literal["secret", "configmap", "memory"]


@dataclass(frozen=True)
class KubeAccess:
    """How to reach the cluster, held in memory only (``repr`` never shows credentials)."""

    kubeconfig: str = field(repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_token(
        cls, *, server: str, token: str, ca_pem: str | bytes | None, server_name: str | None = None
    ) -> KubeAccess:
        """From an HTTPS API server URL, a bearer token and how to trust the server: the cluster
        CA (PEM), or None for the system's trust store (GKE's DNS-based endpoint presents a
        publicly trusted certificate). ``server_name``: the TLS name to ask for and verify."""
        if not token:
            raise UsageError("an empty bearer token cannot authenticate to the cluster")
        if not server.startswith("https://"):
            raise UsageError(f"the API server must be an https:// URL, not {server!r}")
        cluster: dict[str, str] = {"server": server}
        if ca_pem:
            pem = ca_pem.encode() if isinstance(ca_pem, str) else ca_pem
            if b"BEGIN CERTIFICATE" not in pem:
                raise UsageError("the cluster CA is not a PEM certificate")
            cluster["certificate-authority-data"] = base64.b64encode(pem).decode()
        if server_name:
            cluster["tls-server-name"] = server_name
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
    """The part of ``helm_python.Config`` the manager uses."""

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


class HelmConnection(Protocol):
    """One cluster connection: a ``HelmConfig`` per namespace, closed together.

    ``storage_driver``: where Helm keeps release history (``secret``, Helm's default, or
    ``memory`` for throw-away dry runs); ``secrets``: strings never to show in a message.
    """

    storage_driver: StorageDriver
    secrets: tuple[str, ...]

    def config(self, namespace: str) -> HelmConfig: ...

    def close(self) -> None: ...


class SdkConnection:
    """``helm_python.Config`` objects over one in-memory kubeconfig."""

    def __init__(self, access: KubeAccess, *, storage_driver: StorageDriver = "secret") -> None:
        self.access = access
        self.storage_driver: StorageDriver = storage_driver
        self.secrets = access.secrets
        self._fd: int | None = None
        if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
            self._fd = os.memfd_create("sreplat-kubeconfig", os.MFD_CLOEXEC)
            os.write(self._fd, access.kubeconfig.encode())

    def config(self, namespace: str) -> HelmConfig:
        import helm_python

        common: dict[str, Any] = {"namespace": namespace, "storage_driver": self.storage_driver}
        if self._fd is not None:
            config = helm_python.Config(kubeconfig_path=f"/proc/self/fd/{self._fd}", **common)
        else:
            config = helm_python.Config(kubeconfig_content=self.access.kubeconfig, **common)
        return cast(HelmConfig, config)

    def close(self) -> None:
        """Release the kubeconfig's memory file (the configs are closed by their session)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
