"""The run log: every log record (DEBUG and up) and every event of one run, in one file.

Lives in ``<state dir>/logs/<timestamp>-<verb>.log``; its path is the first thing a run prints.
The newest ``KEEP`` logs per directory are kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

from sreplat.events import Event

KEEP = 30
_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(threadName)s %(name)s: %(message)s"


class RunLog:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handler: logging.FileHandler = logging.FileHandler(path, encoding="utf-8")
        self._handler.setLevel(logging.DEBUG)
        self._handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
        root = logging.getLogger("sreplat")
        root.addHandler(self._handler)
        root.setLevel(logging.DEBUG)  # the file gets everything; console handlers filter for themselves
        # Events go to the file only: the console shows them through the renderer already.
        self._events = logging.getLogger("sreplat.run.events")
        self._events.propagate = False
        self._events.setLevel(logging.INFO)
        self._events.addHandler(self._handler)

    @classmethod
    def create(cls, logs_dir: Path, verb: str) -> RunLog:
        stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"
        log = cls(logs_dir / f"{stamp}-{verb}.log")
        prune(logs_dir, keep=KEEP)
        return log

    def event(self, event: Event) -> None:
        self._events.info("event %s", json.dumps(event.to_dict(), default=str, separators=(",", ":")))

    def close(self) -> None:
        logging.getLogger("sreplat").removeHandler(self._handler)
        self._events.removeHandler(self._handler)
        self._handler.close()


def prune(logs_dir: Path, *, keep: int) -> None:
    logs = sorted(logs_dir.glob("*.log"), key=lambda p: p.name, reverse=True)
    for old in logs[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()
