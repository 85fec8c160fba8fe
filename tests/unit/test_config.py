"""Loading environments: defaults, precedence, strict validation, and that loading creates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sreplat.config import (
    GcpSettings,
    LocalSettings,
    load_environment,
    parse_overrides,
    parse_sha,
    validate_env_name,
)
from sreplat.errors import ConfigError, ExitCode, UsageError

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


def write_config(text: str) -> Path:
    path = Path.cwd() / "sreplat.toml"
    path.write_text(text)
    return path


def test_local_needs_no_file_and_has_documented_defaults(tmp_path: Path) -> None:
    env = load_environment()
    assert env.name == "local"
    assert env.config_file is None
    assert isinstance(env.settings, LocalSettings)
    assert (env.settings.api_port, env.settings.redis_port, env.settings.workers) == (8080, 6379, 2)
    assert env.state_dir == tmp_path / "state" / "local"
    assert not env.state_dir.exists()  # loading creates nothing


def test_state_root_defaults_to_dot_sreplat_in_the_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SREPLAT_STATE_ROOT")
    (Path.cwd() / ".git").mkdir()
    sub = Path.cwd() / "a" / "b"
    sub.mkdir(parents=True)
    env = load_environment(cwd=sub)
    assert env.project_root == Path.cwd()
    assert env.state_dir == Path.cwd() / ".sreplat" / "local"


def test_flag_beats_env_var_beats_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config("[environments.local]\napi_port = 8001\nredis_port = 7001\nworkers = 3\n")
    monkeypatch.setenv("SREPLAT_API_PORT", "8002")
    monkeypatch.setenv("SREPLAT_REDIS_PORT", "7002")
    env = load_environment(overrides={"api_port": "8003"})
    assert isinstance(env.settings, LocalSettings)
    assert env.settings.api_port == 8003  # flag
    assert env.settings.redis_port == 7002  # env var
    assert env.settings.workers == 3  # file


def test_unrelated_sreplat_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # The apps read SREPLAT_QUEUE and SREPLAT_RELEASE; they are not settings of an environment.
    monkeypatch.setenv("SREPLAT_QUEUE", "other")
    monkeypatch.setenv("SREPLAT_RELEASE", "x")
    assert load_environment().name == "local"


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"api_port": "80"}, ["api_port", "'80'", "--set api_port", "greater than or equal to 1024"]),
        ({"api_port": "http"}, ["api_port", "'http'", "integer"]),
        ({"workers": "0"}, ["workers", "'0'"]),
        ({"api_host": "localhost"}, ["api_host", "'localhost'", "IPv4"]),
        ({"worker_metrics_port": "8080"}, ["api", "8080"]),
        ({"api_prot": "1"}, ["unknown key 'api_prot'"]),
    ],
)
def test_bad_local_values_name_key_value_and_expectation(
    overrides: dict[str, str], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        load_environment(overrides=overrides)
    assert info.value.exit_code == ExitCode.USAGE
    for fragment in fragments:
        assert fragment in info.value.message


def test_bad_value_from_env_var_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SREPLAT_REDIS_PORT", "99999")
    with pytest.raises(ConfigError) as info:
        load_environment()
    assert "from SREPLAT_REDIS_PORT" in info.value.message and "'99999'" in info.value.message


def test_bad_value_from_file_names_the_file() -> None:
    path = write_config("[environments.local]\nworkers = 100\n")
    with pytest.raises(ConfigError) as info:
        load_environment()
    assert str(path) in info.value.message and "workers = 100" in info.value.message


def test_unknown_environment_is_a_usage_error_listing_known_ones() -> None:
    write_config(GCP_TOML)
    with pytest.raises(UsageError) as info:
        load_environment("prod")
    assert "unknown environment 'prod'" in info.value.message
    assert "dev, local" in info.value.message


@pytest.mark.parametrize("text", ["[environments.local\n", "[other]\nx = 1\n", "environments = 3\n"])
def test_broken_config_files_are_config_errors(text: str) -> None:
    write_config(text)
    with pytest.raises(ConfigError):
        load_environment()


def test_explicit_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_environment(config_file=Path("nope.toml"))


def test_gcp_environment_with_derived_defaults() -> None:
    write_config(GCP_TOML)
    env = load_environment("dev")
    s = env.settings
    assert isinstance(s, GcpSettings)
    assert s.protected is True  # gcp environments are protected unless they say otherwise
    assert (s.cluster_name, s.dns_zone, s.repository, s.network_name) == ("sreplat-dev",) * 4
    assert s.api_host == "api.dev.acme.example"
    assert s.state_bucket == "acme-sre-dev-sreplat-tfstate"
    assert s.state_prefix == "sreplat/dev"


def test_gcp_explicit_names_win_over_derived_ones() -> None:
    write_config(GCP_TOML + 'cluster_name = "blue"\napi_host = "x.dev.acme.example"\n')
    s = load_environment("dev").settings
    assert isinstance(s, GcpSettings)
    assert (s.cluster_name, s.api_host) == ("blue", "x.dev.acme.example")


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
        ("cluster_name", "x" * 41, "1-40 characters"),
        ("state_bucket", "goog-bucket", "bucket"),
    ],
)
def test_gcp_values_are_validated_strictly(key: str, value: str, expected: str) -> None:
    write_config(GCP_TOML)
    with pytest.raises(ConfigError) as info:
        load_environment("dev", overrides={key: value})
    assert f"{key} = {value!r}" in info.value.message
    assert expected in info.value.message


def test_missing_gcp_keys_are_reported_without_noise_from_derived_ones() -> None:
    write_config('[environments.dev]\ntarget = "gcp"\nregion = "us-central1"\n')
    with pytest.raises(ConfigError) as info:
        load_environment("dev")
    assert "project is required" in info.value.message
    assert info.value.detail is not None
    assert "domain is required" in info.value.detail
    assert "api_host" not in info.value.detail and "state_bucket" not in info.value.detail


def test_keys_of_the_other_target_are_unknown() -> None:
    write_config('[environments.local]\nproject = "acme-sre-dev"\n')
    with pytest.raises(ConfigError, match="unknown key 'project'"):
        load_environment()


def test_unknown_target() -> None:
    write_config('[environments.x]\ntarget = "aws"\n')
    with pytest.raises(ConfigError, match="target = 'aws'"):
        load_environment("x")


def test_relative_repo_is_relative_to_the_config_file() -> None:
    write_config('[environments.local]\nrepo = "code"\n')
    env = load_environment(cwd=Path.cwd())
    assert env.repo == Path.cwd() / "code"


def test_name_cannot_be_set() -> None:
    with pytest.raises(UsageError):
        load_environment(overrides={"name": "x"})


@pytest.mark.parametrize("name", ["Local", "1env", "a" * 21, "dev-", "d_v", ""])
def test_environment_names_are_validated(name: str) -> None:
    with pytest.raises(UsageError):
        validate_env_name(name)


@pytest.mark.parametrize("good", ["abcdef1", "ABCDEF1234", "a" * 40])
def test_parse_sha_accepts_hex(good: str) -> None:
    assert parse_sha(good) == good.lower()


@pytest.mark.parametrize("bad", ["abc", "HEAD", "g" * 7, "a" * 41, "-rf", "abc def0"])
def test_parse_sha_rejects_anything_else(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_sha(bad)


def test_parse_overrides() -> None:
    assert parse_overrides(["api-port=1", "x= y "]) == {"api_port": "1", "x": " y "}
    with pytest.raises(UsageError):
        parse_overrides(["novalue"])
