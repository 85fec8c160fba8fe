"""Environments: which target runs where, with which settings (DESIGN §3).

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

``load_environment`` is the entry point; it returns an ``Environment``: the validated settings
(``LocalSettings`` or ``GcpSettings``) plus the paths derived from them (project root, state dir).

Importing this module imports pydantic-settings (~0.2 s), so the CLI imports it only inside
commands, never for ``--help``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sreplat.errors import ConfigError, UsageError

CONFIG_FILE_NAME = "sreplat.toml"
STATE_DIR_NAME = ".sreplat"
DEFAULT_ENV = "local"
ENV_PREFIX = "SREPLAT_"
# Variables that select *which* configuration to load; they are not settings of an environment.
ENV_VAR_ENV = "SREPLAT_ENV"
ENV_VAR_CONFIG = "SREPLAT_CONFIG"
ENV_VAR_STATE_ROOT = "SREPLAT_STATE_ROOT"

# Environment names end up in resource names (``sreplat-<env>`` clusters, zones, repositories).
_ENV_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]{1,2}$")
_ZONE = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]{1,2}-[a-z]$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_RESOURCE_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_CLUSTER_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


# --- value validators (raise ValueError with the expectation; the loader adds key and value) ---


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


def _project_id(value: str) -> str:
    if not _PROJECT_ID.match(value):
        raise ValueError(
            "a GCP project id: 6-30 characters of a-z, 0-9 and '-', starting with a letter, "
            "not ending with '-'"
        )
    return value


def _region(value: str) -> str:
    if _ZONE.match(value):
        raise ValueError(f"a GCP region such as us-central1, not a zone (try {value.rsplit('-', 1)[0]!r})")
    if not _REGION.match(value):
        raise ValueError("a GCP region such as us-central1 or asia-south1")
    return value


def _hostname(value: str) -> str:
    host = value.rstrip(".")
    labels = host.split(".")
    if (
        len(host) > 253
        or len(labels) < 2
        or not all(_DNS_LABEL.match(label) for label in labels)
        or not labels[-1].isalpha()
    ):
        raise ValueError("a lower-case DNS name such as dev.example.com")
    return host


def _resource_name(value: str) -> str:
    if not _RESOURCE_NAME.match(value):
        raise ValueError("1-63 characters of a-z, 0-9 and '-', starting with a letter, not ending with '-'")
    return value


def _cluster_name(value: str) -> str:
    if not _CLUSTER_NAME.match(value):
        raise ValueError("1-40 characters of a-z, 0-9 and '-', starting with a letter, not ending with '-'")
    return value


def _bucket_name(value: str) -> str:
    if not _BUCKET.match(value) or value.startswith("goog") or ".." in value:
        raise ValueError("a GCS bucket name: 3-63 characters of a-z, 0-9, '-', '_' and '.'")
    return value


def _loopback_or_any(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("an IPv4 address such as 127.0.0.1") from None
    return value


def _github_repository(value: str) -> str:
    if not _GITHUB_REPO.match(value):
        raise ValueError("a GitHub repository as owner/name")
    return value


def _resolvers(value: str) -> str:
    for item in (part.strip() for part in value.split(",")):
        host, _, port = item.partition(":")
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError("comma-separated IPv4 addresses, each with an optional :port") from None
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError("comma-separated IPv4 addresses, each with an optional :port")
    return value


Port = Annotated[int, Field(ge=1024, le=65535)]
ProjectId = Annotated[str, AfterValidator(_project_id)]
Region = Annotated[str, AfterValidator(_region)]
Hostname = Annotated[str, AfterValidator(_hostname)]
ResourceName = Annotated[str, AfterValidator(_resource_name)]
ClusterName = Annotated[str, AfterValidator(_cluster_name)]
BucketName = Annotated[str, AfterValidator(_bucket_name)]
IPv4 = Annotated[str, AfterValidator(_loopback_or_any)]
GithubRepository = Annotated[str, AfterValidator(_github_repository)]
Resolvers = Annotated[str, AfterValidator(_resolvers)]


# --- the settings models -----------------------------------------------------------------------


class _EnvironmentSettings(BaseSettings):
    """Keys common to every target. ``name`` is the table name; the loader sets it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True, case_sensitive=False
    )
    TARGET: ClassVar[str]

    name: str
    protected: bool = Field(False, description="refuse `destroy` unless --force-protected")
    repo: Path | None = Field(
        None, description="git repository deploys take the apps from (default: the project root)"
    )


