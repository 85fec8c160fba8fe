"""gcp deploy --sha end to end: a new SHA rolls out by digest, the same SHA again does nothing,
and a rollout or smoke test that fails leaves the previous release running (exit 1)."""

from __future__ import annotations

import pytest

from tests.doubles.kube_controllers import container_images
from tests.unit.targets.gcp.world import API_HOST, World

pytestmark = [pytest.mark.terraform, pytest.mark.helm, pytest.mark.slow]

APPS = ("api", "worker")


def bootstrapped(world: World) -> str:
    run = world.cli("bootstrap")
    assert run.code == 0, run.err[-3000:]
    return world.head()


def running_images(world: World) -> dict[str, str]:
    return {app: world.deployment_image(app) for app in APPS}


def test_a_new_sha_is_built_and_rolled_out_by_digest(world: World) -> None:
    bootstrapped(world)
    before = running_images(world)
    new = world.commit("v2")
    builds = len(world.cloudbuild.builds)

    run = world.cli("deploy", "--sha", new[:10])  # an abbreviation resolves to the commit

    assert run.code == 0, run.err[-3000:]
    assert run.steps() == {"current": "ok", "images": "ok", "upgrade": "ok", "smoke": "ok", "record": "ok"}
    assert len(world.cloudbuild.builds) == builds + 2
    record = world.release_record()
    assert record is not None and record["sha"] == new
    for app in APPS:
        image = record["images"][app]
        assert image["tag"] == new
        assert world.deployment_image(app) == f"{image['repository']}@{image['digest']}"
        assert world.deployment_image(app) != before[app]
        assert world.helm_revisions(app) == [(1, "superseded"), (2, "deployed")]
    assert record["revisions"] == {"api": 2, "worker": 2}
    assert run.result["facts"]["release"] == new
    assert run.result["headline"] == f"deployed {new[:12]} to dev: https://{API_HOST}/healthz reports it"


def test_the_running_sha_again_builds_nothing_and_upgrades_nothing(world: World) -> None:
    sha = bootstrapped(world)
    builds = len(world.cloudbuild.builds)
    world.reset_calls()

    run = world.cli("deploy", "--sha", sha)

    assert run.code == 0, run.err[-3000:]
    assert run.result["changed"] is False
    assert run.result["headline"] == f"dev already runs {sha[:12]}: nothing to do"
    assert run.steps() == {
        "current": "ok",
        "images": "skipped",
        "upgrade": "skipped",
        "smoke": "skipped",
        "record": "skipped",
    }
    assert len(world.cloudbuild.builds) == builds
    assert world.cloudbuild.calls() == [] and world.registry.calls() == []
    assert world.kube_writes() == []
    for app in APPS:
        assert world.helm_revisions(app) == [(1, "deployed")]


def test_a_rollout_that_never_gets_ready_leaves_the_previous_release_running(world: World) -> None:
    old = bootstrapped(world)
    before = running_images(world)
    world.configure(ready_timeout_s=4)
    new = world.commit("broken worker")
    # The new worker pods never become ready (a crash at start, say); the api ones do.
    world.workloads.never_ready = lambda obj: (
        obj["metadata"]["name"] == "worker" and container_images(obj) != [before["worker"]]
    )

    run = world.cli("deploy", "--sha", new)

    assert run.code == 1, run.err[-3000:]
    assert run.steps()["upgrade"] == "failed"
    message = run.error["message"]
    assert "worker" in message and "api rolled back" in message
    assert running_images(world) == before  # both: worker by Helm, api by sreplat
    for app in APPS:
        revisions = world.helm_revisions(app)
        assert revisions[-1] == (3, "deployed"), revisions  # the rollback is revision 3
    record = world.release_record()
    assert record is not None and record["sha"] == old


def test_a_failed_smoke_request_rolls_both_apps_back(world: World) -> None:
    old = bootstrapped(world)
    before = running_images(world)
    world.configure(ready_timeout_s=3)
    new = world.commit("v2")
    world.ingress.inject(r"^/healthz$", status=502)  # the load balancer finds no healthy backend

    run = world.cli("deploy", "--sha", new)

    assert run.code == 1, run.err[-3000:]
    assert run.steps()["smoke"] == "failed"
    assert "failed its smoke test" in run.error["message"]
    assert running_images(world) == before
    record = world.release_record()
    assert record is not None and record["sha"] == old


def test_deploy_before_bootstrap_is_refused_and_changes_nothing(world: World) -> None:
    run = world.cli("deploy", "--sha", world.head())

    assert run.code == 2
    assert "not bootstrapped" in run.error["message"]
    assert world.calls(writes_only=True) == []
    assert not world.state_dir.exists()
