"""The local Docker engine as an image builder, through the engine API (the ``docker`` SDK).

The API rather than the CLI because a push then carries the registry credentials in a request
header: nothing is written to ``~/.docker/config.json`` (no ``docker login``), and the access token
never appears in an argv. Build output is parsed into events: one per Dockerfile step, whether the
step came from the layer cache, and the failing step with the engine's error when a build fails.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sreplat.errors import OperationFailed
from sreplat.events import Event, EventSink

if TYPE_CHECKING:
    from docker import APIClient

    from sreplat.tools.images.pipeline import BuildRequest

_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
LOG_TAIL_LINES = 30
# The last stage the images have in common (the app's venv on the base, hardened); the app
# targets built from it add only their command and labels.
SHARED_STAGE = "runtime"
SHARED = "shared"  # the ``app`` that events of the shared stage's build carry
ENGINE_HINT = "start Docker (or run `make test` as root, which starts one), or build with Cloud Build"


@dataclass(frozen=True)
class BuildStep:
    number: int
    total: int
    instruction: str


def engine_answers(base_url: str | None = None, timeout_s: float = 3.0) -> bool:
    """Whether a Docker engine answers (to pick this builder or Cloud Build)."""
    import docker
    import docker.errors

    try:
        if base_url:
            client = docker.APIClient(base_url=base_url, version="auto", timeout=int(max(timeout_s, 1)))
        else:
            client = docker.from_env(version="auto", timeout=int(max(timeout_s, 1))).api
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, OSError):
        return False
    finally:
        client.close()


class DockerEngineBuilder:
    """Builds with the engine at ``base_url`` (default: ``DOCKER_HOST`` or the local socket).

    ``network_mode`` is the network of ``RUN`` steps (``host`` where the engine has no bridge);
    ``nocache`` rebuilds every layer (cold-build benchmarks).
    """

    name = "docker"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        network_mode: str | None = None,
        nocache: bool = False,
        timeout_s: float = 1800.0,
    ):
        self.base_url = base_url
        self.network_mode = network_mode
        self.nocache = nocache
        self.timeout_s = timeout_s
        self._locks_guard = threading.Lock()
        self._push_locks: dict[str, threading.Lock] = {}

    def _push_lock(self, host: str) -> threading.Lock:
        with self._locks_guard:
            return self._push_locks.setdefault(host, threading.Lock())

    def _client(self) -> APIClient:
        import docker
        import docker.errors

        try:
            if self.base_url:
                return docker.APIClient(base_url=self.base_url, version="auto", timeout=int(self.timeout_s))
            return docker.from_env(version="auto", timeout=int(self.timeout_s)).api
        except docker.errors.DockerException as exc:
            where = self.base_url or "the default socket (DOCKER_HOST)"
            raise OperationFailed(
                f"no Docker engine answers at {where}", hint=ENGINE_HINT, detail=str(exc)
            ) from exc

    def prepare(self, requests: Sequence[BuildRequest], emit: EventSink) -> None:
        """Build the stages the images share once, before they are built side by side.

        The images are targets of one Dockerfile that differ only after its ``runtime`` stage
        (the venv with every dependency on the base). Built concurrently from a cold cache, each
        image build would make those stages again, doubling the slowest part; built once here,
        every image build finds them in the layer cache. Correctness never depends on this: a
        failure here leaves each image build to meet (and report) the same error itself.
        """
        if len(requests) < 2:
            return
        try:
            with self._engine(SHARED) as client:
                self._build(client, requests[0], emit, shared_stage=True)
        except OperationFailed as exc:
            emit(
                Event(
                    "image.shared_stage_failed",
                    f"the shared {SHARED_STAGE} stage did not build; building each image on its own",
                    data={"app": SHARED, "error": exc.one_line()},
                )
            )

    def build_and_push(self, request: BuildRequest, emit: EventSink) -> str:
        with self._engine(request.app) as client:
            self._build(client, request, emit)
            return self._push(client, request, emit)

    @contextlib.contextmanager
    def _engine(self, app: str) -> Iterator[APIClient]:
        """An engine client; engine errors become OperationFailed naming the image."""
        import docker.errors

        client = self._client()
        try:
            yield client
        except docker.errors.APIError as exc:
            raise OperationFailed(
                f"the Docker engine refused the {app} image: {exc.explanation or exc}"
            ) from exc
        except docker.errors.DockerException as exc:
            raise OperationFailed(f"Docker engine error for the {app} image: {exc}") from exc
        finally:
            client.close()

    def _build(
        self, client: APIClient, request: BuildRequest, emit: EventSink, *, shared_stage: bool = False
    ) -> str:
        """Build the request's image or, with ``shared_stage``, only the stages every image shares
        (untagged: it lives on as layer cache; its events carry the app ``shared``)."""
        started = time.monotonic()
        if shared_stage:
            app, target, tag = SHARED, SHARED_STAGE, None
        else:
            app, target, tag = request.app, request.target, str(request.image)
        what = tag or f"the shared {target} stage"
        emit(
            Event(
                "image.build_started",
                f"building {what} with the Docker engine",
                data={"app": app, "ref": tag or target, "target": target, "builder": self.name},
            )
        )
        stream = client.build(
            path=str(request.context_dir),
            dockerfile=request.dockerfile,
            target=target,
            tag=tag,
            buildargs=dict(request.build_args),
            rm=True,
            forcerm=True,
            pull=False,
            nocache=self.nocache,
            network_mode=self.network_mode,
            decode=True,
        )
        image_id, steps, cached = _follow_build(stream, app, emit)
        duration = time.monotonic() - started
        emit(
            Event(
                "image.build_done",
                f"built {what} in {duration:.1f}s ({cached}/{steps} steps from cache)",
                data={
                    "app": app,
                    "ref": tag or target,
                    "image_id": image_id,
                    "steps": steps,
                    "cached_steps": cached,
                    "duration_s": round(duration, 3),
                },
            )
        )
        return image_id

    def _push(self, client: APIClient, request: BuildRequest, emit: EventSink) -> str:
        ref = str(request.image)
        # One push at a time per registry: the images share almost every layer, and a second push
        # mounts the layers the first uploaded instead of compressing and uploading them again.
        with self._push_lock(request.image.host):
            started = time.monotonic()
            emit(Event("image.push_started", f"pushing {ref}", data={"app": request.app, "ref": ref}))
            auth = request.credentials.docker_auth_config() if request.credentials else None
            stream = client.push(
                request.image.repository, tag=request.image.tag, auth_config=auth, stream=True, decode=True
            )
            digest = _follow_push(stream, ref)
        emit(
            Event(
                "image.pushed",
                f"pushed {ref} in {time.monotonic() - started:.1f}s",
                data={
                    "app": request.app,
                    "ref": ref,
                    "digest": digest,
                    "duration_s": round(time.monotonic() - started, 3),
                },
            )
        )
        return digest


def _follow_build(stream: Iterable[Mapping[str, Any]], app: str, emit: EventSink) -> tuple[str, int, int]:
    """Consume the engine's build stream; return (image id, steps, cached steps) or raise."""
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    step: BuildStep | None = None
    steps = cached = 0
    image_id = ""
    for chunk in stream:
        if "error" in chunk:
            raise _build_failure(app, step, chunk, tail)
        aux = chunk.get("aux")
        if isinstance(aux, Mapping) and "ID" in aux:
            image_id = str(aux["ID"])
        for raw in str(chunk.get("stream", "")).splitlines():
            line = raw.rstrip()
            if not line:
                continue
            tail.append(line)
            match = _STEP_RE.match(line)
            if match:
                step = BuildStep(int(match[1]), int(match[2]), match[3])
                steps += 1
                emit(
                    Event(
                        "image.build_step",
                        f"{app}: step {step.number}/{step.total} {step.instruction}",
                        data={
                            "app": app,
                            "step": step.number,
                            "total": step.total,
                            "instruction": step.instruction,
                        },
                    )
                )
            elif line.strip() == "---> Using cache" and step is not None:
                cached += 1
                emit(
                    Event(
                        "image.build_step_cached",
                        f"{app}: step {step.number}/{step.total} from cache",
                        data={"app": app, "step": step.number, "instruction": step.instruction},
                    )
                )
            elif line.startswith("Successfully built ") and not image_id:
                image_id = line.removeprefix("Successfully built ").strip()
    if not image_id:
        raise OperationFailed(f"the {app} image build ended without an image", detail="\n".join(tail) or None)
    return image_id, steps, cached


def _build_failure(
    app: str, step: BuildStep | None, chunk: Mapping[str, Any], tail: Iterable[str]
) -> OperationFailed:
    error = str(chunk.get("error", "")).strip()
    where = f" at step {step.number}/{step.total} ({step.instruction})" if step else ""
    return OperationFailed(
        f"the {app} image build failed{where}: {error}",
        hint="the last lines of the build output are in the run log (-v)",
        detail="\n".join(tail) or None,
    )


def _follow_push(stream: Iterable[Mapping[str, Any]], ref: str) -> str:
    digest = ""
    for chunk in stream:
        if "error" in chunk:
            raise OperationFailed(
                f"pushing {ref} failed: {str(chunk['error']).strip()}",
                hint="check the registry address and credentials",
            )
        aux = chunk.get("aux")
        if isinstance(aux, Mapping) and aux.get("Digest"):
            digest = str(aux["Digest"])
    if not digest:
        raise OperationFailed(f"pushing {ref} reported no digest")
    return digest
