"""What the gcp target's steps hand each other: small frozen dataclasses, each with
``to_json``/``from_json`` so a resumed run gets them back from the checkpoint.

- ``FoundationOutputs``: the foundation stack's outputs the later steps use (registry, API host,
  ingress address, service accounts...), read once from its Terraform state;
- ``tools.images.pipeline.BuiltImages``: the images of one SHA, by digest;
- ``HelmRevision``: the revision a release step left deployed;
- ``Current``: whether what runs is already the SHA a deploy asks for;
- ``AppsUpgrade``: the revisions an upgrade of the apps replaced and made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sreplat.errors import OperationFailed

APPS = ("api", "worker")


@dataclass(frozen=True)
class FoundationOutputs:
    """The outputs of ``terraform/stacks/foundation`` (its README) that sreplat reads."""

    registry_url: str  # <region>-docker.pkg.dev/<project>/<repository>
    api_hostname: str
    ingress_address: str
    ingress_address_name: str
    dns_zone_name: str
    workload_service_accounts: Mapping[str, str]  # app → Google service account email
    ssl_policy_name: str  # the HTTPS proxy's TLS policy: the api chart's ingress.sslPolicy
    security_policy_name: str | None = None  # Cloud Armor (None: off): backendConfig.securityPolicy
    dns_name_servers: tuple[str, ...] = ()
    dns_ds_record: str | None = None  # DNSSEC: what the registrar gets beside the name servers
    deployer_service_account_email: str | None = None  # CI's account: the platform chart's Role user
    build_service_account_email: str | None = None  # what Cloud Build runs as
    workload_identity_provider: str | None = None

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> FoundationOutputs:
        """From ``terraform output`` values; OperationFailed naming what a stack does not give."""
        try:
            accounts = outputs["workload_service_accounts"]
            return cls(
                registry_url=str(outputs["registry_url"]),
                api_hostname=str(outputs["api_hostname"]),
                ingress_address=str(outputs["ingress_address"]),
                ingress_address_name=str(outputs["ingress_address_name"]),
                dns_zone_name=str(outputs["dns_zone_name"]),
                workload_service_accounts={app: str(accounts[app]) for app in APPS},
                ssl_policy_name=str(outputs["ssl_policy_name"]),
                security_policy_name=_optional(outputs.get("security_policy_name")),
                dns_name_servers=tuple(str(s) for s in outputs.get("dns_name_servers") or ()),
                dns_ds_record=_optional(outputs.get("dns_ds_record")),
                deployer_service_account_email=_optional(outputs.get("deployer_service_account_email")),
                build_service_account_email=_optional(outputs.get("build_service_account_email")),
                workload_identity_provider=_optional(outputs.get("workload_identity_provider")),
            )
        except (KeyError, TypeError) as exc:
            raise OperationFailed(
                f"the foundation stack's outputs lack {exc}: is it the stack of this sreplat?"
            ) from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "registry_url": self.registry_url,
            "api_hostname": self.api_hostname,
            "ingress_address": self.ingress_address,
            "ingress_address_name": self.ingress_address_name,
            "dns_zone_name": self.dns_zone_name,
            "workload_service_accounts": dict(self.workload_service_accounts),
            "ssl_policy_name": self.ssl_policy_name,
            "security_policy_name": self.security_policy_name,
            "dns_name_servers": list(self.dns_name_servers),
            "dns_ds_record": self.dns_ds_record,
            "deployer_service_account_email": self.deployer_service_account_email,
            "build_service_account_email": self.build_service_account_email,
            "workload_identity_provider": self.workload_identity_provider,
        }

    @classmethod
    def from_json(cls, data: Any) -> FoundationOutputs:
        return cls.from_outputs(data)


def _optional(value: Any) -> str | None:
    return str(value) if value else None


@dataclass(frozen=True)
class HelmRevision:
    release: str
    revision: int

    def to_json(self) -> dict[str, Any]:
        return {"release": self.release, "revision": self.revision}

    @classmethod
    def from_json(cls, data: Any) -> HelmRevision:
        return cls(release=str(data["release"]), revision=int(data["revision"]))


@dataclass(frozen=True)
class Current:
    """Deploy's first look: whether ``sha`` already runs (recorded and rolled out), the Helm
    revisions of the apps the deploy record names (the ones known to work), and the generation of
    the record object read (0: none), which the new record is written over."""

    sha: str
    up_to_date: bool
    good_revisions: Mapping[str, int] = field(default_factory=dict)
    record_generation: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "up_to_date": self.up_to_date,
            "good_revisions": dict(self.good_revisions),
            "record_generation": self.record_generation,
        }

    @classmethod
    def from_json(cls, data: Any) -> Current:
        good = {str(k): int(v) for k, v in (data.get("good_revisions") or {}).items()}
        return cls(
            sha=str(data["sha"]),
            up_to_date=bool(data["up_to_date"]),
            good_revisions=good,
            record_generation=int(data.get("record_generation") or 0),
        )


@dataclass(frozen=True)
class AppsUpgrade:
    """``previous``: app → the revision a rollback goes back to (the recorded one, else the one
    before the upgrade); ``revisions``: app → the revision the upgrade made."""

    previous: Mapping[str, int] = field(default_factory=dict)
    revisions: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"previous": dict(self.previous), "revisions": dict(self.revisions)}

    @classmethod
    def from_json(cls, data: Any) -> AppsUpgrade:
        return cls(
            previous={str(k): int(v) for k, v in data["previous"].items()},
            revisions={str(k): int(v) for k, v in data["revisions"].items()},
        )
