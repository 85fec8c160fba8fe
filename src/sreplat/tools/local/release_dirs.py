"""ReleaseDir directories of the local target: one per commit, a ``current`` symlink, a history.

Layout (under ``<state dir>/releases``)::

    <sha>/src/sreplat_apps/...                     the apps of that commit (``git archive``)
    <sha>/src/sreplat_apps-<v>+g<sha12>.dist-info  makes ``importlib.metadata`` report the release
    <sha>/release.json                             id, version, source, created_at
    current -> <sha>                               what the processes run (PYTHONPATH goes here)
    state.json                                     current, previous, activated_at
    history.json                                   every activation and rollback, newest last

Why the dist-info: the apps report ``SREPLAT_RELEASE`` or, when unset, their package version
from ``importlib.metadata``. A graceful reload keeps the gunicorn master's environment, so the
variable cannot change between releases; the package version found first on ``sys.path`` (the
release dir, through ``current``) can. Each release therefore carries a minimal dist-info whose
version is ``<version of that commit>+g<sha12>`` (PEP 440 local version), and the processes run
with ``SREPLAT_RELEASE`` empty.

Switching is one atomic ``rename`` of a new symlink over ``current``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sreplat.tools import git

PACKAGE = "sreplat_apps"
DISTRIBUTION = "sreplat-apps"
INSTALLED = "installed"
_VERSION = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)
HISTORY_KEEP = 50


@dataclass(frozen=True)
class ReleaseDir:
    id: str  # a full commit SHA, or "installed"
    version: str  # what /healthz reports for it
    source: str  # "git <repo>" or "installed package"
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "source": self.source, "created_at": self.created_at}

    @property
    def short(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class HistoryEntry:
    release: str
    version: str
    event: str  # activated | rolled-back | deploy-failed
    at: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "release": self.release,
            "version": self.version,
            "event": self.event,
            "at": self.at,
        }
        if self.detail:
            out["detail"] = self.detail
        return out


class ReleaseDirs:
    def __init__(self, root: Path):
        self.root = root

    @property
    def current_link(self) -> Path:
        return self.root / "current"

    @property
    def python_path(self) -> Path:
        """The PYTHONPATH entry of every process: resolved through ``current`` at import time."""
        return self.current_link / "src"

    def path(self, release_id: str) -> Path:
        return self.root / release_id

    def has(self, release_id: str) -> bool:
        return (self.path(release_id) / "release.json").is_file()

    def get(self, release_id: str) -> ReleaseDir:
        data = json.loads((self.path(release_id) / "release.json").read_text(encoding="utf-8"))
        return ReleaseDir(
            id=str(data["id"]),
            version=str(data["version"]),
            source=str(data.get("source", "")),
            created_at=float(data.get("created_at", 0)),
        )

    def releases(self) -> list[ReleaseDir]:
        if not self.root.is_dir():
            return []
        found = [
            self.get(p.name)
            for p in self.root.iterdir()
            if p.is_dir() and not p.is_symlink() and self.has(p.name)
        ]
        return sorted(found, key=lambda r: r.created_at)

    # --- creating ----------------------------------------------------------------------------

    def create_from_git(self, repo: Path, sha: str, apps_dir: str) -> ReleaseDir:
        """Export ``apps_dir`` of ``sha`` as a release (no-op when it exists)."""
        if self.has(sha):
            return self.get(sha)

        def fill(src: Path) -> str:
            git.export_tree(repo, sha, apps_dir, src)
            return _declared_version(src)

        return self._create(sha, f"git {repo}", fill, local_label=f"g{sha[:12]}")

    def create_from_installed(self) -> ReleaseDir:
        """Copy the installed apps package as the release ``installed`` (no git repo around)."""
        if self.has(INSTALLED):
            return self.get(INSTALLED)
        import importlib.util

        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            from sreplat.errors import ToolMissing

            raise ToolMissing(
                f"{DISTRIBUTION} is not installed", hint="pip install -e ./apps (make up does it)"
            )
        package_dir = Path(next(iter(spec.submodule_search_locations)))

        def fill(src: Path) -> str:
            src.mkdir(parents=True)
            shutil.copytree(package_dir, src / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            return _declared_version(src)

        return self._create(INSTALLED, "installed package", fill, local_label=INSTALLED)

    def _create(self, release_id: str, source: str, fill: Any, *, local_label: str) -> ReleaseDir:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{release_id[:12]}.", dir=self.root))
        try:
            src = staging / "src"
            base_version = fill(src)
            if not (src / PACKAGE).is_dir():
                from sreplat.errors import UsageError

                raise UsageError(f"release {release_id[:12]} has no {PACKAGE}/ package in its apps directory")
            version = f"{base_version}+{local_label}"
            _write_dist_info(src, version)
            _fresh_directory_mtimes(src)
            release = ReleaseDir(release_id, version, source, round(time.time(), 3))
            (staging / "release.json").write_text(json.dumps(release.to_dict(), indent=1), encoding="utf-8")
            os.replace(staging, self.path(release_id))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return release

    # --- switching ---------------------------------------------------------------------------

    def current(self) -> str | None:
        try:
            return os.readlink(self.current_link)
        except OSError:
            return None

    def switch(self, release_id: str) -> None:
        """Point ``current`` at ``release_id`` atomically."""
        if not self.has(release_id):
            raise FileNotFoundError(self.path(release_id))
        tmp = self.root / f".current.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(release_id, tmp)  # relative: the state dir may move
        os.replace(tmp, self.current_link)

    def state(self) -> dict[str, Any]:
        try:
            data = json.loads((self.root / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save_state(self, **fields: Any) -> None:
        data = {**self.state(), **fields}
        _write_json(self.root / "state.json", data)

    # --- history -----------------------------------------------------------------------------

    def history(self) -> list[HistoryEntry]:
        try:
            data = json.loads((self.root / "history.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [HistoryEntry(**entry) for entry in data if isinstance(entry, dict)]

    def record(self, release: ReleaseDir, event: str, detail: str = "") -> None:
        entries = [
            *self.history(),
            HistoryEntry(release.id, release.version, event, round(time.time(), 3), detail),
        ]
        _write_json(self.root / "history.json", [e.to_dict() for e in entries[-HISTORY_KEEP:]])

    def prune(self, keep: int) -> list[str]:
        """Delete the oldest release dirs beyond ``keep``, never ``current`` or ``previous``."""
        protected = {self.current(), self.state().get("previous")}
        candidates = [r for r in self.releases() if r.id not in protected]
        excess = max(0, len(self.releases()) - keep)
        removed = []
        for release in candidates[:excess]:
            shutil.rmtree(self.path(release.id), ignore_errors=True)
            removed.append(release.id)
        return removed


def _declared_version(src: Path) -> str:
    try:
        match = _VERSION.search((src / PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    except OSError:
        match = None
    return match.group(1) if match else "0"


def _write_dist_info(src: Path, version: str) -> None:
    info = src / f"{PACKAGE}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "INSTALLER").write_text("sreplat\n", encoding="utf-8")


def _fresh_directory_mtimes(src: Path) -> None:
    # git archive stamps every directory with the commit time; two commits made in the same second
    # would then look identical to the import system's directory caches (keyed on mtime) in a
    # gunicorn master that forks workers after the switch. A fresh stamp per release avoids that.
    now = time.time()
    for folder, _dirs, _files in os.walk(src):
        os.utime(folder, (now, now))


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)
    os.replace(tmp, path)
