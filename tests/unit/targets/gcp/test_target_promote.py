"""``sreplat promote --from dev --to prod`` through the real CLI: two gcp environments on the
doubles (each its own Kubernetes API double and API host), their images in two repositories of a
real ``docker-registry`` behind the Artifact Registry double. Prod ends up running exactly the
digests dev runs — copied by digest, nothing rebuilt — with the upgrade, rollback and record of a
deploy; bad sources are refused before anything changes, and an interrupted promotion resumes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.registry_images import RegistryWriter
from tests.support.registry_server import RegistryServer
from tests.unit.targets.gcp.world import BUCKET, ENV, PROD, PROD_API_HOST, PROJECT, World, open_world

pytestmark = [pytest.mark.terraform, pytest.mark.helm, pytest.mark.registry, pytest.mark.slow]

APPS = ("api", "worker")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("artifact-registry-storage")) as server:
        yield server


@pytest.fixture
def world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    upstream: RegistryServer,
) -> Iterator[World]:
    with open_world(
        tmp_path,
        setenv=monkeypatch.setenv,
        capsys=capsys,
        registry_upstream=upstream.url,
        prod=True,
    ) as world:
        monkeypatch.chdir(world.project_dir)
        world.configure_prod()
        yield world
    problems = [f"{d.name}: {p}" for d in world.doubles for p in d.problems]
    assert not problems, "\n".join(problems)


def promote(world: World, *args: str) -> Any:
    return world.cli("promote", "--from", ENV, "--to", PROD, *args, env=None)


def repository(env: str, app: str) -> str:
    return f"{PROJECT}/sreplat-{env}/{app}"


def prod_running(world: World) -> dict[str, str]:
    return {app: world.deployment_image(app, env=PROD) for app in APPS}


def seed_record(world: World, env: str, document: dict[str, Any]) -> None:
    if BUCKET not in world.gcs.objects:
        world.gcs.add_bucket(BUCKET)
    world.gcs.put_object(BUCKET, f"sreplat/{env}/release.json", json.dumps(document).encode())


def test_prod_runs_exactly_the_digests_dev_runs_copied_not_rebuilt(
    world: World, upstream: RegistryServer
) -> None:
    assert world.cli("bootstrap").code == 0
    assert world.cli("bootstrap", env=PROD).code == 0
    v2 = world.commit("v2")
    assert world.cli("deploy", "--sha", v2).code == 0
    dev = world.release_record(ENV)
    assert dev is not None and dev["sha"] == v2
    dev_images = {app: world.deployment_image(app) for app in APPS}
    dev_revisions = world.helm_revisions("api")
    builds = len(world.cloudbuild.builds)

    plan = promote(world, "--dry-run")
    assert plan.code == 0 and plan.result["sha"] == v2 and plan.result["source"] == ENV
    assert plan.result["steps"] == ["current", "images", "upgrade", "smoke", "record"]

    run = promote(world)

    assert run.code == 0, run.err[-3000:]
    assert run.steps() == {"current": "ok", "images": "ok", "upgrade": "ok", "smoke": "ok", "record": "ok"}
    assert len(world.cloudbuild.builds) == builds  # nothing rebuilt
    writer = RegistryWriter(upstream.url)
    prod = world.release_record(PROD)
    assert prod is not None and prod["sha"] == v2 and prod["promoted_from"] == ENV
    assert prod["inputs"] == dev["inputs"]  # what the images were built from comes along
    for app in APPS:
        digest = dev["images"][app]["digest"]
        assert prod["images"][app]["digest"] == digest
        assert prod["images"][app]["repository"].endswith(f"/sreplat-{PROD}/{app}")
        # The same manifest, byte for byte, on both sides of the real registry; tagged with the SHA.
        source = writer.get_manifest(repository(ENV, app), digest)
        target = writer.get_manifest(repository(PROD, app), v2)
        assert target.headers["Docker-Content-Digest"] == digest and target.content == source.content
        assert world.deployment_image(app, env=PROD) == f"{prod['images'][app]['repository']}@{digest}"
    # The smoke step asked prod's API host through the load balancer: it reports the SHA.
    assert (
        run.result["headline"] == f"deployed {v2[:12]} to {PROD}: https://{PROD_API_HOST}/healthz reports it"
    )
    copied = run.events("image.copied")
    assert len(copied) == 2 and all(e["mounted"] > 0 and e["streamed"] == 0 for e in copied)  # one host
    # As a deploy records: prod's copies carry release-<sha> too (prod's cleanup policy keeps
    # them), and the record went over the generation the promotion read (bootstrap's record).
    record_step = next(e for e in run.events("step.finish") if e["step"] == "record")
    assert record_step["message"].endswith(f"images tagged release-{v2[:12]}")
    for app in APPS:
        tagged = writer.get_manifest(repository(PROD, app), f"release-{v2}")
        assert tagged.headers["Docker-Content-Digest"] == dev["images"][app]["digest"]
    record_writes = [
        r for r in world.gcs.calls("POST", "/upload/") if f"sreplat/{PROD}/release.json".encode() in r.body
    ]
    assert record_writes[-1].param("ifGenerationMatch") not in (None, "0")
    assert [past["sha"] for past in prod["history"]] == [world.repo.git("rev-parse", f"{v2}^")]  # bootstrap's
    # Dev is untouched.
    assert {app: world.deployment_image(app) for app in APPS} == dev_images
    assert world.helm_revisions("api") == dev_revisions

    # Again: prod already runs it.
    again = promote(world)
    assert again.code == 0 and again.result["changed"] is False


def test_an_interrupted_promotion_resumes_and_an_earlier_release_with_missing_images_is_refused(
    world: World, upstream: RegistryServer
) -> None:
    v1 = world.head()
    assert world.cli("bootstrap").code == 0
    assert world.cli("bootstrap", env=PROD).code == 0
    v2 = world.commit("v2")
    assert world.cli("deploy", "--sha", v2).code == 0
    before = prod_running(world)

    # The upgrade fails after the copy: prod is rolled back, as a deploy would be.
    assert world.prod_kube is not None
    world.prod_kube.inject(r"/deployments/api$", method="PATCH", status=422, times=1)
    failed = promote(world)
    assert failed.code == 1
    assert failed.steps()["images"] == "ok" and failed.steps()["upgrade"] == "failed"
    assert prod_running(world) == before
    record = world.release_record(PROD)
    assert record is not None and record["sha"] == v1

    resumed = promote(world)
    assert resumed.code == 0, resumed.err[-3000:]
    assert resumed.steps()["images"] == "resumed"  # the copy is not done again
    assert world.release_record(PROD)["sha"] == v2  # type: ignore[index]

    # An earlier dev release whose images a cleanup policy deleted: refused, prod untouched.
    dev = world.release_record(ENV)
    assert dev is not None and dev["history"][0]["sha"] == v1
    gone = dev["history"][0]["images"]["worker"]["digest"]
    httpx.delete(f"{upstream.url}/v2/{repository(ENV, 'worker')}/manifests/{gone}").raise_for_status()
    running = prod_running(world)
    world.reset_calls()

    refused = promote(world, "--sha", v1[:10])

    assert refused.code == 1
    assert (
        "is not in its repository" in refused.error["message"]
        and "nothing was copied" in refused.error["message"]
    )
    assert prod_running(world) == running and world.kube_writes() == []
    assert world.prod_kube.calls("PATCH") == []


def test_bad_sources_are_refused_before_anything_changes(world: World) -> None:
    nothing = promote(world)
    assert nothing.code == 2 and "'dev' has no release record: nothing to promote" in nothing.error["message"]

    sha = world.head()
    image = {
        "repository": f"asia-south1-docker.pkg.dev/{repository(ENV, 'api')}",
        "tag": sha,
        "digest": "sha256:" + "a" * 64,
    }
    seed_record(world, ENV, {"sha": sha, "images": {"api": image, "worker": image}, "revisions": {}})
    world.reset_calls()

    unknown = promote(world, "--sha", "0123456789ab")
    assert (
        unknown.code == 2
        and f"does not run 0123456789ab and never ran it (its releases: {sha[:12]})"
        in unknown.error["message"]
    )

    unhealthy = promote(world)  # dev was never bootstrapped: its status is not healthy
    assert unhealthy.code == 2
    assert "dev is not healthy" in unhealthy.error["message"] and "state:" in unhealthy.error["message"]

    same = world.cli("promote", "--from", ENV, "--to", ENV, env=None)
    assert same.code == 2 and "both 'dev'" in same.error["message"]
    conflicting = world.cli("promote", "--from", ENV, "--to", PROD, env=ENV)
    assert conflicting.code == 2 and "--env dev and --to prod disagree" in conflicting.error["message"]
    # Status's queries to Managed Prometheus are POSTs that change nothing; nothing else was written.
    writes = [
        (n, r.method, r.path) for n, r in world.calls(writes_only=True) if not r.path.endswith("/query")
    ]
    assert writes == []