class LocalSettings(_EnvironmentSettings):
    """The ``local`` target: supervisord + redis-server + the bundled apps on this machine."""

    TARGET: ClassVar[str] = "local"

    target: Literal["local"] = "local"
    api_host: IPv4 = Field("127.0.0.1", description="address the API listens on")
    api_port: Port = 8080
    redis_port: Port = 6379
    worker_metrics_port: Port = Field(9100, description="metrics port of worker 1; worker N uses +N-1")
    workers: int = Field(2, ge=1, le=16, description="RQ worker processes (one supervisord program each)")
    api_workers: int = Field(2, ge=1, le=32, description="gunicorn worker processes of the API")
    apps_dir: str = Field("apps/src", description="directory of the repo holding the apps' import package")
    keep_releases: int = Field(5, ge=1, le=100, description="release directories kept after a deploy")
    ready_timeout_s: float = Field(120.0, gt=0, le=3600, description="how long to wait for readiness")

    @property
    def worker_ports(self) -> tuple[int, ...]:
        return tuple(self.worker_metrics_port + i for i in range(self.workers))

    @property
    def ports(self) -> dict[str, int]:
        """Every port this environment listens on, by what listens there."""
        named = {"api": self.api_port, "redis": self.redis_port}
        named.update({f"worker-{i + 1} metrics": port for i, port in enumerate(self.worker_ports)})
        return named

    @model_validator(mode="after")
    def _distinct_ports(self) -> LocalSettings:
        seen: dict[int, str] = {}
        for what, port in self.ports.items():
            if port > 65535:
                raise ValueError(f"{what} port {port} is above 65535: lower worker_metrics_port")
            if port in seen:
                raise ValueError(f"{what} and {seen[port]} would both use port {port}")
            seen[port] = what
        return self


class GcpSettings(_EnvironmentSettings):
    """The ``gcp`` target: GKE Autopilot, Artifact Registry, Cloud DNS, Terraform state in GCS.

    Resource names default from the environment name (``sreplat-<env>``) and the project.
    """

    TARGET: ClassVar[str] = "gcp"

    target: Literal["gcp"]
    project: ProjectId
    region: Region
    domain: Hostname = Field(description="DNS zone the platform's hosts live in")
    protected: bool = Field(True, description="refuse `destroy` unless --force-protected")
    api_host: Hostname = Field(description="public host of the API (default: api.<domain>)")
    cluster_name: ClusterName = Field(description="GKE cluster (default: sreplat-<env>)")
    network_name: ResourceName = Field(description="VPC network (default: sreplat-<env>)")
    dns_zone: ResourceName = Field(description="Cloud DNS managed zone (default: sreplat-<env>)")
    repository: ResourceName = Field(description="Artifact Registry repository (default: sreplat-<env>)")
    state_bucket: BucketName = Field(
        description="GCS bucket of Terraform state (default: <project>-sreplat-tfstate)"
    )
    state_prefix: str = Field(
        description="prefix of this environment's state in the bucket (default: sreplat/<env>)"
    )
    github_repository: GithubRepository | None = Field(
        None, description="owner/name whose GitHub Actions may deploy (Workload Identity Federation)"
    )
    image_builder: Literal["auto", "docker", "cloudbuild"] = Field(
        "auto", description="where images are built: auto = the local Docker engine if it answers"
    )
    dns_resolvers: Resolvers = Field(
        "8.8.8.8,1.1.1.1", description="public resolvers `status` asks (comma-separated IP[:port])"
    )
    ready_timeout_s: float = Field(900.0, gt=0, le=7200, description="how long rollouts may take")
    stacks_dir: Path | None = Field(None, description="Terraform stacks (default: terraform/stacks)")
    charts_dir: Path | None = Field(None, description="Helm charts (default: helm)")

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("name", "")
        base = f"sreplat-{name}"
        defaults = {
            "cluster_name": base,
            "network_name": base,
            "dns_zone": base,
            "repository": base,
            "state_prefix": f"sreplat/{name}",
        }
        if isinstance(data.get("domain"), str):
            defaults["api_host"] = f"api.{data['domain'].rstrip('.')}"
        if isinstance(data.get("project"), str):
            defaults["state_bucket"] = f"{data['project']}-sreplat-tfstate"
        return {**defaults, **data}


