"""``sreplat --help`` and ``sreplat version`` import nothing heavy (DESIGN §2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# DESIGN §2: never for --help or version. (Typer itself imports pydantic to coerce the options of a
# command it runs, so pydantic is only checked for --help and version, which run none.)
HEAVY = ("google", "kubernetes", "helm_python", "redis", "flask", "rich", "docker", "pydantic_settings")
OURS = ("sreplat.config", "sreplat.ui", "sreplat.targets", "sreplat.pipeline", "sreplat.cli.session")

PROBE = """
import contextlib, io, json, sys
from sreplat.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
roots = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"code": code, "modules": sorted(sys.modules), "roots": roots, "out": out.getvalue()}))
"""


@pytest.mark.parametrize("argv", [["--help"], ["version"], ["bootstrap", "--help"], ["deploy", "--help"]])
def test_fast_paths_import_nothing_heavy(argv: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] == 0
    assert report["out"].strip(), "printed nothing"
    loaded_heavy = [m for m in HEAVY if m in report["roots"]]
    assert loaded_heavy == [], f"{argv} imported {loaded_heavy}"
    loaded_ours = [m for m in OURS if m in report["modules"]]
    assert loaded_ours == [], f"{argv} imported {loaded_ours}"
    if argv in (["--help"], ["version"]):
        assert "pydantic" not in report["roots"]


def test_the_console_script_help_lists_every_verb_and_exit_codes() -> None:
    script = subprocess.run(
        [sys.executable, "-c", "import sys; from sreplat.cli.main import main; sys.exit(main())", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    for verb in ("bootstrap", "deploy", "status", "destroy", "plan", "doctor", "version"):
        assert verb in script.stdout
    for flag in ("--env", "--config", "--output", "--verbose", "--quiet", "--yes"):
        assert flag in script.stdout
    assert "130 interrupted" in script.stdout
