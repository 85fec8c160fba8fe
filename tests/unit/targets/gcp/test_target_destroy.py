"""gcp destroy: releases → load balancer gone → cluster (protection lifted there) → foundation;
a protected environment is refused; a destroy that failed half-way is resumed."""

from __future__ import annotations

import itertools

import pytest

from tests.unit.targets.gcp.world import BUCKET, ENV, PROJECT, World

pytestmark = [pytest.mark.terraform, pytest.mark.helm, pytest.mark.slow]

ORDER = ["releases", "load-balancer", "cluster", "foundation"]


def bootstrapped(world: World) -> None:
    run = world.cli("bootstrap")
    assert run.code == 0, run.err[-3000:]


def cluster_protection(world: World) -> bool:
    state = world.state("cluster")
    assert state is not None and state["resources"]
    return bool(state["resources"][0]["instances"][0]["attributes"]["input"]["value"]["deletion_protection"])


def test_destroy_removes_everything_in_order(world: World) -> None:
    bootstrapped(world)
    assert world.gke.ingresses_seen == ["api"]  # GKE built a load balancer for the Ingress
    assert len(world.compute.resources) == 2

    run = world.cli("destroy", "--yes")

    assert run.code == 0, run.err[-3000:]
    assert run.steps() == dict.fromkeys(ORDER, "ok")
    for before, after in itertools.pairwise(ORDER):
        assert run.window(before)[1] <= run.window(after)[0], f"{after} started before {before} finished"
    lb = next(e for e in run.events("step.finish") if e["step"] == "load-balancer")
    assert lb["message"].startswith("2 load balancer resource(s) gone")

    assert world.kube.get("Deployment", "api", "sreplat") is None
    assert world.compute.resources == {}
    assert world.container.deleted == [f"sreplat-{ENV}"] and world.container.clusters == {}
    assert (PROJECT, f"sreplat-{ENV}") not in world.clouddns.zones
    for stack in ("foundation", "cluster"):
        state = world.state(stack)
        assert state is not None and state["resources"] == []
    assert world.release_record() is None
    assert BUCKET in world.gcs.buckets  # kept: versioned, may hold other environments' state
    assert not world.state_dir.exists()
    assert run.result["headline"] == f"{ENV} destroyed (gs://{BUCKET} kept: it may hold other state)"

    again = world.cli("destroy", "--yes")
    assert again.code == 0
    assert again.events("notice")[0]["message"] == f"{ENV}: nothing to destroy"


def test_a_protected_environment_is_refused_until_forced(world: World) -> None:
    bootstrapped(world)
    world.configure(protected=True)
    world.reset_calls()

    refused = world.cli("destroy", "--yes")

    assert refused.code == 2
    assert refused.error["message"] == f"environment '{ENV}' is protected; nothing destroyed"
    assert world.calls() == []
    assert world.container.clusters

    forced = world.cli("destroy", "--yes", "--force-protected")
    assert forced.code == 0, forced.err[-3000:]
    assert world.container.clusters == {}


def test_deletion_protection_is_lifted_only_inside_destroy_and_a_partial_destroy_resumes(
    world: World,
) -> None:
    bootstrapped(world)
    assert cluster_protection(world) is True
    world.container.inject(r"/clusters/sreplat-dev$", method="DELETE", status=403, times=1)

    first = world.cli("destroy", "--yes")

    assert first.code == 1, first.err[-3000:]
    assert first.steps() == {
        "releases": "ok",
        "load-balancer": "ok",
        "cluster": "failed",
    }  # foundation: not run
    assert cluster_protection(world) is False  # lifted, then the delete was refused
    assert world.container.clusters and world.state_dir.exists()

    second = world.cli("destroy", "--yes")

    assert second.code == 0, second.err[-3000:]
    assert second.steps() == {
        "releases": "resumed",
        "load-balancer": "resumed",
        "cluster": "ok",
        "foundation": "ok",
    }
    assert world.container.clusters == {}
    assert (PROJECT, f"sreplat-{ENV}") not in world.clouddns.zones
    assert not world.state_dir.exists()


def test_keep_data_is_refused_before_anything(world: World) -> None:
    run = world.cli("destroy", "--yes", "--keep-data")

    assert run.code == 2
    assert "--keep-data is not supported by the gcp target" in run.error["message"]
    assert world.calls() == []
