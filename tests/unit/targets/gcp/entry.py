"""``run([WIRING.json, *ARGV])``: the real CLI in a subprocess (``World.command``), with the seams of
a test world (``World.wiring_file``) injected the way ``World.cli`` injects them in-process.

Test-only: the product reads no endpoint from the environment; this entry point assembles the
session's seams from the world's wiring and calls the CLI's ``main``.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from sreplat.cli.main import main
from tests.unit.targets.gcp.world import seams_from


def run(argv: list[str]) -> int:
    # Python's own Ctrl-C handler, even when whatever started the tests left SIGINT ignored (a
    # background job does): the Ctrl-C tests send this process SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    wiring = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    return main(argv[1:], seams=seams_from(wiring))
