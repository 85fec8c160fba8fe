"""What the Helm release manager reports: revisions of a release, what an install or upgrade
did, and what a plan would change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sreplat.tools.helm.manifests import ObjectChange, summarize

PENDING_STATES = frozenset({"pending-install", "pending-upgrade", "pending-rollback"})


@dataclass(frozen=True)
class ReleaseInfo:
    """One revision of a release, as Helm stores it."""

    name: str
    namespace: str
    revision: int
    status: str  # deployed | superseded | failed | uninstalled | pending-* | ...
    chart: str
    chart_version: str
    app_version: str
    updated: str  # RFC 3339, when this revision was written

    @property
    def pending(self) -> bool:
        return self.status in PENDING_STATES

    @classmethod
    def from_sdk(cls, raw: Mapping[str, Any]) -> ReleaseInfo:
        return cls(
            name=str(raw.get("name", "")),
            namespace=str(raw.get("namespace", "")),
            revision=int(raw.get("revision", 0)),
            status=str(raw.get("status", "unknown")),
            chart=str(raw.get("chart_name", "")),
            chart_version=str(raw.get("chart_version", "")),
            app_version=str(raw.get("app_version", "")),
            updated=str(raw.get("deployed_at", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def last_deployed(history: tuple[ReleaseInfo, ...]) -> int | None:
    """The revision a recovery rolls back to: the newest deployed one, else the newest that was."""
    for wanted in ("deployed", "superseded"):
        candidates = [r.revision for r in history if r.status == wanted]
        if candidates:
            return max(candidates)
    return None


@dataclass(frozen=True)
class UpgradeResult:
    """What ``upgrade_install`` did."""

    release: ReleaseInfo
    action: Literal["installed", "upgraded"]
    previous_revision: int | None
    recovered_from: ReleaseInfo | None  # the pending revision cleared first (recover=True)
    dry_run: bool = False  # rendered and validated only; nothing was stored or applied
    notes: str = field(default="", repr=False)
    manifest: str = field(default="", repr=False)  # what was (or would be) applied


@dataclass(frozen=True)
class ReleaseDiff:
    """Rendered manifests of the deployed release against what the new values would deploy."""

    release: str
    namespace: str
    deployed_revision: int | None  # None: not installed, everything is "added"
    changes: tuple[ObjectChange, ...]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def summary(self) -> dict[str, int]:
        return summarize(self.changes)
