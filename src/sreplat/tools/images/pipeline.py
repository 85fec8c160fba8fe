"""Build the app images for one git SHA, push them, and record what was pushed.

``build_and_push`` is what targets call. For each app (api, worker, concurrently) it asks the
registry whether ``<registry prefix>/<app>:<sha>`` exists: if so the build is skipped and the
registry's digest reused (tags are immutable); if not, a builder (the local Docker engine, or
Cloud Build) builds and pushes it: the target named after the app in the one multi-target
``apps/Dockerfile``, whose stages up to ``runtime`` the images share. It returns ``BuiltImages``:
every app's image by digest, so a deploy ships exactly the digests that were built.

The build context is ``apps/`` as committed at the SHA, exported to a temporary folder (``git
archive``), so what is built is the commit whatever the work tree holds. A SHA that is HEAD while
the work tree has changes that would reach an image (``context.context_changes``: under ``apps/``,
let in by ``apps/.dockerignore``) is refused, since those changes would not be deployed; with
``allow_dirty`` the work tree is built as it is, changes included.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sreplat.errors import OperationFailed, SreplatError, UsageError
from sreplat.events import Event, EventSink, discard
from sreplat.tools import git
from sreplat.tools.images import bases, lock
from sreplat.tools.images import context as build_context
from sreplat.tools.images.bases import BasePins
from sreplat.tools.images.lock import LockInfo
from sreplat.tools.images.registry import ImageRef, RegistryClient, RegistryCredentials

APPS: tuple[str, ...] = ("api", "worker")
CONTEXT_SUBDIR = "apps"
DOCKERFILE = "Dockerfile"  # in CONTEXT_SUBDIR; one build target (stage) per app
DEFAULT_SOURCE_URL = "https://github.com/sreplat/sreplat"

T = TypeVar("T")


@dataclass(frozen=True)
class BuildRequest:
    """Everything a builder needs for one image."""

    app: str
    image: ImageRef
    context_dir: Path  # the ``apps/`` folder
    dockerfile: str  # relative to context_dir: ``Dockerfile``
    target: str  # the Dockerfile stage that is this image: the app's name
    build_args: Mapping[str, str] = field(default_factory=dict)
    credentials: RegistryCredentials | None = None  # for the push


class Builder(Protocol):
    """Builds images and pushes them.

    ``prepare`` runs once before the concurrent builds, with every request (a builder that shares
    a layer cache between builds uses it to build their common stages once); ``build_and_push``
    builds one image and returns the pushed manifest digest (``sha256:…``).
    """

    name: str

    def prepare(self, requests: Sequence[BuildRequest], emit: EventSink) -> None: ...

    def build_and_push(self, request: BuildRequest, emit: EventSink) -> str: ...


@dataclass(frozen=True)
class BuiltImage:
    app: str
    repository: str
    tag: str
    digest: str
    built: bool = True  # False when the tag already existed and the build was skipped

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def pinned(self) -> str:
        """``repository@digest``: what deploys should run."""
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class BuildInputs:
    """What an image is made of besides the source: the base images (build argument → the
    ``ref@digest`` passed) and the sha256 of ``apps/requirements.lock``."""

    base_images: Mapping[str, str]
    requirements_lock_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "base_images": dict(sorted(self.base_images.items())),
            "requirements_lock_sha256": self.requirements_lock_sha256,
        }

    @classmethod
    def from_json(cls, data: Any) -> BuildInputs | None:
        if not data:
            return None  # recorded before inputs were
        return cls(
            base_images={str(k): str(v) for k, v in data["base_images"].items()},
            requirements_lock_sha256=str(data["requirements_lock_sha256"]),
        )


@dataclass(frozen=True)
class BuiltImages:
    """The images of one commit, one per app, by digest, and what they were built from."""

    sha: str
    images: Mapping[str, BuiltImage]
    inputs: BuildInputs | None = None

    def pinned(self, app: str) -> str:
        """``repository@digest`` of ``app``'s image: what deploys run."""
        return self.images[app].pinned

    def to_json(self) -> dict[str, Any]:
        """The images document of docs/contracts.md (``built`` is run information, not kept)."""
        document: dict[str, Any] = {
            "sha": self.sha,
            "images": {
                app: {"repository": rec.repository, "tag": rec.tag, "digest": rec.digest}
                for app, rec in sorted(self.images.items())
            },
        }
        if self.inputs is not None:
            document["inputs"] = self.inputs.to_json()
        return document

    @classmethod
    def from_json(cls, data: Any) -> BuiltImages:
        try:
            images = {
                str(app): BuiltImage(
                    app=str(app),
                    repository=str(entry["repository"]),
                    tag=str(entry["tag"]),
                    digest=str(entry["digest"]),
                    built=False,
                )
                for app, entry in data["images"].items()
            }
            inputs = BuildInputs.from_json(data.get("inputs"))
            return cls(sha=str(data["sha"]), images=images, inputs=inputs)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an images document: missing or wrong {exc}") from exc


