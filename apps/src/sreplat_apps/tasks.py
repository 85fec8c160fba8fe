"""The job functions the worker runs. RQ imports them by dotted path (``contract.TASKS``), so the
API and the worker must ship this same module. Explicit arguments only; JSON in, JSON out.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any


def echo(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


def sha256(data: str, rounds: int = 1) -> dict[str, Any]:
    # surrogatepass: JSON can carry lone surrogates ("\ud800"); hash them rather than fail.
    digest = hashlib.sha256(data.encode("utf-8", "surrogatepass")).digest()
    for _ in range(rounds - 1):
        digest = hashlib.sha256(digest).digest()
    return {"digest": digest.hex(), "rounds": rounds}


def sleep(ms: int) -> dict[str, Any]:
    time.sleep(ms / 1000)
    return {"slept_ms": ms}
