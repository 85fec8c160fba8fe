"""Cloud Build REST API double: builds.create (global and regional) and builds.get.

It checks what a real Cloud Build would need: the source object exists in the Cloud Storage
double and is a tarball that holds the Dockerfile the step names; the step is ``docker build``
with ``-t`` equal to an image in ``images``. Each build advances one state per ``get``
(QUEUED → WORKING → done); a ``--target`` the Dockerfile has no stage for fails the build at its
step, as ``docker build`` would. On success it "pushes" every image in ``images`` to the registry named
in its reference: a real (small, layerless) image manifest whose config carries the build args, so
the digest it reports is the one the registry then serves; or, given ``registry`` (the Artifact
Registry double), into that double, as Cloud Build pushes to ``<region>-docker.pkg.dev``.
``fail_next`` makes the next build fail at its step as a broken Dockerfile would; while
``never_finish`` is set, builds stay ``WORKING`` (a build stuck in its queue or a slow step).

Who a build runs as (cloud.google.com/build/docs/securing-builds/configure-user-specified-service-accounts):
``serviceAccount`` as ``projects/<project>/serviceAccounts/<email>``; a build that names one must
keep its logs out of the default logs bucket (``options.logging`` ``CLOUD_LOGGING_ONLY`` or
``NONE``, or a ``logsBucket``), else the API refuses it (400). Without one it runs as the project's
default build service account. ``able_accounts`` (None: anyone) lists the accounts that may read
the source bucket and push to the repository; a build running as another account fails when it
fetches its source — what a secure-by-default organisation does to the default account, which is
granted no roles there.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import uuid
from typing import Any

import httpx

from tests.doubles.artifact_registry import ArtifactRegistryDouble
from tests.doubles.base import DoubleServer, Request, Response, rfc3339
from tests.doubles.gcs import StorageDouble

OPERATION_METADATA = "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata"
PROJECT_NUMBER = "123456789012"
SERVICE_ACCOUNT = re.compile(r"^projects/(?P<project>[^/]+)/serviceAccounts/(?P<email>[^/@]+@[^/]+)$")
# BuildOptions.LoggingMode by name, or by number (the REST clients send enums as integers).
OWN_LOGS = ("CLOUD_LOGGING_ONLY", "NONE", 5, 4)
DOCKER_STEP = "gcr.io/cloud-builders/docker"
STAGE = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


class CloudBuildDouble(DoubleServer):
    name = "cloudbuild-double"

    def __init__(
        self,
        *,
        storage: StorageDouble,
        project: str = "acme-sre-dev",
        registry: ArtifactRegistryDouble | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.storage = storage
        self.registry = registry
        self.project = project
        self.builds: dict[str, dict[str, Any]] = {}
        self.polls: dict[str, int] = {}
        self.sources: dict[str, bytes] = {}  # build id → the source tarball it was given
        self.fail_next: str | None = None
        self.never_finish = False
        self.able_accounts: set[str] | None = None
        self.default_account = f"{PROJECT_NUMBER}-compute@developer.gserviceaccount.com"
        base = r"/v1/projects/(?P<project>[^/]+)"
        regional = base + r"/locations/(?P<location>[^/]+)"
        self.route("POST", base + r"/builds", self._create)
        self.route("POST", regional + r"/builds", self._create)
        self.route("GET", base + r"/builds/(?P<id>[^/]+)", self._get)
        self.route("GET", regional + r"/builds/(?P<id>[^/]+)", self._get)

    # --- handlers -----------------------------------------------------------------------------
    def _create(self, req: Request) -> Response:
        if req.match["project"] != self.project or req.param("projectId", self.project) != self.project:
            return self.error(403, f"The caller does not have permission on {req.match['project']}")
        body = req.json()
        problem, source, stages = self._check(body)
        if problem:
            return self.error(400, problem, "invalidArgument")
        build_id = str(uuid.uuid4())
        build = {
            **body,
            "id": build_id,
            "projectId": self.project,
            "status": "QUEUED",
            "createTime": rfc3339(),
            "logUrl": f"https://console.cloud.google.com/cloud-build/builds/{build_id}?project={self.project}",
            "steps": [{**step, "status": "QUEUED"} for step in body["steps"]],
        }
        failure = self.fail_next
        self.fail_next = None
        runs_as = self._runs_as(body)
        if failure is None and self.able_accounts is not None and runs_as not in self.able_accounts:
            storage = body["source"]["storageSource"]
            failure = (
                f"failed to fetch source: {runs_as} does not have storage.objects.get access to the Google "
                f"Cloud Storage object gs://{storage['bucket']}/{storage['object']} (403 Forbidden)"
            )
        build["_runs_as"] = runs_as
        target = _target(body["steps"][0]["args"])
        if failure is None and target is not None and target.lower() not in stages:
            failure = f'Step #0 - "docker-build": failed to reach build target {target} in Dockerfile'
        build["_fail"] = failure
        self.builds[build_id] = build
        self.polls[build_id] = 0
        self.sources[build_id] = source
        name = f"operations/build/{self.project}/{build_id}"
        return Response(
            body={"name": name, "metadata": {"@type": OPERATION_METADATA, "build": _public(build)}}
        )

    def _get(self, req: Request) -> Response:
        build = self.builds.get(req.match["id"])
        if build is None or req.match["project"] != self.project:
            return self.error(404, f"build {req.match['id']} not found")
        self.polls[build["id"]] += 1
        if self.polls[build["id"]] == 1:
            build["status"] = "WORKING"
            build["startTime"] = rfc3339()
            for step in build["steps"]:
                step["status"] = "WORKING"
        elif build["status"] == "WORKING" and not self.never_finish:
            self._finish(build)
        return Response(body=_public(build))

    # --- behaviour ----------------------------------------------------------------------------
    def _runs_as(self, body: dict[str, Any]) -> str:
        named = SERVICE_ACCOUNT.match(body.get("serviceAccount") or "")
        return named["email"] if named else self.default_account

    def _check(self, body: dict[str, Any]) -> tuple[str | None, bytes, set[str]]:  # noqa: PLR0911
        """(what is wrong or None, the source tarball, the Dockerfile's stage names)."""
        account = body.get("serviceAccount")
        if account is not None:
            if not SERVICE_ACCOUNT.match(account):
                return (
                    f"invalid build.service_account {account!r}: expected projects/-/serviceAccounts/<email>",
                    b"",
                    set(),
                )
            logging = (body.get("options") or {}).get("logging")
            if logging not in OWN_LOGS and not body.get("logsBucket"):
                return (
                    "if 'build.service_account' is specified, the build must either (a) specify "
                    "'build.logs_bucket', (b) use the REGIONAL_USER_OWNED_BUCKET "
                    "build.options.default_logs_bucket_behavior option, or (c) use either "
                    "CLOUD_LOGGING_ONLY / NONE logging options",
                    b"",
                    set(),
                )
        storage = (body.get("source") or {}).get("storageSource") or {}
        bucket, name = storage.get("bucket"), storage.get("object")
        stored = self.storage.objects.get(bucket or "", {}).get(name or "")
        if stored is None:
            return f"source gs://{bucket}/{name} does not exist", b"", set()
        steps = body.get("steps") or []
        if len(steps) != 1 or steps[0].get("name") != DOCKER_STEP:
            return f"expected one {DOCKER_STEP} step, got {steps}", b"", set()
        args = steps[0].get("args") or []
        if args[:1] != ["build"] or args[-1:] != ["."] or "-f" not in args or "-t" not in args:
            return f"not a docker build of the context: {args}", b"", set()
        dockerfile = args[args.index("-f") + 1]
        tag = args[args.index("-t") + 1]
        if tag not in (body.get("images") or []):
            return f"the built tag {tag} is not in images {body.get('images')}", b"", set()
        try:
            with tarfile.open(fileobj=io.BytesIO(stored.data), mode="r:gz") as tar:
                names = set(tar.getnames())
                member = tar.extractfile(dockerfile) if dockerfile in names else None
                text = member.read().decode() if member is not None else ""
        except tarfile.TarError as exc:
            return f"source is not a gzipped tarball: {exc}", b"", set()
        if dockerfile not in names:
            return f"the source has no {dockerfile} (has {sorted(names)[:20]})", b"", set()
        return None, stored.data, {stage.lower() for stage in STAGE.findall(text)}

    def _finish(self, build: dict[str, Any]) -> None:
        build["finishTime"] = rfc3339()
        if build["_fail"]:
            build["status"] = "FAILURE"
            build["statusDetail"] = "Build failed; check build logs for details"
            build["failureInfo"] = {"type": "USER_BUILD_STEP", "detail": build["_fail"]}
            build["steps"][0]["status"] = "FAILURE"
            return
        args = build["steps"][0]["args"]
        # What differs between images ends up in the config, so each gets its own digest.
        build_args = [args[i + 1] for i, a in enumerate(args) if a == "--build-arg"]
        build_args.append(f"DOCKERFILE={args[args.index('-f') + 1]}")
        build_args.append(f"TARGET={_target(args) or ''}")
        images = []
        for ref in build["images"]:
            if self.registry is not None:
                digest = _push_to_artifact_registry(self.registry, ref)
            else:
                digest = push_minimal_image(ref, labels=build_args)
            images.append({"name": ref, "digest": digest})
        build["results"] = {"images": images}
        build["steps"][0]["status"] = "SUCCESS"
        build["status"] = "SUCCESS"


def _target(args: list[str]) -> str | None:
    return args[args.index("--target") + 1] if "--target" in args else None


def _public(build: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in build.items() if not k.startswith("_")}


def _push_to_artifact_registry(registry: ArtifactRegistryDouble, ref: str) -> str:
    """``<location>-docker.pkg.dev/<project>/<repository>/<image>:<tag>`` into the double."""
    name, _, tag = ref.rpartition(":")
    host, project, repository, image = name.split("/", 3)
    return registry.push(project, host.removesuffix("-docker.pkg.dev"), repository, image, tag)


def push_minimal_image(ref: str, *, labels: list[str]) -> str:
    """Push a layerless image to the (anonymous, loopback) registry in ``ref``; return its digest."""
    name, _, tag = ref.rpartition(":")
    host, _, path = name.partition("/")
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": dict(item.split("=", 1) for item in labels)},
            "rootfs": {"type": "layers", "diff_ids": []},
        },
        sort_keys=True,
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    with httpx.Client(base_url=f"http://{host}", timeout=10) as http:
        started = http.post(f"/v2/{path}/blobs/uploads/")
        started.raise_for_status()
        location = started.headers["Location"]
        sep = "&" if "?" in location else "?"
        http.put(
            f"{location}{sep}digest={config_digest}",
            content=config,
            headers={"Content-Type": "application/octet-stream"},
        ).raise_for_status()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": len(config),
                    "digest": config_digest,
                },
                "layers": [],
            }
        ).encode()
        put = http.put(
            f"/v2/{path}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        put.raise_for_status()
        return str(put.headers["Docker-Content-Digest"])
