"""The layering of DESIGN §1, read from the import graph of ``src/sreplat`` (every import, also the
lazy ones inside functions and those only for type checking):

    cli (+ ui) → targets → tools → proc,   with pipeline as the engine targets hand steps to

Each package may import what its row of ``MAY_IMPORT`` lists (a package and what is inside it;
``=name``: that module only), itself, and the core modules. A new package (say ``sreplat.slo``, a
pure rule generator at the tools' level) gets a row here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
# Importable by everything: the package itself (its version), the error tree, events, the cancel
# token, subprocesses.
CORE = ("sreplat", "sreplat.errors", "sreplat.events", "sreplat.cancel", "sreplat.proc")
SHARED_TOOLS = (
    "sreplat.tools.api_calls",
    "sreplat.tools.git",
    "sreplat.tools.http_probe",
    # commit signatures: every target's deploy verifies them (issue 14)
    "sreplat.tools.signatures",
    "sreplat.tools.allowed_signers",
)
# Log lines and queries of `sreplat logs`: pure data the CLI, ui, targets and log tools share.
LOGS = "sreplat.logs"
# SLO states → the `slo` status finding, the same on both targets.
SLO_CHECK = ("sreplat.targets.slo_check", "sreplat.slo")
# package prefix → the prefixes its modules may import (the longest matching prefix decides).
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "sreplat.cli": (
        "sreplat.config",
        "sreplat.targets",
        "sreplat.pipeline",
        "sreplat.ui",
        "sreplat.pipes",
        LOGS,
    ),
    "sreplat.ui": ("sreplat.pipeline", "sreplat.targets.base", "sreplat.pipes", LOGS),
    "sreplat.pipes": (),  # writing to a reader that went away; light enough for `sreplat version`
    "sreplat.config": (),
    "sreplat.targets": ("sreplat.config", "sreplat.targets.base"),  # the registry
    "sreplat.targets.base": ("sreplat.config", "sreplat.pipeline", "=sreplat.targets", LOGS, *SHARED_TOOLS),
    "sreplat.targets.slo_check": ("sreplat.pipeline", "sreplat.slo"),
    "sreplat.targets.local": (
        "sreplat.config",
        "sreplat.pipeline",
        "=sreplat.targets",
        "sreplat.targets.base",
        "sreplat.tools.local",
        LOGS,
        *SLO_CHECK,
        *SHARED_TOOLS,
    ),
    "sreplat.targets.gcp": (
        "sreplat.config",
        "sreplat.pipeline",
        "=sreplat.targets",
        "sreplat.targets.base",
        "sreplat.tools.gcp",
        "sreplat.tools.helm",
        "sreplat.tools.kube",
        "sreplat.tools.images",
        "sreplat.tools.terraform",
        LOGS,
        *SLO_CHECK,
        *SHARED_TOOLS,
    ),
    "sreplat.pipeline": (),
    "sreplat.slo": (),  # SLOs as data → recording and alerting rules: a pure generator
    LOGS: (),
    "sreplat.tools": SHARED_TOOLS,
    "sreplat.tools.local": (*SHARED_TOOLS, LOGS),
    "sreplat.tools.gcp": (*SHARED_TOOLS, "sreplat.tools.images", LOGS),  # Cloud Build builds images
    "sreplat.tools.helm": SHARED_TOOLS,
    "sreplat.tools.kube": SHARED_TOOLS,
    "sreplat.tools.images": SHARED_TOOLS,
    "sreplat.tools.terraform": SHARED_TOOLS,
}
# Libraries for people, never below the CLI: pipeline/ and tools/ emit events instead.
PRESENTATION = ("typer", "rich", "click")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in ``path``; ``from pkg import mod`` names the module."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (SRC / candidate.replace(".", "/")).with_suffix(".py").exists() or (
                    SRC / candidate.replace(".", "/")
                ).is_dir()
                yield node.lineno, candidate if is_module else node.module


def within(name: str, prefix: str) -> bool:
    if prefix.startswith("="):
        return name == prefix[1:]
    return name == prefix or name.startswith(prefix + ".")


def row(module: str) -> str:
    matches = [prefix for prefix in MAY_IMPORT if within(module, prefix)]
    assert matches, f"{module} belongs to no layer: give its package a row in MAY_IMPORT"
    return max(matches, key=len)


SOURCES = sorted(p for p in (SRC / "sreplat").rglob("*.py") if module_name(p) not in CORE)


def violations(module: str, imported: list[tuple[int, str]]) -> list[str]:
    """The imports of ``module`` that run against its row of MAY_IMPORT."""
    own = row(module)
    allowed = (own, *MAY_IMPORT[own])
    wrong = [
        f"line {line}: {name}"
        for line, name in imported
        if within(name, "sreplat") and name not in CORE and not any(within(name, a) for a in allowed)
    ]
    if own.startswith(("sreplat.pipeline", "sreplat.tools", "sreplat.config", "sreplat.targets")):
        wrong += [f"line {line}: {name}" for line, name in imported if name.split(".")[0] in PRESENTATION]
    return wrong


@pytest.mark.parametrize("path", SOURCES, ids=module_name)
def test_imports_follow_the_layering(path: Path) -> None:
    module = module_name(path)
    wrong = violations(module, list(imports(path)))
    assert not wrong, f"{module} ({row(module)}) imports against the layering: {wrong}"


def test_imports_against_the_layering_are_caught() -> None:
    assert violations("sreplat.tools.local.prereqs", [(3, "sreplat.pipeline.checks")])  # the old one
    assert violations("sreplat.pipeline.runner", [(1, "sreplat.tools.git")])  # the engine calls no tool
    assert violations("sreplat.targets.local.deploy", [(1, "sreplat.targets.gcp.context")])
    assert violations("sreplat.targets.local.deploy", [(1, "sreplat.tools.helm.manager")])
    assert violations("sreplat.tools.kube.workloads", [(1, "rich.console")])
    assert violations("sreplat.config", [(1, "sreplat.targets")])
    assert not violations("sreplat.cli.session", [(1, "sreplat.targets"), (2, "sreplat.errors")])


def test_core_modules_import_only_the_core() -> None:
    for name in CORE:
        path = SRC / (name.replace(".", "/") + ".py")
        if not path.exists():
            continue
        wrong = [i for _, i in imports(path) if i.startswith("sreplat.") and i not in CORE]
        assert not wrong, f"{name} imports {wrong}"


def test_the_table_sees_real_edges() -> None:
    """The parser finds the imports a module really has (lazy and type-only ones included), so an
    empty result cannot pass for a clean one."""
    found = {i for _, i in imports(SRC / "sreplat" / "targets" / "gcp" / "context.py")}
    assert {"sreplat.tools.gcp.gke", "sreplat.tools.helm.manager", "sreplat.tools.kube.workloads"} <= found
    assert "sreplat.tools.git" in {i for _, i in imports(SRC / "sreplat" / "targets" / "base.py")}
