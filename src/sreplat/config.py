"""Environments: loading, precedence and error wording (DESIGN §3) — the same for every target.

An environment is a named table in ``sreplat.toml``::

    [environments.local]          # the embedded default; needs no file at all
    target = "local"
    api_port = 8080

    [environments.dev]
    target = "gcp"
    project = "acme-sre-dev"
    region = "asia-south1"
    domain = "dev.acme.example"

Every key can also come from an ``SREPLAT_<KEY>`` environment variable and from a flag
(``--set key=value``); precedence is flag > environment variable > file > default. Values are
validated when loaded: a bad one raises ``ConfigError`` (exit 2) naming the key, the value, where
it came from and what was expected, before anything is created.

What keys a target has is its own business: each target package holds its ``Settings`` model
(a subclass of :class:`EnvironmentSettings`) and registers it in ``sreplat.targets``; the loader
asks that registry (:class:`SettingsRegistry`) for the model the ``target`` key names.
``load_environment`` is the entry point; it returns an ``Environment``: the validated settings
plus the paths derived from them (project root, state dir).

Importing this module imports pydantic-settings (~0.2 s), so the CLI imports it only inside
commands, never for ``--help``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sreplat.errors import ConfigError, UsageError

CONFIG_FILE_NAME = "sreplat.toml"
STATE_DIR_NAME = ".sreplat"
DEFAULT_ENV = "local"
DEFAULT_TARGET = "local"
ENV_PREFIX = "SREPLAT_"
# Variables that select *which* configuration to load; they are not settings of an environment.
ENV_VAR_ENV = "SREPLAT_ENV"
ENV_VAR_CONFIG = "SREPLAT_CONFIG"
ENV_VAR_STATE_ROOT = "SREPLAT_STATE_ROOT"

# Environment names end up in resource names (``sreplat-<env>`` clusters, zones, repositories).
_ENV_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")


def validate_env_name(name: str) -> str:
    """An environment name: 1-20 of a-z, 0-9 and '-', starting with a letter. UsageError otherwise."""
    if not _ENV_NAME.match(name):
        raise UsageError(
            f"invalid environment name {name!r}: expected 1-20 characters of a-z, 0-9 and '-', "
            "starting with a letter and not ending with '-'"
        )
    return name


def parse_sha(value: str) -> str:
    """A commit SHA as typed by a user: 7 to 40 hex digits, lower-cased. UsageError otherwise.

    Whether it names a commit is for ``tools.git.resolve_sha`` to say.
    """
    if not _SHA.match(value.strip()):
        raise UsageError(f"invalid SHA {value!r}: expected 7 to 40 hexadecimal digits")
    return value.strip().lower()


# --- what every target's settings have in common -------------------------------------------------


class EnvironmentSettings(BaseSettings):
    """Keys common to every target; each target's ``Settings`` model adds its own.

    ``name`` is the table name (the loader sets it). A subclass sets ``TARGET`` and a
    ``target: Literal[...]`` field, and may declare ``RELATIVE_PATHS`` (path keys resolved against
    the file that sets them, else the working directory) and ``DERIVED_FROM`` (keys whose default
    derives from another key: when that key is bad or missing, only it is reported).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True, case_sensitive=False
    )
    TARGET: ClassVar[str]
    RELATIVE_PATHS: ClassVar[tuple[str, ...]] = ("repo",)
    DERIVED_FROM: ClassVar[Mapping[str, str]] = {}

    name: str
    protected: bool = Field(False, description="refuse `destroy` unless --force-protected")
    repo: Path | None = Field(
        None, description="git repository deploys take the apps from (default: the project root)"
    )


class SettingsRegistry(Protocol):
    """Which targets exist and the settings model of each (``sreplat.targets.REGISTRY``)."""

    def names(self) -> tuple[str, ...]: ...

    def settings_model(self, target: str) -> type[EnvironmentSettings]: ...


@dataclass(frozen=True)
class Environment:
    """A loaded, validated environment and the paths that follow from it.

    ``state_dir`` is where this environment's state lives (``<state root>/<name>``); it is only a
    path here: loading never creates it.
    """

    name: str
    settings: EnvironmentSettings
    config_file: Path | None
    project_root: Path
    state_dir: Path

    @property
    def target(self) -> str:
        return self.settings.TARGET

    @property
    def repo(self) -> Path:
        """The git repository deploys and image builds read (``repo`` or the project root)."""
        return self.settings.repo or self.project_root


# --- loading -----------------------------------------------------------------------------------


class _TableSource(PydanticBaseSettingsSource):
    """A settings source over one already-parsed TOML table (the lowest-priority source)."""

    def __init__(self, settings_cls: type[BaseSettings], table: Mapping[str, Any]):
        super().__init__(settings_cls)
        self._table = dict(table)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._table.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._table)


def _with_table(base: type[EnvironmentSettings], table: Mapping[str, Any]) -> type[EnvironmentSettings]:
    """``base`` with ``table`` as its file source, below env vars and init values (flags)."""

    class _Loaded(base):  # type: ignore[valid-type,misc]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _TableSource(settings_cls, table))

    _Loaded.__name__ = base.__name__
    return _Loaded


def find_config_file(start: Path) -> Path | None:
    """``sreplat.toml`` in ``start`` or its parents, stopping at the top of a git work tree."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILE_NAME
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def find_project_root(start: Path) -> Path:
    """The top of the git work tree containing ``start``, else ``start`` itself."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def state_root(project_root: Path) -> Path:
    """``$SREPLAT_STATE_ROOT`` when set, else ``<project root>/.sreplat``."""
    override = os.environ.get(ENV_VAR_STATE_ROOT, "").strip()
    return Path(override).expanduser().resolve() if override else project_root / STATE_DIR_NAME