EnvironmentSettings = LocalSettings | GcpSettings
_BY_TARGET: dict[str, type[_EnvironmentSettings]] = {"local": LocalSettings, "gcp": GcpSettings}


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
        return self.settings.target

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


def _with_table(base: type[_EnvironmentSettings], table: Mapping[str, Any]) -> type[_EnvironmentSettings]:
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
    config_file: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Environment:
    """Load and validate one environment.

    ``name`` defaults to ``$SREPLAT_ENV`` then ``local``; ``config_file`` to ``$SREPLAT_CONFIG``
    then the nearest ``sreplat.toml``. ``local`` exists without any file. Raises UsageError for an
    unknown environment and ConfigError for an invalid value. Creates nothing.
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
        overrides.get("target") or os.environ.get(f"{ENV_PREFIX}TARGET") or table.get("target") or "local"
    )
    model = _BY_TARGET.get(target)
    if model is None:
        raise ConfigError(
            f"environment {name!r}: target = {target!r}: expected one of {', '.join(sorted(_BY_TARGET))}"
        )
    project_root = config_file.parent if config_file else find_project_root(cwd)
    try:
        values: dict[str, Any] = {**overrides, "name": name}
        settings = _with_table(model, table)(**values)
    except ValidationError as exc:
        raise _config_error(exc, name, table, overrides, config_file) from None
    for key in ("repo", "stacks_dir", "charts_dir"):
        path = getattr(settings, key, None)
        if path is not None and not path.is_absolute():
            # Relative to the file that says it, or to where the user runs the command.
            settings = settings.model_copy(update={key: (project_root if key in table else cwd) / path})
    return Environment(
        name=name,
        settings=settings,  # type: ignore[arg-type]
        config_file=config_file,
        project_root=project_root,
        state_dir=state_root(project_root) / name,
    )


def _config_error(
    exc: ValidationError,
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
        base = _DERIVED_FROM.get(key)
        if base in failed_keys and key not in table and key not in overrides:
            continue  # a default derived from a bad or missing value: report the value, not this
        msg = str(error["msg"]).removeprefix("Value error, ")
        if not key:  # a check across keys (distinct ports, ...)
            lines.append(f"environment {name!r}: {msg}")
            continue
        if error["type"] == "extra_forbidden":
            source = _source(key, table, overrides, config_file)
            lines.append(f"environment {name!r}: unknown key {key!r} ({source})")
            continue
        if error["type"] == "missing":
            lines.append(
                f"environment {name!r}: {key} is required "
                f"(set it in [environments.{name}] or {ENV_PREFIX}{key.upper()})"
            )
            continue
        value = error.get("input")
        source = _source(key, table, overrides, config_file)
        lines.append(f"environment {name!r}: {key} = {value!r} ({source}): expected {_expectation(msg)}")
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    return ConfigError(lines[0] + more, detail="\n".join(lines))


# Keys whose default is derived from another key.
_DERIVED_FROM = {"api_host": "domain", "state_bucket": "project"}


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
