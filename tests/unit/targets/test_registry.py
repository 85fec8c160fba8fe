"""The target registry: settings model and target class of each target, imported only when an
environment names it; a clear error when a target's package is missing, and no hiding of a broken
import inside one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sreplat.config import load_environment
from sreplat.errors import OperationFailed
from sreplat.targets import REGISTRY, Registration, Seams, TargetRegistry, load_target
from sreplat.targets.gcp.settings import GcpSettings
from sreplat.targets.local import LocalTarget


def test_every_registered_target_has_a_settings_model_and_a_target_class() -> None:
    assert REGISTRY.names() == ("local", "gcp")
    for name in REGISTRY.names():
        model, target = REGISTRY.settings_model(name), REGISTRY.target_class(name)
        assert (model.TARGET, target.name) == (name, name)


def test_loading_the_local_target_imports_nothing_of_the_gcp_one(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from sreplat.config import load_environment\n"
        "from sreplat.targets import REGISTRY, load_target\n"
        "load_target(load_environment(registry=REGISTRY))\n"
        "gcp = ('sreplat.targets.gcp', 'sreplat.tools.gcp')\n"
        "print(sorted(m for m in sys.modules if m.startswith(gcp)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_a_target_package_that_does_not_exist_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    registry = TargetRegistry(
        {
            "local": Registration(
                settings=REGISTRY.registration("local").settings, target="sreplat.targets.eks:EksTarget"
            )
        }
    )
    with pytest.raises(OperationFailed, match="the local target is not available yet"):
        load_target(load_environment(registry=registry), registry=registry)


def test_a_broken_import_inside_a_target_is_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    package = tmp_path / "fake_targets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text("import module_that_is_missing_sreplat\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = TargetRegistry(
        {
            "local": Registration(
                settings=REGISTRY.registration("local").settings, target="fake_targets.broken:X"
            )
        }
    )
    with pytest.raises(ModuleNotFoundError, match="module_that_is_missing_sreplat"):
        load_target(load_environment(registry=registry), registry=registry)


def test_seams_are_taken_by_target_name_and_type() -> None:
    seams = Seams(gcp="not seams")
    assert seams.part("local", GcpSettings) is None
    with pytest.raises(TypeError, match="seams for 'gcp' must be GcpSettings, not str"):
        seams.part("gcp", GcpSettings)
    assert isinstance(load_target(load_environment(registry=REGISTRY)), LocalTarget)
