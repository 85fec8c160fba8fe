"""Google Cloud Build as an image builder, for machines without a Docker engine.

One build per image: the context (``apps/`` minus what ``.dockerignore`` excludes) goes to a
Cloud Storage bucket as a tarball; the build runs ``docker build --target <app>`` with the same
Dockerfile and build arguments as the local engine would, and Cloud Build pushes the image itself
(the ``images`` field), reporting the pushed digest in the build's results. The builder polls the
build and turns step status changes into events; a failed build names its failing step and the log
URL.

Both clients take google-auth credentials and, for tests and private endpoints, an endpoint
override (``storage_endpoint``, ``cloudbuild_endpoint``; the Cloud Build client uses REST). The
wait for a build ends at once, with ``Interrupted``, when the run's ``cancel`` token is set.
"""

from __future__ import annotations

import datetime
import io
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sreplat.cancel import CancelToken
from sreplat.errors import OperationFailed
from sreplat.events import Event, EventSink
from sreplat.tools.api_calls import Deadline

if TYPE_CHECKING:
    from google.cloud.devtools.cloudbuild_v1 import Build, CloudBuildClient

    from sreplat.tools.images.pipeline import BuildRequest

DOCKER_STEP_IMAGE = "gcr.io/cloud-builders/docker"
TERMINAL_FAILURES = ("FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED")


