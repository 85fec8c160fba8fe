"""Loading environments: defaults, precedence, strict validation, and that loading creates nothing.

The loader is generic: it asks the target registry for the settings model. The local target's
model serves as the example here; each target's own keys are tested with its package
(tests/unit/targets/<target>/test_settings.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from pydantic import Field

from sreplat.config import (
    Environment,
    EnvironmentSettings,
    load_environment,
    parse_overrides,
    parse_sha,
    validate_env_name,
)
from sreplat.errors import ConfigError, ExitCode, UsageError
from sreplat.targets import REGISTRY, Registration, TargetRegistry
from sreplat.targets.local.settings import LocalSettings

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


def load(name: str | None = None, **kwargs: Any) -> Environment:
    return load_environment(name, registry=REGISTRY, **kwargs)


def write_config(text: str) -> Path:
    path = Path.cwd() / "sreplat.toml"
    path.write_text(text)
    return path


def test_local_needs_no_file_and_has_documented_defaults(tmp_path: Path) -> None:
    env = load()
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
    env = load(cwd=sub)
    assert env.project_root == Path.cwd()
    assert env.state_dir == Path.cwd() / ".sreplat" / "local"


def test_flag_beats_env_var_beats_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config("[environments.local]\napi_port = 8001\nredis_port = 7001\nworkers = 3\n")
    monkeypatch.setenv("SREPLAT_API_PORT", "8002")
    monkeypatch.setenv("SREPLAT_REDIS_PORT", "7002")
    env = load(overrides={"api_port": "8003"})
    assert isinstance(env.settings, LocalSettings)
    assert env.settings.api_port == 8003  # flag
    assert env.settings.redis_port == 7002  # env var
    assert env.settings.workers == 3  # file


def test_unrelated_sreplat_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # The apps read SREPLAT_QUEUE and SREPLAT_RELEASE; they are not settings of an environment.
    monkeypatch.setenv("SREPLAT_QUEUE", "other")
    monkeypatch.setenv("SREPLAT_RELEASE", "x")
    assert load().name == "local"


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
        load(overrides=overrides)
    assert info.value.exit_code == ExitCode.USAGE
    for fragment in fragments:
        assert fragment in info.value.message


def test_bad_value_from_env_var_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SREPLAT_REDIS_PORT", "99999")
    with pytest.raises(ConfigError) as info:
        load()
    assert "from SREPLAT_REDIS_PORT" in info.value.message and "'99999'" in info.value.message


def test_bad_value_from_file_names_the_file() -> None:
    path = write_config("[environments.local]\nworkers = 100\n")
    with pytest.raises(ConfigError) as info:
        load()
    assert str(path) in info.value.message and "workers = 100" in info.value.message


def test_unknown_environment_is_a_usage_error_listing_known_ones() -> None:
    write_config(GCP_TOML)
    with pytest.raises(UsageError) as info:
        load("prod")
    assert "unknown environment 'prod'" in info.value.message
    assert "dev, local" in info.value.message


@pytest.mark.parametrize("text", ["[environments.local\n", "[other]\nx = 1\n", "environments = 3\n"])
def test_broken_config_files_are_config_errors(text: str) -> None:
    write_config(text)
    with pytest.raises(ConfigError):
        load()


def test_explicit_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(config_file=Path("nope.toml"))


def test_keys_of_the_other_target_are_unknown() -> None:
    write_config('[environments.local]\nproject = "acme-sre-dev"\n')
    with pytest.raises(ConfigError, match="unknown key 'project'"):
        load()


def test_unknown_target() -> None:
    write_config('[environments.x]\ntarget = "aws"\n')
    with pytest.raises(ConfigError, match="target = 'aws': expected one of gcp, local"):
        load("x")


class ToySettings(EnvironmentSettings):
    """A third target's settings, known only to the registry below."""

    TARGET: ClassVar[str] = "toy"
    target: Literal["toy"]
    size: int = Field(1, ge=1, le=3)


def test_a_new_target_needs_only_a_registry_entry() -> None:
    registry = TargetRegistry(
        {"toy": Registration(settings=f"{__name__}:ToySettings", target=f"{__name__}:ToySettings")}
    )
    write_config('[environments.t]\ntarget = "toy"\nsize = 2\n')
    env = load_environment("t", registry=registry)
    assert env.target == "toy" and isinstance(env.settings, ToySettings) and env.settings.size == 2
    with pytest.raises(
        ConfigError, match=r"size = '4' \(from --set size\): expected less than or equal to 3"
    ):
        load_environment("t", registry=registry, overrides={"size": "4"})
    write_config('[environments.t]\ntarget = "local"\n')
    with pytest.raises(ConfigError, match="target = 'local': expected one of toy"):
        load_environment("t", registry=registry)


def test_relative_repo_is_relative_to_the_config_file() -> None:
    write_config('[environments.local]\nrepo = "code"\n')
    env = load(cwd=Path.cwd())
    assert env.repo == Path.cwd() / "code"


