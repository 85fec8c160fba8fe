"""Checkpoints: which steps of an unfinished run already succeeded, so a re-run resumes.

One JSON file per pipeline (``<state dir>/checkpoints/<pipeline>.json``)::

    {"pipeline": "bootstrap", "fingerprint": "…", "steps": {"redis": {"data": {…}, "finished_at": …}}}

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
from pathlib import Path
from typing import Any

log = logging.getLogger("sreplat.pipeline")


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

    def done(self) -> dict[str, Mapping[str, Any]]:
        """Steps recorded as succeeded, with the data they returned."""
        with self._lock:
            return {name: dict(entry.get("data") or {}) for name, entry in self._steps.items()}

    def record(self, step: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            self._steps[step] = {"data": dict(data), "finished_at": round(time.time(), 3)}
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
