"""The gcp target's settings: the ``Settings`` model of ``[environments.<name>]`` tables with
``target = "gcp"``.

Resource names are not settings: the Terraform stacks name the cluster, network, DNS zone and
Artifact Registry repository ``sreplat-<env>``, so sreplat does too (``cluster_name`` ...). The
environment name must therefore fit the stacks (1-12 characters), and the API host must be one
label under the domain (the DNS zone covers the domain only).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from sreplat.config import EnvironmentSettings
from sreplat.tools.signatures import DEFAULT_ALLOWED_SIGNERS, DEFAULT_KEYRING, TrustFiles, trust_path

# The Terraform stacks accept environment names of 1-12 characters (variables.tf): resource
# names derive from them (sreplat-<env>-...) and GCP limits their length.
MAX_ENV_NAME = 12

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]{1,2}$")
_ZONE = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]{1,2}-[a-z]$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


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


ProjectId = Annotated[str, AfterValidator(_project_id)]
Region = Annotated[str, AfterValidator(_region)]
Hostname = Annotated[str, AfterValidator(_hostname)]
BucketName = Annotated[str, AfterValidator(_bucket_name)]
GithubRepository = Annotated[str, AfterValidator(_github_repository)]
Resolvers = Annotated[str, AfterValidator(_resolvers)]
TrustPath = Annotated[Path, AfterValidator(trust_path)]


class GcpSettings(EnvironmentSettings):
    """The ``gcp`` target: GKE Autopilot, Artifact Registry, Cloud DNS, Terraform state in GCS.

    ``api_host``, ``state_bucket`` and ``state_prefix`` default from the domain, the project and
    the environment name.
    """

    TARGET: ClassVar[str] = "gcp"
    RELATIVE_PATHS: ClassVar[tuple[str, ...]] = ("repo", "stacks_dir", "charts_dir")
    DERIVED_FROM: ClassVar[Mapping[str, str]] = {"api_host": "domain", "state_bucket": "project"}

    target: Literal["gcp"]
    project: ProjectId
    region: Region
    domain: Hostname = Field(description="DNS zone the platform's hosts live in")
    protected: bool = Field(True, description="refuse `destroy` unless --force-protected")
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
    image_builder: Literal["auto", "docker", "cloudbuild"] = Field(
        "auto", description="where images are built: auto = the local Docker engine if it answers"
    )
    dns_resolvers: Resolvers = Field(
        "8.8.8.8,1.1.1.1", description="public resolvers `status` asks (comma-separated IP[:port])"
    )
    ready_timeout_s: float = Field(900.0, gt=0, le=7200, description="how long rollouts may take")
    stacks_dir: Path | None = Field(None, description="Terraform stacks (default: terraform/stacks)")
    charts_dir: Path | None = Field(None, description="Helm charts (default: helm)")
    require_signed_commits: bool = Field(
        True, description="deploy --sha refuses a commit not signed by a trusted key"
    )
    allowed_signers: TrustPath = Field(
        DEFAULT_ALLOWED_SIGNERS,
        description="SSH allowed-signers file (relative: in the repository, as committed in the "
        "deployed commit's parent)",
    )
    signing_keyring: TrustPath | None = Field(
        DEFAULT_KEYRING, description="trusted OpenPGP public keys, armored (gpg --export --armor)"
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
        return self

    @property
    def trust_files(self) -> TrustFiles:
        return TrustFiles(allowed_signers=self.allowed_signers, keyring=self.signing_keyring)

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
