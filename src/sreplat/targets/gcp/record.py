"""The deploy record: what an environment runs — the SHA, its images by digest, and the Helm
revisions of the apps when it was recorded. Written by bootstrap and deploy, read by deploy (the
same SHA again is "nothing to do"), status and plan; removed by destroy.

It lives next to the Terraform state, as ``gs://<state_bucket>/<state_prefix>/release.json``
(docs/contracts.md), so a CI runner with no local state knows what runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sreplat.errors import OperationFailed
from sreplat.tools.images.pipeline import BuiltImages

if TYPE_CHECKING:
    from sreplat.targets.gcp.context import GcpContext

RECORD_OBJECT = "release.json"


@dataclass(frozen=True)
class DeployRecord:
    images: BuiltImages
    deployed_at: str = ""
    revisions: Mapping[str, int] = field(default_factory=dict)

    @property
    def sha(self) -> str:
        return self.images.sha

    @classmethod
    def now(cls, images: BuiltImages, revisions: Mapping[str, int]) -> DeployRecord:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return cls(images=images, deployed_at=stamp, revisions=dict(revisions))

    def to_json(self) -> dict[str, Any]:
        return {
            **self.images.to_json(),
            "deployed_at": self.deployed_at,
            "revisions": dict(self.revisions),
        }

    @classmethod
    def from_json(cls, data: Any) -> DeployRecord:
        try:
            return cls(
                images=BuiltImages.from_json(data),
                deployed_at=str(data.get("deployed_at", "")),
                revisions={str(k): int(v) for k, v in (data.get("revisions") or {}).items()},
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise OperationFailed(f"the deploy record is unreadable: {exc}") from exc


def record_object(ctx: GcpContext) -> str:
    return f"{ctx.settings.state_prefix.strip('/')}/{RECORD_OBJECT}"


def read_record(ctx: GcpContext, *, timeout: float = 30.0) -> DeployRecord | None:
    from sreplat.tools.gcp.gcs_state import read_object

    name = record_object(ctx)
    data = read_object(ctx.access, ctx.bucket, name, timeout=timeout)
    if data is None:
        return None
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise OperationFailed(f"gs://{ctx.bucket}/{name} is not JSON: {exc}") from exc
    return DeployRecord.from_json(document)


def write_record(ctx: GcpContext, record: DeployRecord) -> None:
    from sreplat.tools.gcp.gcs_state import write_object

    data = json.dumps(record.to_json(), indent=2, sort_keys=True).encode()
    write_object(ctx.access, ctx.bucket, record_object(ctx), data)


def delete_record(ctx: GcpContext) -> bool:
    from sreplat.tools.gcp.gcs_state import delete_object

    return delete_object(ctx.access, ctx.bucket, record_object(ctx))
