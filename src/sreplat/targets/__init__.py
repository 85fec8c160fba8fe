"""Targets: where an environment runs, and the one registry of them.

A target is a package under ``sreplat.targets`` that provides two things, registered here by name:
its ``Settings`` model (what ``[environments.<name>]`` may hold when ``target = "<name>"``; a
subclass of ``config.EnvironmentSettings``) and its ``Target`` class (``targets.base.Target``:
the verbs). Both are imported only when an environment names the target, so the local target never
pays for the gcp target's imports. ``docs/architecture.md`` says how to add one.

``Seams`` carries what the CLI session injects into targets (API endpoints, resolvers, SDK
factories): each target takes its own part by name and type, and uses its defaults without one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sreplat.errors import OperationFailed

if TYPE_CHECKING:
    from sreplat.config import Environment, EnvironmentSettings
    from sreplat.targets.base import Target

T = TypeVar("T")


@dataclass(frozen=True)
class Registration:
    """Where a target's two parts live, as ``"module:attribute"``."""

    settings: str
    target: str


class Seams:
    """The parts of the outside world the session injects, one object per target name.

    ``Seams(gcp=GcpSeams(...))``; a target asks ``seams.part("gcp", GcpSeams)`` and gets None when
    nothing was injected (then it uses the real world).
    """

    def __init__(self, **parts: object) -> None:
        self._parts = dict(parts)

    def part(self, target: str, kind: type[T]) -> T | None:
        found = self._parts.get(target)
        if found is not None and not isinstance(found, kind):
            raise TypeError(f"seams for {target!r} must be {kind.__name__}, not {type(found).__name__}")
        return found


class TargetRegistry:
    def __init__(self, registrations: dict[str, Registration]):
        self._registrations = registrations

    def names(self) -> tuple[str, ...]:
        return tuple(self._registrations)

    def registration(self, target: str) -> Registration:
        return self._registrations[target]

    def settings_model(self, target: str) -> type[EnvironmentSettings]:
        model: type[EnvironmentSettings] = _load(self._registrations[target].settings, target)
        return model

    def target_class(self, target: str) -> type[Target]:
        cls: type[Target] = _load(self._registrations[target].target, target)
        return cls


def _load(where: str, target: str) -> Any:
    module_name, _, attribute = where.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise  # a broken import inside the target: not hidden
        raise OperationFailed(
            f"the {target} target is not available yet ({module_name} is missing)",
            hint="use the local target meanwhile: sreplat --env local ...",
        ) from None
    return getattr(module, attribute)


REGISTRY = TargetRegistry(
    {
        "local": Registration(
            settings="sreplat.targets.local.settings:LocalSettings",
            target="sreplat.targets.local:LocalTarget",
        ),
        "gcp": Registration(
            settings="sreplat.targets.gcp.settings:GcpSettings",
            target="sreplat.targets.gcp:GcpTarget",
        ),
    }
)


def load_target(env: Environment, seams: Seams | None = None, registry: TargetRegistry = REGISTRY) -> Target:
    """The target object for ``env`` (its settings were loaded through the same registry)."""
    return registry.target_class(env.target)(env, seams or Seams())