def registry_prefix_for(*, region: str, project: str, repository: str) -> str:
    """The Artifact Registry prefix images are pushed under."""
    return f"{region}-docker.pkg.dev/{project}/{repository}"


def build_and_push(
    *,
    sha: str,
    registry_prefix: str,
    builder: Builder,
    repo: Path,
    apps: Sequence[str] = APPS,
    emit: EventSink = discard,
    allow_dirty: bool = False,
    credentials: RegistryCredentials | None = None,
    build_args: Mapping[str, str] | None = None,
    source_url: str = DEFAULT_SOURCE_URL,
    parallel: bool = True,
    registry_base_url: str | None = None,
) -> BuiltImages:
    """Make sure ``<registry_prefix>/<app>:<sha>`` exists for every app; return their digests.

    ``sha`` is any revision of ``repo``; images are tagged with the full SHA it resolves to.
    The bases come from ``base-images.json`` at that SHA, by digest, through the Dockerfile's
    build arguments; ``build_args`` are passed to every build and win over them (a mirror, or a
    locally made base: recorded as given, and announced). Raises UsageError before anything is
    built (bad SHA, dirty tree, bad prefix, no pinned bases, a lock that does not match
    ``apps/pyproject.toml``, no Dockerfile stage for an app), OperationFailed when a lookup,
    build or push fails.
    """
    unknown = [app for app in apps if app not in APPS]
    if unknown or not apps:
        raise UsageError(f"unknown app(s) {unknown or list(apps)}: expected some of {list(APPS)}")
    full_sha = git.resolve_sha(repo, sha)
    images = {app: ImageRef.of(f"{registry_prefix.rstrip('/')}/{app}", full_sha) for app in apps}
    head = git.resolve_sha(repo, "HEAD")
    changes = build_context.context_changes(repo, CONTEXT_SUBDIR) if full_sha == head else []
    dirty = bool(changes)
    if dirty and not allow_dirty:
        raise UsageError(
            f"the work tree has uncommitted changes that would go into the images "
            f"({build_context.describe(changes)}), but an image tagged {full_sha[:12]} must be that commit",
            hint="commit or stash them, or pass --allow-dirty",
        )
    # The pins are read from where the build context comes from: the work tree when it is built
    # as it is (dirty, allowed), else the commit.
    pins, lock_info = _pinned_inputs(repo, full_sha, from_work_tree=dirty)
    registry = RegistryClient(
        next(iter(images.values())).host, credentials=credentials, base_url=registry_base_url
    )
    args = {"GIT_SHA": full_sha, "SOURCE_URL": source_url, **pins.build_args(), **(build_args or {})}
    started = time.monotonic()

    if dirty:
        emit(
            Event(
                "image.dirty_tree",
                f"the work tree has uncommitted changes ({build_context.describe(changes)}): images "
                f"built now are tagged {full_sha[:12]} but include them (images that already exist "
                "are reused as they are)",
                data={"sha": full_sha, "paths": changes},
            )
        )
    # Ask the registry first: when every tag exists there is nothing to export or build.
    found, failures = _run_all(lambda app: _lookup(app, images[app], registry, emit), list(apps), parallel)
    _raise_first(failures)
    records = {app: record for app, record in found.items() if record is not None}
    missing = [app for app in apps if app not in records]
    # What the images are made of: the commit's pins, or what this run builds with instead.
    used = args if missing else {**args, **pins.build_args()}
    inputs = BuildInputs({arg: used[arg] for arg in pins.build_args()}, lock_info.sha256)
    if missing:
        _announce_overrides(pins.build_args(), args, emit)
        with tempfile.TemporaryDirectory(prefix="sreplat-images-") as scratch:
            if dirty:  # allowed: build what the work tree holds
                context = repo / CONTEXT_SUBDIR
            else:
                context = Path(scratch) / CONTEXT_SUBDIR
                git.export_tree(repo, full_sha, CONTEXT_SUBDIR, context)

            _check_targets(context, missing, full_sha)
            requests = {
                app: BuildRequest(
                    app=app,
                    image=images[app],
                    context_dir=context,
                    dockerfile=DOCKERFILE,
                    target=app,
                    build_args=args,
                    credentials=credentials,
                )
                for app in missing
            }
            if parallel:
                builder.prepare(list(requests.values()), emit)
            built, failures = _run_all(lambda app: _build(requests[app], builder, emit), missing, parallel)
        _raise_first(failures)
        records.update(built)

    result = BuiltImages(sha=full_sha, images={app: records[app] for app in apps}, inputs=inputs)
    emit(
        Event(
            "images.done",
            f"images of {full_sha[:12]}: every app has a digest",
            data={
                "sha": full_sha,
                "built": sorted(a for a, r in result.images.items() if r.built),
                "skipped": sorted(a for a, r in result.images.items() if not r.built),
                "duration_s": round(time.monotonic() - started, 3),
            },
        )
    )
    return result


