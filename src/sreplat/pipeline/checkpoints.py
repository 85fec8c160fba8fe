"""Checkpoints: which steps of an unfinished run already succeeded, so a re-run resumes.

One JSON file per pipeline (``<state dir>/checkpoints/<pipeline>.json``)::

    {"pipeline": "bootstrap", "fingerprint": "…",
     "steps": {"redis": {"data": {…}, "output": {…} | null, "finished_at": …}}}

Written atomically (temp file + rename) after every successful step, deleted when the whole
pipeline succeeds: the next run then re-checks every step (they are idempotent) instead of
trusting an old record. A file with another fingerprint is ignored.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("sreplat.pipeline")


@dataclass(frozen=True)
class Checkpoint:
    """A step an unfinished run finished: its facts and its output's JSON (None: it had none)."""

    data: Mapping[str, Any] = field(default_factory=dict)
    output: Mapping[str, Any] | None = None


class Checkpoints:
    def __init__(self, path: Path, *, pipeline: str, fingerprint: str):
        self.path = path
        self.pipeline = pipeline
        self.fingerprint = fingerprint
        self._lock = threading.Lock()
        self._steps: dict[str, dict[str, Any]] = self._load()

    @classmethod
    def in_dir(cls, directory: Path, *, pipeline: str, fingerprint: str) -> Checkpoints:
        return cls(directory / f"{pipeline}.json", pipeline=pipeline, fingerprint=fingerprint)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable checkpoint file %s: %s", self.path, exc)
            return {}
        if document.get("pipeline") != self.pipeline or document.get("fingerprint") != self.fingerprint:
            log.info("checkpoint %s is for other inputs; starting afresh", self.path)
            return {}
        steps = document.get("steps")
        return steps if isinstance(steps, dict) else {}

    def done(self) -> dict[str, Checkpoint]:
        """Steps recorded as succeeded, with what they returned."""
        with self._lock:
            return {
                name: Checkpoint(dict(entry.get("data") or {}), entry.get("output"))
                for name, entry in self._steps.items()
            }

    def record(self, step: str, data: Mapping[str, Any], output: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            entry = {"data": dict(data), "output": output, "finished_at": round(time.time(), 3)}
            self._steps[step] = entry
            self._write()

    def clear(self) -> None:
        with self._lock:
            self._steps = {}
            self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"pipeline": self.pipeline, "fingerprint": self.fingerprint, "steps": self._steps}
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=1, sort_keys=True, default=str)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
