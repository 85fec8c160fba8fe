"""The gcp target's settings: the ``Settings`` model of ``[environments.<name>]`` tables with
``target = "gcp"``.

Resource names are not settings: the Terraform stacks name the cluster, network, DNS zone and
Artifact Registry repository ``sreplat-<env>``, so sreplat does too (``cluster_name`` ...). The
environment name must therefore fit the stacks (1-12 characters), and the API host must be one
label under the domain (the DNS zone covers the domain only).

Structured keys (``master_authorized_networks``, ``cloud_armor``, ``github_environments``) are TOML
values in ``sreplat.toml``; from ``SREPLAT_<KEY>`` or ``--set key=...`` they are JSON. Their rules
are the Terraform variables' own (terraform/modules/{iam,gke_autopilot,ingress}/variables.tf), so a
bad value stops here, before any plan.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)
from pydantic_settings import NoDecode

from sreplat.config import EnvironmentSettings
from sreplat.tools.signatures import CommitTrustSettings

# The Terraform stacks accept environment names of 1-12 characters (variables.tf): resource
# names derive from them (sreplat-<env>-...) and GCP limits their length.
MAX_ENV_NAME = 12

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]{1,2}$")
_ZONE = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]{1,2}-[a-z]$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_GITHUB_ID = re.compile(r"^[1-9][0-9]{0,19}$")
_GITHUB_ENVIRONMENT = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")


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


def _bucket_name(value: str) -> str:
    if not _BUCKET.match(value) or value.startswith("goog") or ".." in value:
        raise ValueError("a GCS bucket name: 3-63 characters of a-z, 0-9, '-', '_' and '.'")
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


_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")
_SMARTHOST = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")


def _webhook(value: str) -> str:
    if not re.match(r"^https?://[^\s]+$", value):
        raise ValueError("an http(s) URL")
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("an email address")
    return value


def _smarthost(value: str) -> str:
    if not _SMARTHOST.match(value):
        raise ValueError("host:port of an SMTP server, such as smtp.example.com:587")
    return value


def _env_var(value: str) -> str:
    if not _ENV_VAR.match(value):
        raise ValueError("the name of an environment variable, such as SREPLAT_SMTP_PASSWORD")
    return value


def _github_id(value: str) -> str:
    if not _GITHUB_ID.match(value):
        raise ValueError("a GitHub numeric id (digits only: the API's .id / .owner.id)")
    return value


def _github_environment(value: str) -> str:
    if not _GITHUB_ENVIRONMENT.match(value):
        raise ValueError("GitHub environment names use letters, digits, '.', '_' and '-'")
    return value


def _id_text(value: Any) -> Any:
    """A TOML integer id is the same id as its digits."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError:
        raise ValueError("an IPv4 CIDR block such as 203.0.113.0/24") from None
    if network.prefixlen == 0:
        raise ValueError("0.0.0.0/0 (the whole internet) is refused")
    return str(network)


def _json_text(value: Any) -> Any:
    """Structured keys arrive as TOML values from the file, as JSON text from --set."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError('JSON, e.g. [{"cidr_block": "203.0.113.0/24", ...}]') from None
    return value


ProjectId = Annotated[str, AfterValidator(_project_id)]
Region = Annotated[str, AfterValidator(_region)]
Hostname = Annotated[str, AfterValidator(_hostname)]
BucketName = Annotated[str, AfterValidator(_bucket_name)]
GithubRepository = Annotated[str, AfterValidator(_github_repository)]
WebhookUrl = Annotated[str, AfterValidator(_webhook)]
Email = Annotated[str, AfterValidator(_email)]
Smarthost = Annotated[str, AfterValidator(_smarthost)]
EnvVarName = Annotated[str, AfterValidator(_env_var)]
Resolvers = Annotated[str, AfterValidator(_resolvers)]
GithubId = Annotated[
    str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v), AfterValidator(_github_id)
]
GithubEnvironment = Annotated[str, AfterValidator(_github_environment)]
Cidr = Annotated[str, AfterValidator(_cidr)]
# NoDecode: SREPLAT_<KEY> reaches _json_text as text, so bad JSON is a validation error of the key.
StructuredJson = (NoDecode, BeforeValidator(_json_text))


class AuthorizedNetwork(BaseModel):
    """A network allowed to reach the control plane's IP endpoint (sreplat itself never needs one:
    it goes through the DNS-based endpoint)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cidr_block: Cidr
    display_name: str = Field(min_length=1, max_length=100)


