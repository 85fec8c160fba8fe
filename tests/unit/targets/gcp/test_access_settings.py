"""Issue 12's settings of the gcp target: GitHub federation by numeric ids, authorized networks of
the control plane's IP endpoint, Cloud Armor. Bad values stop at load time (exit 2) with the key,
by the Terraform variables' own rules; structured values come from TOML, or JSON in --set and
SREPLAT_<KEY>."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sreplat.config import load_environment
from sreplat.errors import ConfigError, ExitCode
from sreplat.targets import REGISTRY
from sreplat.targets.gcp.settings import GcpSettings

GITHUB = 'github_repository = "acme/sreplat"\n'
IDS = 'github_repository_id = "1"\ngithub_repository_owner_id = "2"\n'
BASE = """
[environments.dev]
target = "gcp"
project = "acme-sre-dev"
region = "asia-south1"
domain = "dev.acme.example"
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def load(extra: str = "", **overrides: str) -> GcpSettings:
    (Path.cwd() / "sreplat.toml").write_text(BASE + extra)
    settings = load_environment("dev", registry=REGISTRY, overrides=overrides).settings
    assert isinstance(settings, GcpSettings)
    return settings


def refused(extra: str = "", **overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(extra, **overrides)
    assert info.value.exit_code == ExitCode.USAGE
    return info.value.message


def test_defaults_open_nothing_and_turn_nothing_on() -> None:
    s = load()
    assert s.master_authorized_networks == [] and not s.cloud_armor.enabled
    assert s.cloud_armor.process_requests_per_minute == 600
    assert (s.github_repository, s.github_repository_id, s.github_environments) == (None, None, None)


def test_toml_values() -> None:
    s = load(
        'github_repository = "acme/sreplat"\ngithub_repository_id = 123\ngithub_repository_owner_id = "456"\n'
        'github_environments = ["dev"]\n'
        'master_authorized_networks = [{ cidr_block = "203.0.113.7/32", display_name = "vpn" }]\n'
        "cloud_armor = { enabled = true }\n"
    )
    assert (s.github_repository_id, s.github_repository_owner_id, s.github_environments) == (
        "123",
        "456",
        ["dev"],
    )
    assert s.master_authorized_networks[0].cidr_block == "203.0.113.7/32"
    assert s.cloud_armor.enabled and s.cloud_armor.process_requests_per_minute == 600


def test_json_from_set_and_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load(master_authorized_networks='[{"cidr_block": "198.51.100.0/24", "display_name": "ci"}]')
    assert s.master_authorized_networks[0].display_name == "ci"
    monkeypatch.setenv("SREPLAT_CLOUD_ARMOR", '{"enabled": true, "process_requests_per_minute": 120}')
    assert load().cloud_armor.process_requests_per_minute == 120


@pytest.mark.parametrize(
    ("extra", "overrides", "fragment"),
    [
        ('github_repository = "acme/sreplat"\n', {}, "github_repository_id"),
        ('github_repository_id = "1"\n', {}, "need github_repository"),
        (
            GITHUB + 'github_repository_id = "acme"\ngithub_repository_owner_id = "2"\n',
            {},
            "numeric id",
        ),
        (
            GITHUB + IDS + "github_environments = []\n",
            {},
            "at least one",
        ),
        (
            "",
            {"master_authorized_networks": '[{"cidr_block": "0.0.0.0/0", "display_name": "all"}]'},
            "0.0.0.0/0",
        ),
        (
            "",
            {"master_authorized_networks": '[{"cidr_block": "10.0.0.300/8", "display_name": "x"}]'},
            "IPv4 CIDR",
        ),
        ("", {"master_authorized_networks": "not json"}, "JSON"),
        (
            "cloud_armor = { enabled = true, process_requests_per_minute = 0 }\n",
            {},
            "process_requests_per_minute",
        ),
        ("cloud_armor = { enabled = true, rpm = 10 }\n", {}, "rpm"),
    ],
)
def test_bad_values_are_refused_with_their_key(extra: str, overrides: dict[str, Any], fragment: str) -> None:
    assert fragment in refused(extra, **overrides)


def test_bad_json_in_the_environment_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SREPLAT_CLOUD_ARMOR", "{enabled")
    assert "cloud_armor" in refused()
