"""The gcp target's settings: derived defaults, strict validation, and the names the Terraform
stacks fix (not settings: setting one is an unknown key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sreplat.config import Environment, load_environment
from sreplat.errors import ConfigError
from sreplat.targets import REGISTRY
from sreplat.targets.gcp.settings import GcpSettings

GCP_TOML = """
[environments.dev]
target = "gcp"
project = "acme-sre-dev"
region = "asia-south1"
domain = "dev.acme.example"
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def load(name: str, **kwargs: Any) -> Environment:
    return load_environment(name, registry=REGISTRY, **kwargs)


def write_config(text: str) -> Path:
    path = Path.cwd() / "sreplat.toml"
    path.write_text(text)
    return path


def test_gcp_environment_with_derived_defaults() -> None:
    write_config(GCP_TOML)
    env = load("dev")
    s = env.settings
    assert isinstance(s, GcpSettings)
    assert s.protected is True  # gcp environments are protected unless they say otherwise
    assert (s.cluster_name, s.dns_zone, s.repository, s.network_name) == ("sreplat-dev",) * 4
    assert s.api_host == "api.dev.acme.example"
    assert s.state_bucket == "acme-sre-dev-sreplat-tfstate"
    assert s.state_prefix == "sreplat/dev"


def test_an_explicit_api_host_wins_over_the_derived_one() -> None:
    write_config(GCP_TOML + 'api_host = "x.dev.acme.example"\n')
    s = load("dev").settings
    assert isinstance(s, GcpSettings)
    assert s.api_host == "x.dev.acme.example"


@pytest.mark.parametrize("key", ["cluster_name", "network_name", "dns_zone", "repository"])
def test_names_the_stacks_fix_are_not_settings(key: str) -> None:
    write_config(GCP_TOML + f'{key} = "blue"\n')
    with pytest.raises(ConfigError, match=f"unknown key '{key}'"):
        load("dev")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("project", "Acme", "GCP project id"),
        ("project", "ab", "GCP project id"),
        ("project", "acme-sre-dev-", "GCP project id"),
        ("region", "us-central1-a", "not a zone (try 'us-central1')"),
        ("region", "Mars", "GCP region"),
        ("domain", "localhost", "DNS name"),
        ("domain", "bad_label.example.com", "DNS name"),
        ("state_bucket", "goog-bucket", "bucket"),
        ("dns_resolvers", "8.8.8.8:99999", "IPv4 addresses"),
    ],
)
def test_gcp_values_are_validated_strictly(key: str, value: str, expected: str) -> None:
    write_config(GCP_TOML)
    with pytest.raises(ConfigError) as info:
        load("dev", overrides={key: value})
    assert f"{key} = {value!r}" in info.value.message
    assert expected in info.value.message


@pytest.mark.parametrize(
    ("api_host", "expected"),
    [
        ("api.other.example", "is not inside domain 'dev.acme.example'"),
        ("a.b.dev.acme.example", "one label under the domain, not 'a.b'"),
    ],
)
def test_the_api_host_must_be_one_label_under_the_domain(api_host: str, expected: str) -> None:
    write_config(GCP_TOML)
    with pytest.raises(ConfigError, match=expected):
        load("dev", overrides={"api_host": api_host})


def test_an_environment_name_too_long_for_the_stacks_is_refused_at_load() -> None:
    write_config(GCP_TOML.replace("[environments.dev]", "[environments.development13]"))
    with pytest.raises(ConfigError, match="gcp environment names are at most 12 characters"):
        load("development13")


def test_missing_gcp_keys_are_reported_without_noise_from_derived_ones() -> None:
    write_config('[environments.dev]\ntarget = "gcp"\nregion = "us-central1"\n')
    with pytest.raises(ConfigError) as info:
        load("dev")
    assert "project is required" in info.value.message
    assert info.value.detail is not None
    assert "domain is required" in info.value.detail
    assert "api_host" not in info.value.detail and "state_bucket" not in info.value.detail


def test_relative_stack_and_chart_dirs_are_relative_to_the_config_file() -> None:
    write_config(GCP_TOML + 'stacks_dir = "infra/stacks"\n')
    env = load("dev", overrides={"charts_dir": "charts"}, cwd=Path.cwd() / "sub")
    s = env.settings
    assert isinstance(s, GcpSettings)
    assert s.stacks_dir == Path.cwd() / "infra" / "stacks"  # from the file: next to it
    assert s.charts_dir == Path.cwd() / "sub" / "charts"  # from a flag: where the command runs


def test_gcp_deploys_require_signed_commits_by_default_with_trust_files_in_the_repo() -> None:
    write_config(GCP_TOML)
    s = load("dev").settings
    assert isinstance(s, GcpSettings)
    assert s.require_signed_commits is True
    assert s.trust_files.allowed_signers == Path(".github/allowed_signers")
    assert s.trust_files.keyring == Path(".github/signing-keys.asc")


def test_signature_settings_can_be_changed_and_bad_paths_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(GCP_TOML + 'allowed_signers = "trust/signers"\n')
    monkeypatch.setenv("SREPLAT_REQUIRE_SIGNED_COMMITS", "false")
    s = load("dev").settings
    assert isinstance(s, GcpSettings)
    assert (s.require_signed_commits, s.allowed_signers) == (False, Path("trust/signers"))

    with pytest.raises(ConfigError, match=r"signing_keyring.*inside the repository"):
        load("dev", overrides={"signing_keyring": "../outside.asc"})
