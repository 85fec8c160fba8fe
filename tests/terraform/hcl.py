"""Loading terraform/ with python-hcl2 into plain dicts the tests can query."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"
MODULES = (
    "network",
    "gke_autopilot",
    "dns",
    "artifact_registry",
    "ingress",
    "iam",
    "observability_iam",
    "private_google_apis",
)
STACKS = ("foundation", "cluster")


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string quotes ('"x"'); expressions come as '${...}'."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@dataclass(frozen=True)
class Block:
    kind: str  # resource, data, variable, output, module, ...
    labels: tuple[str, ...]
    body: dict[str, Any]
    path: Path

    def get(self, key: str, default: Any = None) -> Any:
        return unquote(self.body.get(key, default))

    def blocks(self, key: str) -> list[dict[str, Any]]:
        value = self.body.get(key, [])
        return value if isinstance(value, list) else [value]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(TERRAFORM_DIR)}: {self.kind} {'.'.join(self.labels)}"


def _walk(kind: str, value: Any, labels: tuple[str, ...], path: Path) -> Iterator[Block]:
    # Labelled blocks nest one dict per label; a body is the dict that says __is_block__.
    if isinstance(value, list):
        for item in value:
            yield from _walk(kind, item, labels, path)
    elif isinstance(value, dict):
        if value.get("__is_block__") and not (
            labels == () and kind in ("resource", "data", "variable", "output", "module")
        ):
            yield Block(kind, labels, value, path)
        else:
            for key, inner in value.items():
                if key.startswith("__"):
                    continue
                yield from _walk(kind, inner, (*labels, unquote(key)), path)


@cache
def parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return dict(hcl2.load(handle))


def tf_files(root: Path = TERRAFORM_DIR) -> list[Path]:
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)


def blocks(kind: str, root: Path = TERRAFORM_DIR) -> list[Block]:
    found: list[Block] = []
    for path in tf_files(root):
        for top in parse(path).get(kind, []):
            if kind in ("terraform", "locals", "provider", "check"):
                found.append(Block(kind, (), top if isinstance(top, dict) else {}, path))
            else:
                found.extend(_walk(kind, top, (), path))
    return found


def resources(resource_type: str | None = None, root: Path = TERRAFORM_DIR) -> list[Block]:
    return [b for b in blocks("resource", root) if resource_type is None or b.labels[0] == resource_type]


def module_dir(name: str) -> Path:
    return TERRAFORM_DIR / "modules" / name
