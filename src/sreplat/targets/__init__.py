"""Targets: where an environment runs. ``load_target(env)`` returns the one its config names.

Each target lives in its own module, imported only when an environment uses it, so the local
target never pays for google-cloud or kubernetes imports. The interface is ``targets.base.Target``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from sreplat.errors import OperationFailed

if TYPE_CHECKING:
    from sreplat.config import Environment
    from sreplat.targets.base import Target

# target name → (module, class)
TARGETS: dict[str, tuple[str, str]] = {
    "local": ("sreplat.targets.local", "LocalTarget"),
    "gcp": ("sreplat.targets.gcp", "GcpTarget"),
}


def load_target(env: Environment) -> Target:
    """The target object for ``env``; OperationFailed when that target is not available."""
    module_name, class_name = TARGETS[env.target]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise OperationFailed(
            f"the {env.target} target is not available yet (environment {env.name!r})",
            hint="use the local target meanwhile: sreplat --env local ...",
        ) from None
    target_class: type[Target] = getattr(module, class_name)
    return target_class(env)
