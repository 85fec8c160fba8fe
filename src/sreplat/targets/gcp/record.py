"""The deploy record: what an environment runs — the SHA, its images by digest, what they were
built from (base image digests, the lock's sha256), the Helm revisions of the apps when it was
recorded, where it was promoted from (if it was), and the releases before it (newest first, the
last ``HISTORY`` kept: ``promote --sha`` picks among them). Written by bootstrap, deploy and
promote, read by deploy (the same SHA again is "nothing to do"), promote, status and plan;
removed by destroy.

It lives next to the Terraform state, as ``gs://<state_bucket>/<state_prefix>/release.json``
(docs/contracts.md), so a CI runner with no local state knows what runs. A run reads it with its
object generation and writes it only over that generation (Cloud Storage's
``ifGenerationMatch``), so a record another run wrote in between is never overwritten unseen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sreplat.errors import OperationFailed
from sreplat.tools.images.pipeline import BuiltImages

if TYPE_CHECKING:
    from sreplat.targets.gcp.context import GcpContext

RECORD_OBJECT = "release.json"


HISTORY = 20


@dataclass(frozen=True)
class PastRelease:
    """A release the environment ran: its images (and what they were built from), and when."""

    images: BuiltImages
    deployed_at: str = ""

    @property
    def sha(self) -> str:
        return self.images.sha

    def to_json(self) -> dict[str, Any]:
        return {**self.images.to_json(), "deployed_at": self.deployed_at}

    @classmethod
    def from_json(cls, data: Any) -> PastRelease:
        return cls(images=BuiltImages.from_json(data), deployed_at=str(data.get("deployed_at", "")))


@dataclass(frozen=True)
class DeployRecord:
    images: BuiltImages
    deployed_at: str = ""
    revisions: Mapping[str, int] = field(default_factory=dict)
    promoted_from: str | None = None
    history: tuple[PastRelease, ...] = ()

    @property
    def sha(self) -> str:
        return self.images.sha

    @property
    def current(self) -> PastRelease:
        return PastRelease(self.images, self.deployed_at)

    def release_of(self, sha: str) -> PastRelease | None:
        """What the environment ran at ``sha``: now, or in its history; None if never."""
        return next((r for r in (self.current, *self.history) if r.sha == sha), None)

    def after(self, previous: DeployRecord | None) -> DeployRecord:
        """This record with ``previous`` (the one it replaces) at the head of its history."""
        if previous is None:
            return self
        earlier = previous.history if previous.sha == self.sha else (previous.current, *previous.history)
        return replace(self, history=tuple(earlier)[:HISTORY])

    @classmethod
    def now(
        cls, images: BuiltImages, revisions: Mapping[str, int], *, promoted_from: str | None = None
    ) -> DeployRecord:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return cls(images=images, deployed_at=stamp, revisions=dict(revisions), promoted_from=promoted_from)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            **self.images.to_json(),
            "deployed_at": self.deployed_at,
            "revisions": dict(self.revisions),
        }
        if self.promoted_from:
            document["promoted_from"] = self.promoted_from
        if self.history:
            document["history"] = [past.to_json() for past in self.history]
        return document

    @classmethod
    def from_json(cls, data: Any) -> DeployRecord:
        try:
            return cls(
                images=BuiltImages.from_json(data),
                deployed_at=str(data.get("deployed_at", "")),
                revisions={str(k): int(v) for k, v in (data.get("revisions") or {}).items()},
                promoted_from=str(data["promoted_from"]) if data.get("promoted_from") else None,
                history=tuple(PastRelease.from_json(past) for past in data.get("history") or ()),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise OperationFailed(f"the deploy record is unreadable: {exc}") from exc


def record_object(ctx: GcpContext) -> str:
    return f"{ctx.settings.state_prefix.strip('/')}/{RECORD_OBJECT}"


def read_record(ctx: GcpContext, *, timeout: float = 30.0) -> DeployRecord | None:
    return read_record_versioned(ctx, timeout=timeout)[0]


def read_record_versioned(ctx: GcpContext, *, timeout: float = 30.0) -> tuple[DeployRecord | None, int]:
    """The record and its object generation (0: there is none), for ``write_record``."""
    from sreplat.tools.gcp.gcs_state import read_versioned

    name = record_object(ctx)
    found = read_versioned(ctx.access, ctx.bucket, name, timeout=timeout)
    if found is None:
        return None, 0
    try:
        document = json.loads(found.data)
    except ValueError as exc:
        raise OperationFailed(f"gs://{ctx.bucket}/{name} is not JSON: {exc}") from exc
    return DeployRecord.from_json(document), found.generation


def write_record(ctx: GcpContext, record: DeployRecord, *, if_generation_match: int) -> None:
    """Record ``record`` as what runs, over the generation that was read (0: only if there is
    none); the record it replaces goes into its history. A record someone else wrote in between
    makes this fail and stays as it is."""
    from sreplat.tools.api_calls import PreconditionFailed
    from sreplat.tools.gcp.gcs_state import write_object

    name = record_object(ctx)
    # The record being replaced, for the history. If it is not the generation this run started
    # from, the write's precondition refuses it (412), so no history is built on a stranger's.
    previous, _ = read_record_versioned(ctx)
    record = record.after(previous)
    data = json.dumps(record.to_json(), indent=2, sort_keys=True).encode()
    try:
        write_object(ctx.access, ctx.bucket, name, data, if_generation_match=if_generation_match)
    except PreconditionFailed as exc:
        raise OperationFailed(
            f"gs://{ctx.bucket}/{name} changed while this run worked (another run recorded a "
            f"release?): release {record.sha[:12]} was NOT recorded",
            hint=f"see what runs with `sreplat status --env {ctx.env.name}`, then deploy again",
            detail=exc.message,
        ) from exc


def delete_record(ctx: GcpContext) -> bool:
    from sreplat.tools.gcp.gcs_state import delete_object

    return delete_object(ctx.access, ctx.bucket, record_object(ctx))
