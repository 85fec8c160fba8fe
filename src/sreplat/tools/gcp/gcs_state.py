"""The Terraform state bucket: created once, idempotently, with the settings state needs —
object versioning (recover an overwritten state), uniform bucket-level access (IAM only, no
ACLs) and public access prevention enforced. An existing bucket with weaker settings is
brought up to them; one that cannot be (wrong location) is reported.

Reading what is in it: ``stack_state`` gives a stack's outputs straight from its state object
(what ``terraform_remote_state`` reads), so a deploy or a status needs neither ``terraform init``
nor a local copy; ``read_object``/``read_versioned``/``write_object``/``delete_object`` keep small
records (the environment's release record and lock) next to the states, with Cloud Storage's
generation preconditions when the caller must not overwrite someone else's write.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from sreplat.errors import OperationFailed, UsageError
from sreplat.events import Event, EventSink, discard
from sreplat.tools.api_calls import AccessDenied, AlreadyExists, Deadline, PermissionDenied, ResourceMissing
from sreplat.tools.gcp.access import GcpAccess, gcp_call

LABELS = {"managed-by": "sreplat", "purpose": "terraform-state"}
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class StateBucket:
    name: str
    location: str
    created: bool  # False: it was already there
    changed: tuple[str, ...]  # settings corrected on an existing bucket
    warnings: tuple[str, ...] = ()

    @property
    def already_there(self) -> bool:
        return not self.created and not self.changed


def validate_bucket_name(name: str) -> None:
    """Cloud Storage's naming rules, checked before any call (dots need domain verification, so
    they are refused here)."""
    if not BUCKET_NAME.fullmatch(name) or "." in name or name.startswith("goog") or "google" in name:
        raise UsageError(
            f"invalid state bucket name {name!r}",
            hint="3-63 characters: lowercase letters, digits, hyphens and underscores, starting and "
            "ending with a letter or digit; not starting with 'goog' nor containing 'google'",
        )


# google-cloud-storage 3.x starts a background GET of a bucket's metadata on an object call with a
# cold cache, only to label its own OpenTelemetry spans (sreplat exports none): one more call per
# client (each needing storage.buckets.get) that lands at any time, even after the run has moved
# on. The library's switch (google/cloud/storage/_opentelemetry_tracing.py, read at each call).
NO_BUCKET_METADATA = "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA"


def storage_client(project: str, credentials: Any, client_options: Any) -> Any:
    """A Cloud Storage client that makes only the calls sreplat asks for."""
    from google.cloud import storage  # type: ignore[attr-defined]  # (no py.typed)

    os.environ.setdefault(NO_BUCKET_METADATA, "true")
    return storage.Client(project=project, credentials=credentials, client_options=client_options)


def _client(access: GcpAccess) -> Any:
    return storage_client(access.project, access.resolved_credentials(), access.endpoints.options("storage"))


def _blob(access: GcpAccess, bucket: str, name: str) -> Any:
    return _client(access).bucket(bucket).blob(name)


def ensure_state_bucket(
    access: GcpAccess,
    name: str,
    *,
    location: str,
    timeout: float = 60.0,
    on_event: EventSink = discard,
) -> StateBucket:
    """Create ``name`` with the state settings, or bring an existing one up to them."""
    validate_bucket_name(name)
    if not re.fullmatch(r"[a-z]+(-[a-z]+\d*)*\d*", location.lower()):
        raise UsageError(
            f"invalid bucket location {location!r}", hint="a region such as asia-south1, or US/EU"
        )
    deadline = Deadline(timeout)
    client = _client(access)
    bucket = _lookup(client, name, deadline)
    if bucket is None:
        created = _create(client, name, location, deadline)
        if created is not None:
            on_event(
                Event(
                    "gcs.bucket_created",
                    f"created state bucket gs://{name} in {created.location}",
                    data={"bucket": name, "location": created.location},
                )
            )
            return StateBucket(name=name, location=str(created.location), created=True, changed=())
        bucket = _lookup(client, name, deadline)  # created concurrently by someone with our access
        if bucket is None:
            raise OperationFailed(f"state bucket gs://{name} could not be created nor found")
    return _conform(bucket, name, location, deadline, on_event)


def _lookup(client: Any, name: str, deadline: Deadline) -> Any | None:
    try:
        return gcp_call(
            f"reading bucket gs://{name}",
            deadline,
            lambda t: client.get_bucket(name, timeout=t, retry=None),
        )
    except ResourceMissing:
        return None
    except PermissionDenied as exc:
        raise AccessDenied(
            f"bucket gs://{name} exists but this account cannot read it (another project's?)",
            hint="choose another state bucket name, or grant storage.buckets.get on it",
            detail=exc.message,
        ) from exc


def _create(client: Any, name: str, location: str, deadline: Deadline) -> Any | None:
    """The new bucket, or None if the name turned out to be taken (409)."""
    bucket = client.bucket(name)
    bucket.versioning_enabled = True
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = "enforced"
    bucket.labels = dict(LABELS)
    try:
        return gcp_call(
            f"creating bucket gs://{name}",
            deadline,
            lambda t: client.create_bucket(bucket, location=location, timeout=t, retry=None),
        )
    except AlreadyExists:
        return None


def _conform(bucket: Any, name: str, location: str, deadline: Deadline, on_event: EventSink) -> StateBucket:
    iam = bucket.iam_configuration
    changed = []
    if not bucket.versioning_enabled:
        bucket.versioning_enabled = True
        changed.append("versioning")
    if not iam.uniform_bucket_level_access_enabled:
        iam.uniform_bucket_level_access_enabled = True
        changed.append("uniform_bucket_level_access")
    if iam.public_access_prevention != "enforced":
        iam.public_access_prevention = "enforced"
        changed.append("public_access_prevention")
    if changed:
        gcp_call(f"updating bucket gs://{name}", deadline, lambda t: bucket.patch(timeout=t, retry=None))
        on_event(
            Event(
                "gcs.bucket_updated",
                f"state bucket gs://{name} existed; enabled {', '.join(changed)}",
                data={"bucket": name, "changed": changed},
            )
        )
    else:
        on_event(Event("gcs.bucket_ok", f"state bucket gs://{name} already there", data={"bucket": name}))
    warnings = []
    if str(bucket.location).lower() != location.lower():
        warnings.append(
            f"bucket gs://{name} is in {bucket.location}, not {location.upper()} (a location cannot change)"
        )
        on_event(Event("gcs.bucket_location_differs", warnings[-1], data={"bucket": name}))
    return StateBucket(
        name=name,
        location=str(bucket.location),
        created=False,
        changed=tuple(changed),
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class StackState:
    """What a Terraform state object says: its outputs and how many resources it manages."""

    outputs: dict[str, Any] = field(default_factory=dict)
    resources: int = 0
    serial: int = 0

    @property
    def empty(self) -> bool:
        """Nothing is managed (never applied, or destroyed)."""
        return self.resources == 0


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes and the generation they belong to (what a conditional write names)."""

    data: bytes
    generation: int


