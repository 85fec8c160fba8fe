#!/usr/bin/env python3
"""Re-resolve the digests of base-images.json from the registries (`make base-digests`).

Usage: refresh_base_digests.py [FILE]   (default: base-images.json at the repository root)

Each image's tag is looked up anonymously (HEAD of its manifest, Docker Registry HTTP API v2);
the file is rewritten with the digests the tags name now and the time they were resolved.
Review the change and commit it: builds use the digests as committed at the SHA they build.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sreplat.errors import SreplatError
from sreplat.tools.images.bases import BASES_FILE, refresh


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / BASES_FILE
    try:
        changed = refresh(path)
    except SreplatError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return int(exc.exit_code)
    for name, (old, new) in changed.items():
        print(f"{name}: {old} -> {new}")
    print(f"{path}: {len(changed)} digest(s) changed" if changed else f"{path}: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
