"""The apps' dependency pins (issues 11 and 14): exact versions where ``apps/`` relies on a
library's internals, a hashed lock file for the images that satisfies ``apps/pyproject.toml``,
and this test run on the very versions the equivalence tests were written against."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

APPS = Path(__file__).resolve().parents[2] / "apps"
REFRESH = (
    "run `make lock` (uv pip compile apps/pyproject.toml --generate-hashes) and commit apps/requirements.lock"
)
# Libraries whose internals apps/ uses, and the tests that pin that use to their behaviour:
#   gunicorn  boot/loop_worker.py, boot/http_stage.py (parser, Request, wsgi.create, worker base)
#   rq        jobs.py writes RQ's job hash by hand (tests/apps/test_jobs.py); worker/worker.py
#   redis     jobs.py drives a pooled Connection directly (send_packed_command, read_response)
INTERNALS_USED = ("gunicorn", "rq", "redis")


def _dependencies() -> dict[str, Requirement]:
    project = tomllib.loads((APPS / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    return {canonicalize_name(requirement.name): requirement for requirement in requirements}


def _lock() -> tuple[dict[str, Version], list[str]]:
    """Locked versions, and the requirements that carry no ``--hash``."""
    text = (APPS / "requirements.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", re.sub(r"(?m)^\s*#.*\n", "", text).strip())
    versions: dict[str, Version] = {}
    unhashed: list[str] = []
    for entry in entries:
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s;\\]+)", entry)
        assert match, f"not an exact pin in apps/requirements.lock: {entry.splitlines()[0]!r}"
        versions[canonicalize_name(match[1])] = Version(match[2])
        if not re.search(r"--hash=sha256:[0-9a-f]{64}", entry):
            unhashed.append(match[1])
    return versions, unhashed


@pytest.mark.parametrize("name", INTERNALS_USED)
def test_libraries_whose_internals_the_apps_use_are_pinned_exactly(name: str) -> None:
    specifiers = list(_dependencies()[name].specifier)

    assert len(specifiers) == 1 and specifiers[0].operator == "==", (
        f"apps/pyproject.toml must pin {name} with == (apps/ uses its internals), not {specifiers}"
    )


@pytest.mark.parametrize("name", INTERNALS_USED)
def test_the_installed_version_is_the_pinned_one(name: str) -> None:
    pinned = next(iter(_dependencies()[name].specifier)).version
    installed = metadata.version(name)

    assert installed == pinned, (
        f"{name} {installed} is installed, but apps/ is pinned to (and its equivalence tests ran on)"
        f" {pinned}: reinstall with `pip install -e ./apps`, or re-run those tests before moving the pin"
    )


def test_the_lock_satisfies_pyproject() -> None:
    locked, _unhashed = _lock()
    problems = []
    for name, requirement in _dependencies().items():
        if name not in locked:
            problems.append(f"{requirement.name} is not locked")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            problems.append(
                f"{requirement.name} is locked at {locked[name]}, outside {requirement.specifier}"
            )
        for extra in requirement.extras:  # redis[hiredis]: the extra's own requirements
            for extra_requirement in metadata.requires(requirement.name) or []:
                needed = Requirement(extra_requirement)
                in_extra = needed.marker is not None and needed.marker.evaluate({"extra": extra})
                if in_extra and canonicalize_name(needed.name) not in locked:
                    problems.append(f"{needed.name} (from {requirement}) is not locked")

    assert not problems, f"apps/requirements.lock is out of date ({'; '.join(problems)}): {REFRESH}"


def test_every_locked_requirement_carries_hashes() -> None:
    _locked, unhashed = _lock()

    assert unhashed == [], f"locked without --hash (pip --require-hashes refuses them): {unhashed}; {REFRESH}"


def test_the_lock_is_closed_under_the_dependencies_of_what_it_locks() -> None:
    # Checked with the metadata of the locked packages that are installed here at the locked
    # version (the pins above guarantee at least gunicorn, rq and redis).
    locked, _unhashed = _lock()
    environment: dict[str, str] = dict(default_environment())
    missing = []
    checked = 0
    for name, version in locked.items():
        try:
            if Version(metadata.version(name)) != version:
                continue
        except metadata.PackageNotFoundError:
            continue
        checked += 1
        for line in metadata.requires(name) or []:
            needed = Requirement(line)
            if needed.marker is not None and not needed.marker.evaluate({**environment, "extra": ""}):
                continue
            if canonicalize_name(needed.name) not in locked:
                missing.append(f"{needed.name} (needed by {name})")

    assert checked >= len(INTERNALS_USED)
    assert missing == [], f"apps/requirements.lock misses {missing}: {REFRESH}"


def test_the_image_installs_the_lock_with_hashes_and_then_only_the_apps() -> None:
    dockerfile = (APPS / "Dockerfile").read_text()
    ignored = (APPS / ".dockerignore").read_text().splitlines()

    assert "--require-hashes" in dockerfile
    assert re.search(r"pip install --no-deps[^\n]* \.", dockerfile)
    assert "!requirements.lock" in ignored  # the build context must carry it