def read_object(access: GcpAccess, bucket: str, name: str, *, timeout: float = 30.0) -> bytes | None:
    """The object's bytes, or None when it (or the bucket) does not exist."""
    found = read_versioned(access, bucket, name, timeout=timeout)
    return None if found is None else found.data


def read_versioned(
    access: GcpAccess, bucket: str, name: str, *, timeout: float = 30.0
) -> StoredObject | None:
    """The object's bytes with their generation (one request: the download's
    ``x-goog-generation`` header), or None when it (or the bucket) does not exist."""
    deadline = Deadline(timeout)
    blob = _blob(access, bucket, name)
    try:
        data: bytes = gcp_call(
            f"reading gs://{bucket}/{name}",
            deadline,
            lambda t: blob.download_as_bytes(timeout=t, retry=None),
        )
    except ResourceMissing:
        return None
    return StoredObject(data, int(blob.generation or 0))


def write_object(
    access: GcpAccess,
    bucket: str,
    name: str,
    data: bytes,
    *,
    content_type: str = "application/json",
    if_generation_match: int | None = None,
    timeout: float = 30.0,
) -> int:
    """Write the object; its new generation. ``if_generation_match``: only over that generation
    (0: only if there is no live object), else ``PreconditionFailed`` (HTTP 412)."""
    deadline = Deadline(timeout)
    blob = _blob(access, bucket, name)
    gcp_call(
        f"writing gs://{bucket}/{name}",
        deadline,
        lambda t: blob.upload_from_string(
            data, content_type=content_type, if_generation_match=if_generation_match, timeout=t, retry=None
        ),
    )
    return int(blob.generation or 0)


def delete_object(
    access: GcpAccess,
    bucket: str,
    name: str,
    *,
    if_generation_match: int | None = None,
    timeout: float = 30.0,
) -> bool:
    """Delete the object; False when it was not there. ``if_generation_match``: only that
    generation, else ``PreconditionFailed`` (HTTP 412)."""
    deadline = Deadline(timeout)
    blob = _blob(access, bucket, name)
    try:
        gcp_call(
            f"deleting gs://{bucket}/{name}",
            deadline,
            lambda t: blob.delete(if_generation_match=if_generation_match, timeout=t, retry=None),
        )
    except ResourceMissing:
        return False
    return True


def state_object_name(prefix: str) -> str:
    """Where Terraform's gcs backend keeps the default workspace's state under ``prefix``."""
    return f"{prefix.strip('/')}/default.tfstate"


def stack_state(access: GcpAccess, bucket: str, prefix: str, *, timeout: float = 30.0) -> StackState | None:
    """The state Terraform's gcs backend wrote under ``prefix``; None when there is none."""
    data = read_object(access, bucket, state_object_name(prefix), timeout=timeout)
    if data is None:
        return None
    try:
        document = json.loads(data)
        outputs = {name: item.get("value") for name, item in (document.get("outputs") or {}).items()}
        resources = sum(
            len(r.get("instances") or [])
            for r in document.get("resources") or ()
            if r.get("mode") == "managed"
        )
        return StackState(outputs=outputs, resources=resources, serial=int(document.get("serial") or 0))
    except (ValueError, AttributeError, TypeError) as exc:
        raise OperationFailed(
            f"gs://{bucket}/{state_object_name(prefix)} is not a readable Terraform state: {exc}"
        ) from exc