def test_name_cannot_be_set() -> None:
    with pytest.raises(UsageError):
        load(overrides={"name": "x"})


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


# --- strict types (issue 15, defect 5): TOML values carry their type; env vars and flags are text ---


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        ("api_port = 18080.0", ["api_port = 18080.0", "expected a valid integer"]),
        ("api_port = true", ["api_port = true", "expected a valid integer"]),
        ('api_port = "18080"', ["api_port = '18080'", "expected a valid integer"]),
        ("workers = 2.0", ["workers = 2.0", "expected a valid integer"]),
        ("protected = 1", ["protected = 1", "expected a valid boolean"]),
        ('protected = "yes"', ["protected = 'yes'", "expected a valid boolean"]),
        ("ready_timeout_s = true", ["ready_timeout_s = true", "expected a valid number"]),
    ],
)
def test_file_values_of_the_wrong_type_are_type_errors(line: str, fragments: list[str]) -> None:
    write_config(f"[environments.local]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load()
    assert info.value.exit_code == ExitCode.USAGE
    for fragment in fragments:
        assert fragment in info.value.message
    assert "greater than" not in info.value.message  # a type message, never a range message


def test_file_values_of_the_right_type_load() -> None:
    write_config("[environments.local]\napi_port = 18080\nprotected = true\nready_timeout_s = 30\n")
    settings = load().settings
    assert isinstance(settings, LocalSettings)
    assert (settings.api_port, settings.protected, settings.ready_timeout_s) == (18080, True, 30.0)
    assert type(settings.api_port) is int and type(settings.ready_timeout_s) is float


def test_text_from_env_vars_and_flags_is_parsed_by_the_field_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SREPLAT_REDIS_PORT", " 17001 ")
    monkeypatch.setenv("SREPLAT_PROTECTED", "TRUE")
    monkeypatch.setenv("SREPLAT_READY_TIMEOUT_S", "2.5")
    settings = load(overrides={"api_port": "18081", "workers": "3"}).settings
    assert isinstance(settings, LocalSettings)
    assert (settings.redis_port, settings.api_port, settings.workers) == (17001, 18081, 3)
    assert settings.protected is True and settings.ready_timeout_s == 2.5


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"api_port": "18080.0"}, ["api_port = '18080.0'", "--set api_port", "expected a valid integer"]),
        ({"api_port": "true"}, ["api_port = 'true'", "expected a valid integer"]),
        ({"protected": "maybe"}, ["protected = 'maybe'", "expected a valid boolean"]),
    ],
)
def test_text_that_is_not_of_the_field_type_is_a_type_error(
    overrides: dict[str, str], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        load(overrides=overrides)
    for fragment in fragments:
        assert fragment in info.value.message


# --- one machine, several environments: their ports must not clash (issue 15, defect 5) -----------

TWO_LOCAL = """
[environments.blue]
target = "local"
api_port = 18080
redis_port = 16379
worker_metrics_port = 19100
prometheus_port = 19090

[environments.green]
target = "local"
api_port = 28080
redis_port = {green_redis}
worker_metrics_port = 29100
prometheus_port = 29090
"""


@pytest.mark.parametrize("loaded", ["blue", "green", "dev"])
def test_a_port_two_environments_of_the_file_use_is_found_at_load(loaded: str) -> None:
    path = write_config(TWO_LOCAL.format(green_redis=18080) + GCP_TOML)
    with pytest.raises(ConfigError) as info:
        load(loaded)
    message = info.value.message
    assert info.value.exit_code == ExitCode.USAGE
    assert "'blue'" in message and "'green'" in message and "18080" in message
    assert "api" in message and "redis" in message  # what each of them runs on that port
    assert str(path) in message


def test_distinct_ports_across_environments_load() -> None:
    write_config(TWO_LOCAL.format(green_redis=26379) + GCP_TOML)
    assert load("blue").name == "blue" and load("green").name == "green" and load("dev").name == "dev"


def test_a_flag_moving_the_loaded_environment_onto_another_ones_port_is_refused() -> None:
    write_config(TWO_LOCAL.format(green_redis=26379))
    with pytest.raises(ConfigError, match=r"'blue' and 'green'.*28080"):
        load("blue", overrides={"api_port": "28080"})
    # ... and one moving it off a clash in the file is what the user asked for
    write_config(TWO_LOCAL.format(green_redis=18080))
    assert load("green", overrides={"redis_port": "26379"}).name == "green"


def test_env_vars_apply_to_the_loaded_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # SREPLAT_REDIS_PORT moves the environment being loaded; the others keep what the file says,
    # so the variable does not make every environment of the file clash with each other.
    write_config(TWO_LOCAL.format(green_redis=26379))
    monkeypatch.setenv("SREPLAT_REDIS_PORT", "36379")
    settings = load("blue").settings
    assert isinstance(settings, LocalSettings) and settings.redis_port == 36379
