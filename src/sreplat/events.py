"""Events: how pipeline/ and tools/ tell the outside what they are doing.

They never print. The CLI passes an ``EventSink`` that ``ui.py`` renders for people or serialises
as JSON lines; tests pass a list's ``append``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One thing that happened.

    ``kind`` is a dotted name (``step.started``, ``terraform.apply_complete``, ``helm.upgrade``);
    ``message`` is one human line; ``data`` holds the facts as JSON-able values.
    """

    kind: str
    message: str = ""
    step: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.kind, "ts": round(self.ts, 3)}
        if self.step is not None:
            out["step"] = self.step
        if self.message:
            out["message"] = self.message
        out.update(self.data)
        return out


EventSink = Callable[[Event], None]


def discard(_event: Event) -> None:
    """An EventSink that drops everything (the default for library calls)."""
