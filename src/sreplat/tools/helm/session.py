"""What every Helm action of one release manager shares: an SDK ``Config`` per namespace over
one cluster connection, a lock per release (concurrent writes to one release corrupt its
history), the event sink, the readiness wait, and error translation that keeps the credentials
out of messages.

Waiting is never the SDK's (its wait cannot see sreplat's cancel token): actions apply without
it, then ``await_ready`` — given by whoever builds the manager, on the one rollout wait of
``tools.kube`` — polls the release's workloads; Ctrl-C ends it at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sreplat.events import Event, EventSink
from sreplat.tools.helm.access import HelmConfig, HelmConnection
from sreplat.tools.helm.errors import translate, translated
from sreplat.tools.helm.manifests import workloads
from sreplat.tools.helm.results import ReleaseInfo

# (workloads as (kind, name) pairs, namespace, timeout seconds) → returns once every rollout is
# complete; raises CallTimeout / RolloutFailed when not, Interrupted on Ctrl-C.
ReadinessWait = Callable[[Sequence[tuple[str, str]], str, float], None]


class HelmSession:
    def __init__(
        self, connection: HelmConnection, *, on_event: EventSink, await_ready: ReadinessWait | None
    ) -> None:
        self.storage_driver = connection.storage_driver
        self.secrets = connection.secrets
        self._connection = connection
        self._emit = on_event
        self._await_ready = await_ready
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
        """Helm SDK errors inside become sreplat errors (``errors.translate``)."""
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

    def await_ready(self, manifest: str, namespace: str, timeout: float) -> None:
        """Until the Deployments and StatefulSets ``manifest`` holds are rolled out (nothing to
        wait for without a readiness wait)."""
        found = workloads(manifest)
        if self._await_ready is not None and found:
            self._await_ready(found, namespace, timeout)
