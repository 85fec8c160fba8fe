"""What every commit the image pipeline builds must hold besides the Dockerfile: the base-image
pins (this repository's own ``base-images.json``) and an ``apps/requirements.lock`` with hashes
that satisfies ``apps/pyproject.toml``.

``fixture_lock`` writes a lock pinning each dependency at the version installed here (which
satisfies its range: the apps are installed from that pyproject), with a stand-in hash. The test
builds never install from it (the images under test install from ``pyproject.toml`` until the
apps' Dockerfile moves to the lock); it exercises the build-time check, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[2]
BASES = REPO_ROOT / "base-images.json"
MINIMAL_PYPROJECT = (
    '[project]\nname = "sreplat-apps"\ndynamic = ["version"]\ndependencies = ["flask>=3.1,<4"]\n'
)


def fixture_lock(pyproject: str) -> str:
    lines = ["# fixture lock (tests/support/pinned_inputs.py): exact pins, stand-in hashes"]
    for line in tomllib.loads(pyproject)["project"].get("dependencies", []):
        name = Requirement(line).name
        stand_in = hashlib.sha256(name.encode()).hexdigest()
        lines.append(f"{name}=={metadata.version(name)} \\\n    --hash=sha256:{stand_in}")
    return "\n".join(lines) + "\n"


def bases_with_redis(ref: str | None = None, digest: str | None = None) -> str:
    """This repository's ``base-images.json``, its Redis pin replaced by ``ref``@``digest`` (an
    image the test made: nothing can be pulled from Docker Hub here)."""
    pins = json.loads(BASES.read_text())
    if ref is not None and digest is not None:
        pins["images"]["redis"] = {"ref": ref, "digest": digest}
    return json.dumps(pins, indent=2) + "\n"


def pinned_inputs(
    pyproject: str = MINIMAL_PYPROJECT, *, redis_ref: str | None = None, redis_digest: str | None = None
) -> dict[str, str]:
    """Files (path → text) to commit next to ``apps/Dockerfile``."""
    return {
        "base-images.json": bases_with_redis(redis_ref, redis_digest),
        "apps/pyproject.toml": pyproject,
        "apps/requirements.lock": fixture_lock(pyproject),
    }


def add_pinned_inputs(repo_root: Path) -> None:
    """Give a copy of this repository's ``apps/`` what it lacks of the pinned inputs."""
    if not (repo_root / "base-images.json").exists():
        (repo_root / "base-images.json").write_text(BASES.read_text())
    lock = repo_root / "apps" / "requirements.lock"
    if not lock.exists():
        lock.write_text(fixture_lock((repo_root / "apps" / "pyproject.toml").read_text()))
