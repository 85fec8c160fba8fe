"""The local target's signature settings: off by default (a laptop deploys what it has)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sreplat.config import load_environment
from sreplat.targets import REGISTRY
from sreplat.targets.local.settings import LocalSettings


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_local_does_not_require_signed_commits_unless_asked() -> None:
    s = load_environment("local", registry=REGISTRY).settings
    assert isinstance(s, LocalSettings)
    assert s.require_signed_commits is False
    assert s.trust_files.allowed_signers == Path(".github/allowed_signers")

    asked = load_environment(
        "local", registry=REGISTRY, overrides={"require_signed_commits": "true"}
    ).settings
    assert isinstance(asked, LocalSettings) and asked.require_signed_commits is True
