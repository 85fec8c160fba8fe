"""The real Dockerfile's two targets, built by the real Docker engine, pushed to a real registry,
and run hardened (read-only root, no capabilities, no new privileges, UID 1000, only /tmp
writable) on a base without any shell, with a job going API → Redis → worker.

Nothing can be pulled here, so both base build arguments point at a Debian base made with
debootstrap (``tests/support/base_image.py``); the final stages get a copy with every shell
removed, standing in for distroless.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sreplat.errors import OperationFailed
from sreplat.events import Event
from sreplat.tools.images import bases
from sreplat.tools.images.docker_builder import DockerEngineBuilder
from sreplat.tools.images.pipeline import BuiltImages, build_and_push
from sreplat.tools.images.registry import (
    ARTIFACT_REGISTRY_USER,
    ImageRef,
    RegistryClient,
    RegistryCredentials,
)
from tests.images.conftest import AppsRepo, commit_change
from tests.support.redis_server import free_port
from tests.support.registry_server import RegistryServer

# The first test also makes the debootstrap base (about a minute when not cached) and builds both
# images cold: more than the suite's default per-test timeout on a loaded 2-core machine.
pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow, pytest.mark.timeout(900)]

HARDENED: dict[str, Any] = {
    "network_mode": "host",  # the engine runs without a bridge: containers talk on loopback
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "user": "1000:1000",
    "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m"},
}


def docker_client() -> Any:
    import docker

    return docker.from_env(timeout=120)


@dataclass(frozen=True)
class EngineBuild:
    repo: AppsRepo
    prefix: str
    manifest: BuiltImages
    events: list[Event]


@pytest.fixture(scope="session")
def engine_builder(docker_engine: None) -> DockerEngineBuilder:
    return DockerEngineBuilder(network_mode="host")


@pytest.fixture(scope="session")
def engine_build(
    apps_repo: AppsRepo,
    registry: RegistryServer,
    engine_builder: DockerEngineBuilder,
    engine_build_args: dict[str, str],
) -> Iterator[EngineBuild]:
    """Both images built once for the session, concurrently, and pushed to the local registry."""
    events: list[Event] = []
    prefix = f"{registry.host}/engine"
    manifest = build_and_push(
        sha=apps_repo.sha,
        registry_prefix=prefix,
        builder=engine_builder,
        repo=apps_repo.path,
        emit=events.append,
        build_args=engine_build_args,
    )
    yield EngineBuild(apps_repo, prefix, manifest, events)
    _remove_test_images(registry.host)


def _remove_test_images(registry_host: str) -> None:
    """Remove what the tests built. The builder stage's layers are not part of these images and
    stay as build cache for the next run."""
    client = docker_client()
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(registry_host + "/"):
                client.images.remove(tag)


def test_both_images_build_push_and_record_the_served_digests(
    engine_build: EngineBuild, registry: RegistryServer
) -> None:
    sha = engine_build.repo.sha
    client = RegistryClient(registry.host)
    for app in ("api", "worker"):
        record = engine_build.manifest.images[app]
        assert record.built
        assert record.tag == sha
        assert client.manifest_digest(ImageRef.parse(record.ref)) == record.digest
    kinds = [e.kind for e in engine_build.events]
    assert kinds.count("image.build_done") == 3  # shared stages, api, worker
    assert kinds.count("image.pushed") == 2
    steps = [e for e in engine_build.events if e.kind == "image.build_step"]
    assert {e.data["app"] for e in steps} == {"shared", "api", "worker"}
    assert any(e.data["instruction"].startswith("FROM ") for e in steps)
    # The shared stages were built once, first; then both targets side by side (the second started
    # before the first finished), each finding every step the shared build made in the cache.
    started = [
        (i, e.data["app"]) for i, e in enumerate(engine_build.events) if e.kind == "image.build_started"
    ]
    assert started[0][1] == "shared"
    assert sorted(app for _, app in started[1:]) == ["api", "worker"]
    done = [
        i
        for i, e in enumerate(engine_build.events)
        if e.kind == "image.build_done" and e.data["app"] != "shared"
    ]
    assert started[2][0] < done[0]
    shared = {e.data["step"]: e.data["instruction"] for e in steps if e.data["app"] == "shared"}
    assert any(
        "pip install --require-hashes --no-deps -r requirements.lock" in text for text in shared.values()
    )
    for app in ("api", "worker"):
        app_steps = {e.data["step"]: e.data["instruction"] for e in steps if e.data["app"] == app}
        assert {n: app_steps[n] for n in shared} == shared  # the same Dockerfile, the same steps
        assert app_steps[max(app_steps)] != shared[max(shared)]  # and then the app's own stage
        must_be_cached = {n for n, text in shared.items() if not text.startswith(("FROM ", "ARG "))}
        cached = {
            e.data["step"]
            for e in engine_build.events
            if e.kind == "image.build_step_cached" and e.data["app"] == app
        }
        assert must_be_cached and must_be_cached <= cached, (app, sorted(must_be_cached - cached))


@pytest.mark.parametrize(
    ("app", "entrypoint", "port"), [("api", "sreplat-api", "8080"), ("worker", "sreplat-worker", "9100")]
)
def test_image_config_is_hardened_and_labelled(
    engine_build: EngineBuild, app: str, entrypoint: str, port: str
) -> None:
    image = docker_client().images.get(engine_build.manifest.images[app].ref)
    config = image.attrs["Config"]
    assert config["User"] == "1000:1000"
    assert config["Entrypoint"] == [f"/opt/venv/bin/{entrypoint}"]  # exec form: no shell involved
    assert f"{port}/tcp" in config["ExposedPorts"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.revision"] == engine_build.repo.sha
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.title"] == f"sreplat-{app}"


@pytest.mark.e2e
def test_a_job_goes_through_hardened_containers(
    engine_build: EngineBuild, redis_url: str, base_images: Any
) -> None:
    import docker.errors

    client = docker_client()
    api_port, metrics_port = free_port(), free_port()
    env = {"REDIS_URL": redis_url, "WEB_CONCURRENCY": "2", "WORKER_METRICS_PORT": str(metrics_port)}
    api_ref = engine_build.manifest.images["api"].pinned
    worker_ref = engine_build.manifest.images["worker"].pinned
    # The final stage's base has no shell at all (as distroless): nothing below may need one.
    shell = client.containers.create(base_images.runtime, ["/bin/sh", "-c", "true"])
    try:
        with pytest.raises(docker.errors.APIError, match="/bin/sh"):
            shell.start()
    finally:
        shell.remove(force=True)

    containers = []
    try:
        api = client.containers.run(
            api_ref, ["--bind", f"127.0.0.1:{api_port}"], detach=True, environment=env, **HARDENED
        )
        containers.append(api)
        worker = client.containers.run(worker_ref, detach=True, environment=env, **HARDENED)
        containers.append(worker)
        base = f"http://127.0.0.1:{api_port}"
        _wait_http(f"{base}/readyz", containers)
        _wait_http(f"http://127.0.0.1:{metrics_port}/metrics", containers)

        accepted = httpx.post(
            f"{base}/process", json={"task": "sha256", "payload": {"data": "abc", "rounds": 2}}
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        job = _wait_job(f"{base}/jobs/{job_id}")
        assert job["status"] == "finished", job
        assert job["result"]["rounds"] == 2

        # Hardening as the engine sees it, and from inside: read-only root, /tmp writable, UID 1000.
        attrs = client.api.inspect_container(api.id)["HostConfig"]
        assert attrs["ReadonlyRootfs"] is True
        assert attrs["CapDrop"] == ["ALL"]
        assert "no-new-privileges" in attrs["SecurityOpt"]
        probe = (
            "import os, tempfile\n"
            "print(os.getuid(), os.getgid())\n"
            "tempfile.NamedTemporaryFile(dir='/tmp').close()\n"
            "try:\n    open('/opt/venv/probe', 'w')\nexcept OSError as e:\n    print(e.strerror)\n"
        )
        for container in containers:
            code, out = container.exec_run(["/opt/venv/bin/python", "-c", probe])
            assert code == 0, out
            assert out.decode().split("\n")[:2] == ["1000 1000", "Read-only file system"]
    finally:
        for container in containers:
            container.remove(force=True)


def _wait_http(url: str, containers: list[Any], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        for container in containers:
            container.reload()
            if container.status == "exited":
                raise AssertionError(f"{container.name} exited: {container.logs()[-3000:].decode()}")
        time.sleep(0.2)
    logs = "\n".join(c.logs()[-2000:].decode() for c in containers)
    raise AssertionError(f"{url} did not answer 200 within {timeout_s}s\n{logs}")


def _wait_job(url: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = httpx.get(url, timeout=2).json()
        if job["status"] in ("finished", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job not done within {timeout_s}s: {job}")


def test_rerun_for_the_same_sha_skips_the_build_and_keeps_the_digests(
    engine_build: EngineBuild, engine_builder: DockerEngineBuilder
) -> None:
    events: list[Event] = []
    again = build_and_push(
        sha=engine_build.repo.sha,
        registry_prefix=engine_build.prefix,
        builder=engine_builder,
        repo=engine_build.repo.path,
        emit=events.append,
        build_args={"BUILDER_IMAGE": "never-used", "BASE_IMAGE": "never-used"},
    )
    assert sorted(e.kind for e in events) == ["image.skipped", "image.skipped", "images.done"]
    for app in ("api", "worker"):
        assert not again.images[app].built
        assert again.images[app].digest == engine_build.manifest.images[app].digest
    assert again.to_json()["images"] == engine_build.manifest.to_json()["images"]
    # Nothing was built, so the bases given were not used: the inputs are the commit's pins.
    assert again.inputs is not None
    assert "never-used" not in again.inputs.base_images.values()


def test_a_code_change_reuses_the_dependency_layer(
    engine_build: EngineBuild,
    apps_clone: AppsRepo,
    prefix: str,
    engine_builder: DockerEngineBuilder,
    engine_build_args: dict[str, str],
) -> None:
    # A change no earlier run made, so its layer cannot already be in the engine's cache.
    init = apps_clone.path / "apps" / "src" / "sreplat_apps" / "__init__.py"
    sha = commit_change(
        apps_clone.path, "apps/src/sreplat_apps/__init__.py", init.read_text() + f"# changed {uuid.uuid4()}\n"
    )
    events: list[Event] = []
    build_and_push(
        sha=sha,
        registry_prefix=prefix,
        builder=engine_builder,
        repo=apps_clone.path,
        apps=("api",),
        emit=events.append,
        build_args=engine_build_args,
    )
    steps = {e.data["step"]: e.data["instruction"] for e in events if e.kind == "image.build_step"}
    cached = {e.data["step"] for e in events if e.kind == "image.build_step_cached"}
    deps = [
        n
        for n, text in steps.items()
        if "pip install --require-hashes --no-deps -r requirements.lock" in text
    ]
    app_install = [n for n, text in steps.items() if "pip install --no-deps ." in text]
    assert deps and set(deps) <= cached, (steps, cached)
    assert app_install and not set(app_install) & cached


# Exec form: the final stages' base has no shell.
FAILING_RUN = 'RUN ["/usr/bin/python3", "-c", "raise SystemExit(3)"]'


@pytest.mark.parametrize(
    ("after", "failing", "fine"),
    [
        # In one target's own stage: the other image builds and is pushed, ready for a re-run.
        ("FROM runtime AS worker\n", ("worker",), ("api",)),
        # In a shared stage: the shared build fails, then each image build meets and names it.
        ("COPY src ./src\n", ("api", "worker"), ()),
    ],
    ids=["target-stage", "shared-stage"],
)
def test_a_dockerfile_error_surfaces_the_failing_step(
    engine_build: EngineBuild,
    apps_clone: AppsRepo,
    prefix: str,
    registry: RegistryServer,
    engine_builder: DockerEngineBuilder,
    engine_build_args: dict[str, str],
    after: str,
    failing: tuple[str, ...],
    fine: tuple[str, ...],
) -> None:
    dockerfile = apps_clone.path / "apps" / "Dockerfile"
    broken = dockerfile.read_text().replace(after, f"{after}{FAILING_RUN}\n", 1)
    sha = commit_change(apps_clone.path, "apps/Dockerfile", broken)
    events: list[Event] = []
    with pytest.raises(OperationFailed) as caught:
        build_and_push(
            sha=sha,
            registry_prefix=prefix,
            builder=engine_builder,
            repo=apps_clone.path,
            emit=events.append,
            build_args=engine_build_args,
        )
    message = caught.value.one_line()
    assert f"the {failing[0]} image build failed at step" in message
    assert f"({FAILING_RUN})" in message
    assert "returned a non-zero code: 3" in message
    for other in failing[1:]:
        assert f"{other}: the {other} image build failed at step" in (caught.value.detail or "")
    shared_failed = [e for e in events if e.kind == "image.shared_stage_failed"]
    assert len(shared_failed) == (0 if fine else 1)
    client = RegistryClient(registry.host)
    for app in failing:
        assert client.manifest_digest(ImageRef.parse(f"{prefix}/{app}:{sha}")) is None
    for app in fine:
        assert client.manifest_digest(ImageRef.parse(f"{prefix}/{app}:{sha}")) is not None


def test_push_to_a_private_registry_with_a_google_access_token(
    engine_build: EngineBuild,
    engine_builder: DockerEngineBuilder,
    engine_build_args: dict[str, str],
    tmp_path: Path,
) -> None:
    from google.oauth2.credentials import Credentials

    token = "ya29.private-registry-token"
    with RegistryServer(tmp_path / "private", htpasswd=(ARTIFACT_REGISTRY_USER, token)) as private:
        credentials = RegistryCredentials.from_google(Credentials(token=token))
        manifest = build_and_push(
            sha=engine_build.repo.sha,
            registry_prefix=f"{private.host}/acme/sreplat",
            builder=engine_builder,
            repo=engine_build.repo.path,
            apps=("worker",),
            credentials=credentials,
            build_args=engine_build_args,
        )
        record = manifest.images["worker"]
        client = RegistryClient(private.host, credentials=credentials)
        assert client.manifest_digest(ImageRef.parse(record.ref)) == record.digest
        # The same build, so the same image id as the session's; only where it lives differs.
        ids = {
            docker_client().images.get(r).id for r in (record.ref, engine_build.manifest.images["worker"].ref)
        }
        assert len(ids) == 1
        _remove_test_images(private.host)
    # The token travelled in the engine API request only: no docker login, no config file.
    assert not (Path.home() / ".docker" / "config.json").exists()
    assert not any(
        token in p.read_text(errors="ignore")
        for p in tmp_path.rglob("*")
        if p.is_file() and p.stat().st_size < 10**6
    )


def test_engine_answers_when_one_runs(docker_engine: None) -> None:
    from sreplat.tools.images.docker_builder import engine_answers

    assert engine_answers() is True


def test_the_bases_are_built_from_by_the_digests_pinned_in_the_commit(
    apps_clone: AppsRepo,
    registry: RegistryServer,
    engine_builder: DockerEngineBuilder,
    base_images: Any,
) -> None:
    """No build-argument overrides: the bases come from base-images.json at the SHA, refreshed
    against a real registry holding them, and reach the Dockerfile as ``ref@digest``. A digest the
    registry does not hold fails the build at its FROM step, so the digest is what is used."""
    client = docker_client()
    refs: dict[str, str] = {}
    for name, local in (("builder", base_images.builder), ("runtime", base_images.runtime)):
        repository = f"{registry.host}/bases/{name}"
        client.images.get(local).tag(repository, "bookworm")
        client.images.push(repository, "bookworm")
        refs[name] = f"{repository}:bookworm"
    pins_file = apps_clone.path / bases.BASES_FILE
    pins = json.loads(pins_file.read_text())
    pins["images"]["builder"]["ref"] = refs["builder"]
    pins["images"]["runtime"]["ref"] = refs["runtime"]
    del pins["images"]["redis"]  # refresh would ask Docker Hub for it
    pins_file.write_text(json.dumps(pins))
    bases.refresh(pins_file)
    resolved = bases.load_file(pins_file)
    sha = commit_change(apps_clone.path, bases.BASES_FILE, pins_file.read_text(), "bases from the registry")
    prefix = f"{registry.host}/pinned-bases"
    try:
        manifest = build_and_push(
            sha=sha,
            registry_prefix=prefix,
            builder=engine_builder,
            repo=apps_clone.path,
        )
        assert manifest.inputs is not None
        assert manifest.inputs.base_images == {
            "BUILDER_IMAGE": resolved.images["builder"].pinned,
            "BASE_IMAGE": resolved.images["runtime"].pinned,
        }
        assert all(record.built for record in manifest.images.values())

        pins["images"]["builder"]["digest"] = "sha256:" + "0" * 64
        bad = commit_change(apps_clone.path, bases.BASES_FILE, json.dumps(pins), "a digest nobody has")
        with pytest.raises(OperationFailed, match=r"image build failed at step \d+/\d+ \(FROM "):
            build_and_push(
                sha=bad,
                registry_prefix=prefix,
                builder=engine_builder,
                repo=apps_clone.path,
                apps=("api",),
            )
    finally:
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith((prefix + "/", f"{registry.host}/bases/")):
                    client.images.remove(tag)
