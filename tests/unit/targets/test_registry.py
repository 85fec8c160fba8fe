"""load_target: the target an environment names, or a clear error when it is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from sreplat import targets
from sreplat.config import load_environment
from sreplat.errors import OperationFailed


def test_a_target_module_that_does_not_exist_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sreplat.toml").write_text(
        '[environments.dev]\ntarget = "gcp"\nproject = "acme-sre-dev"\nregion = "us-central1"\n'
        'domain = "dev.acme.example"\n'
    )
    monkeypatch.setitem(targets.TARGETS, "gcp", ("sreplat.targets.not_written_yet", "GcpTarget"))
    with pytest.raises(OperationFailed, match="the gcp target is not available yet"):
        targets.load_target(load_environment("dev"))


def test_a_broken_import_inside_a_target_is_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    package = tmp_path / "fake_targets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text("import module_that_is_missing_sreplat\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(targets.TARGETS, "local", ("fake_targets.broken", "X"))
    with pytest.raises(ModuleNotFoundError, match="module_that_is_missing_sreplat"):
        targets.load_target(load_environment())