def pack_context(context_dir: Path, dockerfile: str) -> bytes:
    """The build context as a gzipped tarball, filtered by its ``.dockerignore`` like the engine does."""
    from docker.utils.build import tar

    ignore = context_dir / ".dockerignore"
    patterns: list[str] = []
    if ignore.exists():
        patterns = [
            line.strip()
            for line in ignore.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    buffer = io.BytesIO()
    tar(context_dir, exclude=patterns, dockerfile=(dockerfile, None), fileobj=buffer, gzip=True)
    return buffer.getvalue()


def docker_build_args(request: BuildRequest) -> list[str]:
    """The ``docker build`` argv (minus ``docker``) that the build step runs."""
    args = ["build", "--network=cloudbuild", "-f", request.dockerfile, "--target", request.target]
    args += ["-t", str(request.image)]
    for key, value in sorted(request.build_args.items()):
        args += ["--build-arg", f"{key}={value}"]
    return [*args, "."]


class CloudBuildBuilder:
    """Builds in project ``project`` (``location`` "global" or a region such as "europe-west1").

    ``source_bucket`` holds the uploaded contexts (under ``source/``): the gcp target passes a
    bucket it owns. ``credentials`` are google-auth credentials (None: Application Default
    Credentials). ``service_account``: the email of the account builds run as (the foundation
    stack's build account, which may read ``source/`` of that bucket and push to the environment's
    repository, and nothing else); None runs them as the project's default build account, which a
    secure-by-default organisation grants no rights there. The caller needs
    ``iam.serviceAccounts.actAs`` on it. Builds keep their logs in Cloud Logging only, as a build
    with its own service account must (the default logs bucket is not allowed).
    """

    name = "cloudbuild"

    def __init__(
        self,
        *,
        project: str,
        source_bucket: str,
        location: str = "global",
        credentials: Any = None,
        cloudbuild_endpoint: str | None = None,
        storage_endpoint: str | None = None,
        poll_interval_s: float = 3.0,
        timeout_s: float = 1800.0,
        cancel: CancelToken | None = None,
        service_account: str | None = None,
    ):
        self.project = project
        self.service_account = service_account
        self.source_bucket = source_bucket
        self.location = location
        self.credentials = credentials
        self.cloudbuild_endpoint = cloudbuild_endpoint
        self.storage_endpoint = storage_endpoint
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.cancel = cancel

    # --- clients --------------------------------------------------------------------------------
    def _cloudbuild(self) -> CloudBuildClient:
        from google.api_core.client_options import ClientOptions
        from google.cloud.devtools import cloudbuild_v1

        options = ClientOptions(api_endpoint=self.cloudbuild_endpoint) if self.cloudbuild_endpoint else None
        return cloudbuild_v1.CloudBuildClient(
            credentials=self.credentials, transport="rest", client_options=options
        )

    def _upload(self, name: str, data: bytes) -> None:
        from google.api_core import exceptions

        from sreplat.tools.gcp.gcs_state import storage_client

        options = {"api_endpoint": self.storage_endpoint} if self.storage_endpoint else None
        client = storage_client(self.project, self.credentials, options)
        try:
            blob = client.bucket(self.source_bucket).blob(name)
            blob.upload_from_file(io.BytesIO(data), size=len(data), content_type="application/gzip")
        except exceptions.GoogleAPICallError as exc:
            raise OperationFailed(
                f"could not upload the build context to gs://{self.source_bucket}/{name}: {exc.message}",
                hint="check that the bucket exists and the credentials may write to it",
            ) from exc

    # --- the build ------------------------------------------------------------------------------
    def prepare(self, requests: Sequence[BuildRequest], emit: EventSink) -> None:
        """Nothing to share: every Cloud Build runs on a fresh machine with an empty layer cache."""

    def build_and_push(self, request: BuildRequest, emit: EventSink) -> str:
        from google.api_core import exceptions
        from google.cloud.devtools import cloudbuild_v1 as cb

        ref = str(request.image)
        started = time.monotonic()
        source = pack_context(request.context_dir, request.dockerfile)
        object_name = f"source/sreplat-{request.app}-{request.image.tag[:12]}-{uuid.uuid4().hex[:8]}.tgz"
        self._upload(object_name, source)
        build = cb.Build(
            source=cb.Source(storage_source=cb.StorageSource(bucket=self.source_bucket, object_=object_name)),
            steps=[cb.BuildStep(name=DOCKER_STEP_IMAGE, id="docker-build", args=docker_build_args(request))],
            images=[ref],
            tags=["sreplat", request.app],
            timeout=datetime.timedelta(seconds=int(self.timeout_s)),
            options=cb.BuildOptions(logging=cb.BuildOptions.LoggingMode.CLOUD_LOGGING_ONLY),
        )
        if self.service_account:
            build.service_account = f"projects/{self.project}/serviceAccounts/{self.service_account}"
        client = self._cloudbuild()
        # Over REST the first URL pattern whose fields are all set wins: a regional build must set
        # only ``parent`` (and be read back by ``name``), or it lands on the global endpoint.
        regional = self.location != "global"
        parent = f"projects/{self.project}/locations/{self.location}"
        create: dict[str, Any] = {"parent": parent} if regional else {"project_id": self.project}
        try:
            operation = client.create_build(request={**create, "build": build})
            build_id = operation.metadata.build.id
        except exceptions.GoogleAPICallError as exc:
            raise OperationFailed(
                f"Cloud Build refused the {request.app} build: {exc.message}",
                hint="check that the Cloud Build API is enabled and the credentials may create builds"
                + (f" and act as {self.service_account}" if self.service_account else ""),
            ) from exc
        emit(
            Event(
                "image.build_started",
                f"building {ref} on Cloud Build ({build_id})",
                data={"app": request.app, "ref": ref, "builder": self.name, "build_id": build_id},
            )
        )
        get = (
            {"name": f"{parent}/builds/{build_id}"}
            if regional
            else {"project_id": self.project, "id": build_id}
        )
        finished = self._wait(client, get, build_id, request.app, emit)
        status = finished.status.name
        if status != "SUCCESS":
            raise _failure(request.app, finished)
        digest = next((img.digest for img in finished.results.images if img.name == ref), "")
        if not digest:
            raise OperationFailed(
                f"Cloud Build finished the {request.app} build but reported no digest for {ref}"
            )
        duration = round(time.monotonic() - started, 3)
        emit(
            Event(
                "image.build_done",
                f"built {ref} on Cloud Build in {duration:.1f}s",
                data={"app": request.app, "ref": ref, "build_id": build_id, "duration_s": duration},
            )
        )
        emit(
            Event(
                "image.pushed",
                f"Cloud Build pushed {ref}",
                data={"app": request.app, "ref": ref, "digest": digest, "duration_s": duration},
            )
        )
        return str(digest)

    def _wait(
        self, client: CloudBuildClient, get: dict[str, str], build_id: str, app: str, emit: EventSink
    ) -> Build:
        from google.api_core import exceptions

        deadline = Deadline(self.timeout_s, self.cancel)
        seen: dict[int, str] = {}
        while True:
            deadline.check(f"waiting for Cloud Build {build_id}")
            try:
                build = client.get_build(request=get)
            except exceptions.GoogleAPICallError as exc:
                raise OperationFailed(f"could not follow Cloud Build {build_id}: {exc.message}") from exc
            for index, step in enumerate(build.steps):
                state = step.status.name
                if seen.get(index) != state and state != "STATUS_UNKNOWN":
                    seen[index] = state
                    label = step.id or step.name
                    emit(
                        Event(
                            "image.build_step",
                            f"{app}: step {index + 1}/{len(build.steps)} {label} {state.lower()}",
                            data={
                                "app": app,
                                "step": index + 1,
                                "total": len(build.steps),
                                "instruction": label,
                                "status": state,
                            },
                        )
                    )
            if build.status.name == "SUCCESS" or build.status.name in TERMINAL_FAILURES:
                return build
            if deadline.expired():
                raise OperationFailed(
                    f"Cloud Build {build_id} for {app} did not finish within {self.timeout_s:.0f}s",
                    hint=f"see {build.log_url}" if build.log_url else None,
                )
            deadline.sleep(self.poll_interval_s, f"waiting for Cloud Build {build_id}")


def _failure(app: str, build: Build) -> OperationFailed:
    status = build.status.name
    steps = list(build.steps)
    failing = next(((i, s) for i, s in enumerate(steps) if s.status.name in TERMINAL_FAILURES), None)
    where = f" at step {failing[0] + 1}/{len(steps)} ({failing[1].id or failing[1].name})" if failing else ""
    reason = build.failure_info.detail or build.status_detail or status.lower()
    return OperationFailed(
        f"Cloud Build {status.lower()} for the {app} image{where}: {reason}",
        hint=f"build log: {build.log_url}" if build.log_url else None,
    )
