"""The apps' dependency lock: ``apps/requirements.lock`` must satisfy ``apps/pyproject.toml``.

The images install the lock with ``pip install --require-hashes`` (``apps/Dockerfile``), so what
the lock says is what runs. A lock that no longer matches ``pyproject.toml`` (a dependency added,
or its range moved past the locked version) would build images that do not have what the code
asks for: the build refuses before anything is built, with the command that refreshes it.

Checked here, without installing anything: every dependency of ``pyproject.toml`` that applies to
the images (Linux, CPython 3.11) is locked with ``==`` at a version inside its range, and every
locked requirement carries at least one ``--hash=sha256:`` (pip refuses the install otherwise).
The format is pip's requirements format as ``uv pip compile --generate-hashes`` writes it.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass

from sreplat.errors import UsageError

LOCK_FILE = "requirements.lock"  # in apps/
PYPROJECT = "pyproject.toml"
REFRESH_COMMAND = "make lock"
# The interpreter and platform of the images (python3 of Debian 12 and distroless debian12).
IMAGE_ENVIRONMENT = {
    "python_version": "3.11",
    "python_full_version": "3.11.2",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class LockInfo:
    sha256: str  # of the lock file's bytes, as `sha256sum apps/requirements.lock` prints it
    pins: Mapping[str, str]  # canonical name → version


def check(pyproject: bytes, lock: bytes | None, where: str) -> LockInfo:
    """The lock's hash and pins; UsageError (with the refresh command) when it does not match."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    lock_name = f"apps/{LOCK_FILE}"
    if lock is None:
        raise _stale(where, f"there is no {lock_name}")
    pins, problems = _read_lock(lock.decode("utf-8", errors="replace"))
    try:
        dependencies = tomllib.loads(pyproject.decode("utf-8"))["project"].get("dependencies", [])
        requirements = [Requirement(line) for line in dependencies]
    except (tomllib.TOMLDecodeError, KeyError, UnicodeDecodeError, InvalidRequirement) as exc:
        raise UsageError(f"apps/{PYPROJECT} at {where} is unreadable: {exc}") from None
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate(dict(IMAGE_ENVIRONMENT)):
            continue  # not installed in the images
        name = canonicalize_name(requirement.name)
        locked = pins.get(name)
        if locked is None:
            problems.append(f"{requirement.name} is not locked")
            continue
        try:
            inside = requirement.specifier.contains(Version(locked), prereleases=True)
        except InvalidVersion:
            inside = False
        if not inside:
            problems.append(f"{requirement.name} is locked at {locked}, outside {requirement.specifier}")
    if problems:
        raise _stale(where, "; ".join(problems))
    return LockInfo(hashlib.sha256(lock).hexdigest(), pins)


def _read_lock(text: str) -> tuple[dict[str, str], list[str]]:
    """{canonical name: version} and what is wrong (a requirement that is not pinned or hashed)."""
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    problems: list[str] = []
    # One requirement per logical line: backslash continuations joined, comments dropped.
    logical = re.sub(r"\\\n", " ", text)
    for raw in logical.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("--"):
            continue
        match = _PIN.match(line)
        if match is None:
            problems.append(f"{line.split()[0]!r} is not pinned with ==")
            continue
        pins[canonicalize_name(match[1])] = match[3]
        if not _HASH.search(line):
            problems.append(f"{match[1]} has no --hash (pip --require-hashes refuses it)")
    return pins, problems


def _stale(where: str, why: str) -> UsageError:
    return UsageError(
        f"apps/{LOCK_FILE} does not match apps/{PYPROJECT} at {where}: {why}; no image was built",
        hint=f"run `{REFRESH_COMMAND}` and commit apps/{LOCK_FILE}",
    )