class CloudArmor(BaseModel):
    """The optional Cloud Armor policy on the API: a per-client-IP rate limit of POST /process."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Strict like every key of sreplat.toml: ``enabled = 1`` is a type error, not True.
    enabled: StrictBool = False
    process_requests_per_minute: StrictInt = Field(600, ge=1, le=100000)


class GcpSettings(EnvironmentSettings, CommitTrustSettings):
    """The ``gcp`` target: GKE Autopilot, Artifact Registry, Cloud DNS, Terraform state in GCS.

    ``api_host``, ``state_bucket`` and ``state_prefix`` default from the domain, the project and
    the environment name.
    """

    TARGET: ClassVar[str] = "gcp"
    RELATIVE_PATHS: ClassVar[tuple[str, ...]] = ("repo", "stacks_dir", "charts_dir", "slo_dir")
    DERIVED_FROM: ClassVar[Mapping[str, str]] = {"api_host": "domain", "state_bucket": "project"}

    target: Literal["gcp"]
    project: ProjectId
    region: Region
    domain: Hostname = Field(description="DNS zone the platform's hosts live in")
    protected: StrictBool = Field(True, description="refuse `destroy` unless --force-protected")
    api_host: Hostname = Field(description="public host of the API (default: api.<domain>)")
    state_bucket: BucketName = Field(
        description="GCS bucket of Terraform state (default: <project>-sreplat-tfstate)"
    )
    state_prefix: str = Field(
        description="prefix of this environment's state in the bucket (default: sreplat/<env>)"
    )
    github_repository: GithubRepository | None = Field(
        None, description="owner/name whose GitHub Actions may deploy (Workload Identity Federation)"
    )
    github_repository_id: GithubId | None = Field(
        None, description="numeric id of github_repository (the federation trusts ids, not names)"
    )
    github_repository_owner_id: GithubId | None = Field(
        None, description="numeric id of github_repository's owner"
    )
    # NoDecode: SREPLAT_<KEY> reaches _json_text as text, so bad JSON is a validation error of the key.
    github_environments: Annotated[list[GithubEnvironment] | None, NoDecode, BeforeValidator(_json_text)] = (
        Field(
            None, description="GitHub environments whose jobs may deploy (default: one named like this one)"
        )
    )
    master_authorized_networks: Annotated[list[AuthorizedNetwork], NoDecode, BeforeValidator(_json_text)] = (
        Field(
            default_factory=list,
            description="networks allowed to the control plane's IP endpoint (default: none)",
        )
    )
    cloud_armor: Annotated[CloudArmor, *StructuredJson] = Field(
        CloudArmor(enabled=False, process_requests_per_minute=600),
        description="Cloud Armor rate limit on POST /process (default: off)",
    )
    image_builder: Literal["auto", "docker", "cloudbuild"] = Field(
        "auto", description="where images are built: auto = the local Docker engine if it answers"
    )
    dns_resolvers: Resolvers = Field(
        "8.8.8.8,1.1.1.1", description="public resolvers `status` asks (comma-separated IP[:port])"
    )
    ready_timeout_s: StrictFloat = Field(900.0, gt=0, le=7200, description="how long rollouts may take")
    stacks_dir: Path | None = Field(None, description="Terraform stacks (default: terraform/stacks)")
    charts_dir: Path | None = Field(None, description="Helm charts (default: helm)")
    # Observability (issue 13): traces, SLO rules and where their alerts go.
    slo_dir: Path | None = Field(None, description="SLO files (default: slo/ of the project root)")
    trace_sampling_ratio: float = Field(
        0.1, ge=0, le=1, description="share of new traces kept (a job follows its request's decision)"
    )
    alert_webhook_url: WebhookUrl | None = Field(None, description="SLO alerts go to this webhook")
    alert_email_to: Email | None = Field(None, description="...or to this address (needs the next three)")
    alert_email_from: Email | None = Field(None, description="sender of the alert emails")
    alert_email_smarthost: Smarthost | None = Field(None, description="SMTP server host:port (STARTTLS)")
    alert_email_username: str | None = Field(None, description="SMTP user, if the server wants one")
    alert_email_password_env: EnvVarName | None = Field(
        None, description="environment variable holding the SMTP password (never the file)"
    )
    require_signed_commits: bool = Field(
        True, description="deploy --sha refuses a commit not signed by a trusted key"
    )

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        defaults = {"state_prefix": f"sreplat/{data.get('name', '')}"}
        if isinstance(data.get("domain"), str):
            defaults["api_host"] = f"api.{data['domain'].rstrip('.')}"
        if isinstance(data.get("project"), str):
            defaults["state_bucket"] = f"{data['project']}-sreplat-tfstate"
        return {**defaults, **data}

    @model_validator(mode="after")
    def _fits_the_stacks(self) -> GcpSettings:
        if len(self.name) > MAX_ENV_NAME:
            raise ValueError(
                f"gcp environment names are at most {MAX_ENV_NAME} characters, {self.name!r} has "
                f"{len(self.name)} (resource names derive from it: sreplat-<env>-...)"
            )
        if not self.api_host.endswith("." + self.domain):
            raise ValueError(
                f"api_host {self.api_host!r} is not inside domain {self.domain!r} "
                "(the DNS zone covers the domain only: use <name>.<domain>)"
            )
        label = self.api_host.removesuffix("." + self.domain)
        if "." in label:
            raise ValueError(f"api_host must be one label under the domain, not {label!r}")
        ids = (self.github_repository_id, self.github_repository_owner_id)
        if self.github_repository and None in ids:
            raise ValueError(
                "github_repository needs github_repository_id and github_repository_owner_id (the "
                "numeric ids: curl -s https://api.github.com/repos/OWNER/NAME | jq '.id, .owner.id')"
            )
        if not self.github_repository and (ids != (None, None) or self.github_environments is not None):
            raise ValueError("github_repository_id, _owner_id and github_environments need github_repository")
        if self.github_environments is not None and not self.github_environments:
            raise ValueError("github_environments must name at least one GitHub environment (or be left out)")
        self._one_alert_receiver()
        return self

    def _one_alert_receiver(self) -> None:
        email = {
            "alert_email_from": self.alert_email_from,
            "alert_email_smarthost": self.alert_email_smarthost,
        }
        if self.alert_webhook_url and self.alert_email_to:
            raise ValueError("set alert_webhook_url or alert_email_to, not both (alerts go to one receiver)")
        if self.alert_email_to:
            missing = [key for key, value in email.items() if not value]
            if missing:
                raise ValueError(f"alert_email_to needs {' and '.join(missing)} too")
        if bool(self.alert_email_username) != bool(self.alert_email_password_env):
            raise ValueError("alert_email_username and alert_email_password_env go together")
        if self.alert_email_username and not self.alert_email_to:
            raise ValueError("alert_email_username without alert_email_to")

    # --- what the Terraform stacks name after the environment ----------------------------------
    @property
    def resource_name(self) -> str:
        return f"sreplat-{self.name}"

    @property
    def cluster_name(self) -> str:
        return self.resource_name

    @property
    def network_name(self) -> str:
        return self.resource_name

    @property
    def dns_zone(self) -> str:
        return self.resource_name

    @property
    def repository(self) -> str:
        """The Artifact Registry repository."""
        return self.resource_name