def _announce_overrides(pinned: Mapping[str, str], args: Mapping[str, str], emit: EventSink) -> None:
    overridden = sorted(arg for arg, ref in pinned.items() if args[arg] != ref)
    if overridden:
        emit(
            Event(
                "image.base_override",
                f"base image(s) {', '.join(overridden)} given by the caller, not the pinned digests",
                data={"overridden": {arg: args[arg] for arg in overridden}},
            )
        )


def _pinned_inputs(repo: Path, sha: str, *, from_work_tree: bool) -> tuple[BasePins, LockInfo]:
    """The base pins and the checked lock of the source being built: the work tree when the build
    context is the work tree (a dirty HEAD, allowed), else the commit. UsageError before anything
    is built."""

    def read(path: str) -> bytes | None:
        if from_work_tree:
            try:
                return (repo / path).read_bytes()
            except FileNotFoundError:
                return None
        return git.read_bytes(repo, sha, path)

    where = f"{sha[:12]}" + (" (work tree)" if from_work_tree else "")
    pins_text = read(bases.BASES_FILE)
    if pins_text is None:
        raise UsageError(
            f"there is no {bases.BASES_FILE} at {where}: the base images must be pinned by digest",
            hint=f"run `{bases.REFRESH_COMMAND}` and commit {bases.BASES_FILE}",
        )
    pins = bases.parse(pins_text, f"{bases.BASES_FILE} at {where}")
    pyproject = read(f"{CONTEXT_SUBDIR}/{lock.PYPROJECT}")
    if pyproject is None:
        raise UsageError(f"there is no {CONTEXT_SUBDIR}/{lock.PYPROJECT} at {where}")
    return pins, lock.check(pyproject, read(f"{CONTEXT_SUBDIR}/{lock.LOCK_FILE}"), where)


# ``FROM [--platform=…] <image> AS <stage>``; stage names are case-insensitive, like the engine's.
_STAGE_RE = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


def _check_targets(context: Path, apps: Sequence[str], sha: str) -> None:
    """Refuse, before any build, a commit whose Dockerfile has no stage for an app to build.

    Commits made before the images moved to one multi-target file have ``apps/<app>/Dockerfile``
    instead: saying so beats the builder's "cannot locate Dockerfile" after an upload.
    """
    where = f"{CONTEXT_SUBDIR}/{DOCKERFILE}"
    try:
        text = (context / DOCKERFILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"there is no {where} at {sha[:12]}, so its images cannot be built",
            hint=f"the images are built from one {where} with a stage per app ({', '.join(APPS)})",
        ) from None
    stages = {name.lower() for name in _STAGE_RE.findall(text)}
    absent = [app for app in apps if app not in stages]
    if absent:
        raise UsageError(
            f"{where} at {sha[:12]} has no build stage named {', '.join(absent)}",
            hint=f"each app is a stage of {where}: FROM runtime AS <app>",
        )


def _run_all(
    one: Callable[[str], T], apps: list[str], parallel: bool
) -> tuple[dict[str, T], list[tuple[str, BaseException]]]:
    """Run ``one(app)`` for every app; every app runs to the end even when another fails."""
    results: dict[str, T] = {}
    failures: list[tuple[str, BaseException]] = []
    with ThreadPoolExecutor(max_workers=len(apps) if parallel else 1, thread_name_prefix="image") as pool:
        futures = {app: pool.submit(one, app) for app in apps}
        for app, future in futures.items():
            try:
                results[app] = future.result()
            except Exception as exc:
                failures.append((app, exc))
    return results, failures


def _raise_first(failures: list[tuple[str, BaseException]]) -> None:
    """Raise the first app's failure; the others go into its detail."""
    if not failures:
        return
    first_app, first = failures[0]
    others = "; ".join(f"{app}: {exc}" for app, exc in failures[1:])
    if isinstance(first, SreplatError):
        if others:
            first.detail = "\n".join(filter(None, [first.detail, f"also failed: {others}"]))
        raise first
    raise OperationFailed(f"{first_app} image: {first}") from first


def _lookup(app: str, image: ImageRef, registry: RegistryClient, emit: EventSink) -> BuiltImage | None:
    existing = registry.manifest_digest(image)
    if existing is None:
        return None
    emit(
        Event(
            "image.skipped",
            f"{image} already in the registry ({existing[:19]}…); not rebuilt",
            data={"app": app, "ref": str(image), "digest": existing, "reason": "exists"},
        )
    )
    return BuiltImage(app, image.repository, image.tag, existing, built=False)


def _build(request: BuildRequest, builder: Builder, emit: EventSink) -> BuiltImage:
    image = request.image
    digest = builder.build_and_push(request, emit)
    emit(
        Event(
            "image.digest",
            f"{image} is {digest}",
            data={"app": request.app, "ref": str(image), "digest": digest},
        )
    )
    return BuiltImage(request.app, image.repository, image.tag, digest, built=True)