def read_config_file(path: Path) -> dict[str, dict[str, Any]]:
    """The ``[environments.*]`` tables of ``path``; ConfigError when the file is unusable."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"environments"})
    if unknown:
        raise ConfigError(
            f"{path}: unknown top-level key {unknown[0]!r}; expected [environments.<name>] tables"
        )
    environments = document.get("environments", {})
    if not isinstance(environments, dict) or not all(isinstance(t, dict) for t in environments.values()):
        raise ConfigError(f"{path}: 'environments' must hold [environments.<name>] tables")
    for name in environments:
        try:
            validate_env_name(name)
        except UsageError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None
    return environments


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["api_port=8081", ...]`` from ``--set`` flags → ``{"api_port": "8081"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def load_environment(
    name: str | None = None,
    *,
    registry: SettingsRegistry,
    config_file: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Environment:
    """Load and validate one environment.

    ``name`` defaults to ``$SREPLAT_ENV`` then ``local``; ``config_file`` to ``$SREPLAT_CONFIG``
    then the nearest ``sreplat.toml``. ``local`` exists without any file. ``registry`` gives the
    settings model of the target the environment names. Raises UsageError for an unknown
    environment and ConfigError for an invalid value. Creates nothing.
    """
    cwd = (cwd or Path.cwd()).resolve()
    name = validate_env_name(name or os.environ.get(ENV_VAR_ENV) or DEFAULT_ENV)
    explicit = config_file or (Path(os.environ[ENV_VAR_CONFIG]) if os.environ.get(ENV_VAR_CONFIG) else None)
    if explicit is not None:
        config_file = (cwd / explicit.expanduser()).resolve()
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} does not exist")
    else:
        config_file = find_config_file(cwd)
    tables = read_config_file(config_file) if config_file else {}
    if name not in tables and name != DEFAULT_ENV:
        known = ", ".join(sorted({DEFAULT_ENV, *tables}))
        where = f" in {config_file}" if config_file else " (no sreplat.toml found)"
        raise UsageError(f"unknown environment {name!r}{where}; known: {known}")
    table = dict(tables.get(name, {}))
    if "name" in table:
        raise ConfigError(
            f"{config_file}: [environments.{name}] must not set 'name' (the table name is the name)"
        )
    overrides = dict(overrides or {})
    if "name" in overrides:
        raise UsageError("--set name=... is not allowed: choose the environment with --env")
    target = str(
        overrides.get("target")
        or os.environ.get(f"{ENV_PREFIX}TARGET")
        or table.get("target")
        or DEFAULT_TARGET
    )
    if target not in registry.names():
        raise ConfigError(
            f"environment {name!r}: target = {target!r}: "
            f"expected one of {', '.join(sorted(registry.names()))}"
        )
    model = registry.settings_model(target)
    project_root = config_file.parent if config_file else find_project_root(cwd)
    try:
        values: dict[str, Any] = {**overrides, "name": name}
        settings = _with_table(model, table)(**values)
    except ValidationError as exc:
        raise _config_error(
            exc, model, name=name, table=table, overrides=overrides, config_file=config_file
        ) from None
    for key in model.RELATIVE_PATHS:
        path = getattr(settings, key, None)
        if path is not None and not path.is_absolute():
            # Relative to the file that says it, or to where the user runs the command.
            settings = settings.model_copy(update={key: (project_root if key in table else cwd) / path})
    return Environment(
        name=name,
        settings=settings,
        config_file=config_file,
        project_root=project_root,
        state_dir=state_root(project_root) / name,
    )


def _config_error(
    exc: ValidationError,
    model: type[EnvironmentSettings],
    *,
    name: str,
    table: Mapping[str, Any],
    overrides: Mapping[str, str],
    config_file: Path | None,
) -> ConfigError:
    lines = []
    errors = exc.errors()
    failed_keys = {str(e["loc"][0]) for e in errors if e["loc"]}
    for error in errors:
        key = str(error["loc"][0]) if error["loc"] else ""
        # A structured key's part: cloud_armor.process_requests_per_minute, networks.0.cidr_block.
        where = ".".join(str(part) for part in error["loc"])
        base = model.DERIVED_FROM.get(key)
        if base in failed_keys and key not in table and key not in overrides:
            continue  # a default derived from a bad or missing value: report the value, not this
        msg = str(error["msg"]).removeprefix("Value error, ")
        if not key:  # a check across keys (distinct ports, ...)
            lines.append(f"environment {name!r}: {msg}")
            continue
        if error["type"] == "extra_forbidden":
            source = _source(key, table, overrides, config_file)
            lines.append(f"environment {name!r}: unknown key {where!r} ({source})")
            continue
        if error["type"] == "missing":
            lines.append(
                f"environment {name!r}: {key} is required "
                f"(set it in [environments.{name}] or {ENV_PREFIX}{key.upper()})"
            )
            continue
        value = error.get("input")
        source = _source(key, table, overrides, config_file)
        lines.append(f"environment {name!r}: {where} = {value!r} ({source}): expected {_expectation(msg)}")
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    return ConfigError(lines[0] + more, detail="\n".join(lines))


def _expectation(msg: str) -> str:
    # pydantic says "Input should be ..."; we say "expected ...".
    return msg.removeprefix("Input should be ").removeprefix("input should be ")


def _source(
    key: str, table: Mapping[str, Any], overrides: Mapping[str, str], config_file: Path | None
) -> str:
    if key in overrides:
        return f"from --set {key}"
    env_var = f"{ENV_PREFIX}{key.upper()}"
    if env_var in os.environ:
        return f"from {env_var}"
    if key in table:
        return f"from {config_file}"
    return "default"
