"""A double of ``helm_python.Config`` holding release revisions in memory, for the states a real
cluster cannot be put in on demand (a revision stuck in ``pending-*`` after a deploy died).

It answers in the SDK's shapes (the dicts ``helm_python`` returns, captured from the real SDK)
and raises the SDK's errors where real Helm would: reading a missing release is
``HelmNotFoundError``; installing or upgrading while the latest revision is pending is the
``another operation (install/upgrade/rollback) is in progress`` release error. Like Helm it keeps
each revision's values (``config``) and content (``manifest``): a rollback copies the target's, an
upgrade without ``reset_values`` and without new values reuses the last ones, and an upgrade
prunes the history to ``max_history`` revisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def revision(
    name: str, number: int, status: str, *, namespace: str = "sreplat", chart: str = "api"
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "revision": number,
        "status": status,
        "deployed_at": f"2026-01-01T00:00:{number:02d}Z",
        "chart_name": chart,
        "chart_version": "0.1.0",
        "app_version": "0.1.0",
        "manifest": f"---\n# revision {number}\n",
        "config": {},
    }


@dataclass
class FakeHelmConfig:
    namespace: str = "sreplat"
    releases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    closed: bool = False

    def _revisions(self, name: str) -> list[dict[str, Any]]:
        import helm_python as hp

        revs = self.releases.get(name)
        if not revs:
            raise hp.HelmNotFoundError("release: not found")
        return revs

    def _busy(self, name: str) -> None:
        import helm_python as hp

        revs = self.releases.get(name) or []
        if revs and revs[-1]["status"].startswith("pending-"):
            raise hp.HelmReleaseError("another operation (install/upgrade/rollback) is in progress")

    def _chart_name(self, chart: Any) -> str:
        return str(getattr(chart, "name", "api"))

    # --- reads ---
    def history(self, name: str, **kw: Any) -> list[dict[str, Any]]:
        self.calls.append(("history", name, kw))
        return [dict(r) for r in self._revisions(name)]

    def status(self, name: str, **kw: Any) -> dict[str, Any]:
        self.calls.append(("status", name, kw))
        return dict(self._revisions(name)[-1])

    # --- writes ---
    def install(
        self, chart: Any, name: str, values: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        import helm_python as hp

        self.calls.append(("install", name, kw))
        if self.releases.get(name):
            raise hp.HelmReleaseError("cannot re-use a name that is still in use")
        rev = revision(name, 1, "deployed", namespace=self.namespace, chart=self._chart_name(chart))
        rev["config"] = dict(values or {})
        if kw.get("dry_run"):
            return rev
        self.releases[name] = [rev]
        return dict(rev)

    def upgrade(
        self, chart: Any, name: str, values: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        self.calls.append(("upgrade", name, kw))
        revs = self._revisions(name)
        self._busy(name)
        new = revision(
            name,
            revs[-1]["revision"] + 1,
            "deployed",
            namespace=self.namespace,
            chart=self._chart_name(chart),
        )
        reuse = not kw.get("reset_values") and not values  # Helm: no new values → the last ones
        new["config"] = dict(revs[-1]["config"]) if reuse else dict(values or {})
        if kw.get("dry_run"):
            return new
        for r in revs:
            if r["status"] == "deployed":
                r["status"] = "superseded"
        revs.append(new)
        if kw.get("max_history"):
            del revs[: -int(kw["max_history"])]
        return dict(new)

    def rollback(self, name: str, **kw: Any) -> None:
        import helm_python as hp

        self.calls.append(("rollback", name, kw))
        revs = self._revisions(name)
        target = kw.get("version") or revs[-2]["revision"]
        if not any(r["revision"] == target for r in revs):
            raise hp.HelmNotFoundError(f"release: revision {target} not found")
        # Rolling back a stuck revision is how Helm users clear it: the pending one is marked
        # failed, the target's content becomes a new deployed revision.
        source = next(r for r in revs if r["revision"] == target)
        for r in revs:
            if r["status"] in ("deployed",) or r["status"].startswith("pending-"):
                r["status"] = "superseded" if r["status"] == "deployed" else "failed"
        rolled = revision(name, revs[-1]["revision"] + 1, "deployed", namespace=self.namespace)
        revs.append({**rolled, "manifest": source["manifest"], "config": dict(source["config"])})

    def uninstall(self, name: str, **kw: Any) -> dict[str, Any]:
        import helm_python as hp

        self.calls.append(("uninstall", name, kw))
        if not self.releases.get(name):
            if kw.get("ignore_not_found"):
                return {"info": "", "release": {}}
            raise hp.HelmNotFoundError("release: not found")
        last = self.releases.pop(name)[-1]
        return {"info": "", "release": {**last, "status": "uninstalled"}}

    def close(self) -> None:
        self.closed = True

    def writes(self) -> list[str]:
        return [c[0] for c in self.calls if c[0] in ("install", "upgrade", "rollback", "uninstall")]


class FakeConnection:
    """A ``HelmConnection`` whose every namespace is the one ``FakeHelmConfig``."""

    storage_driver = "secret"
    secrets: tuple[str, ...] = ()

    def __init__(self, config: FakeHelmConfig) -> None:
        self.fake = config

    def config(self, namespace: str) -> FakeHelmConfig:
        return self.fake

    def close(self) -> None:
        pass
