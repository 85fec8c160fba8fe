"""What every Helm action of one release manager shares: an SDK ``Config`` per namespace over
one cluster connection, a lock per release (concurrent writes to one release corrupt its
history), the event sink, and error translation that keeps the credentials out of messages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sreplat.events import Event, EventSink
from sreplat.tools.helm.access import HelmConfig, HelmConnection
from sreplat.tools.helm.errors import translate, translated
from sreplat.tools.helm.results import ReleaseInfo


class HelmSession:
    def __init__(self, connection: HelmConnection, *, on_event: EventSink) -> None:
        self.storage_driver = connection.storage_driver
        self.secrets = connection.secrets
        self._connection = connection
        self._emit = on_event
        self._configs: dict[str, HelmConfig] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def close(self) -> None:
        with self._guard:
            configs, self._configs = list(self._configs.values()), {}
        for config in configs:
            config.close()
        self._connection.close()

    def config(self, namespace: str) -> HelmConfig:
        with self._guard:
            if namespace not in self._configs:
                self._configs[namespace] = self._connection.config(namespace)
            return self._configs[namespace]

    @contextmanager
    def locked(self, release: str, namespace: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault((namespace, release), threading.Lock())
        with lock:
            yield

    def event(self, kind: str, message: str, **data: Any) -> None:
        self._emit(Event(kind=kind, message=message, data=data))

    def translated(self, what: str) -> AbstractContextManager[None]:
        """Helm SDK errors inside become sreplat errors (``helm_errors.translate``)."""
        return translated(what, self.secrets)

    def history(self, release: str, namespace: str) -> tuple[ReleaseInfo, ...]:
        """All kept revisions, oldest first; empty when the release does not exist."""
        import helm_python as hp

        try:
            raw = self.config(namespace).history(release)
        except hp.HelmNotFoundError:
            return ()
        except hp.HelmError as exc:
            raise translate(exc, f"reading the history of {release}", self.secrets) from exc
        return tuple(sorted((ReleaseInfo.from_sdk(r) for r in raw), key=lambda r: r.revision))


def wait_mode(wait: bool) -> str | None:
    """The SDK's ``wait`` option: Helm's status watcher, or no waiting."""
    return "watcher" if wait else None
