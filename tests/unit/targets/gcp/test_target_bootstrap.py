"""gcp bootstrap end to end against the doubles: real Terraform on the fixture stacks, the real
Helm SDK on the charts, the real google-cloud and kubernetes clients (tests/unit/targets/gcp/world.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.doubles.base import Request
from tests.unit.targets.gcp.world import (
    API_HOST,
    BUCKET,
    ENV,
    INGRESS_IP,
    NEEDS,
    PROJECT,
    REGION,
    STEPS,
    World,
)

pytestmark = [pytest.mark.terraform, pytest.mark.helm, pytest.mark.slow]


def test_bootstrap_runs_the_dag_in_order_with_cluster_and_images_side_by_side(world: World) -> None:
    sha = world.head()
    run = world.cli("bootstrap")
    assert run.code == 0, run.err[-3000:]
    assert run.steps() == dict.fromkeys(STEPS, "ok")

    # Order: every step starts only after what it needs has finished.
    for step, needs in NEEDS.items():
        start, _ = run.window(step)
        for need in needs:
            assert run.window(need)[1] <= start, f"{step} started before {need} finished"
    # Concurrency: the cluster stack and the image build overlap.
    cluster, images = run.window("cluster"), run.window("images")
    assert cluster[0] < images[1] and images[0] < cluster[1]

    # What exists now, as the APIs report it.
    assert world.container.clusters[(PROJECT, REGION, f"sreplat-{ENV}")]["status"] == "RUNNING"
    zone = world.clouddns.zones[(PROJECT, f"sreplat-{ENV}")]
    assert zone["dnsName"] == "dev.acme.example."
    records = world.clouddns.records[(PROJECT, f"sreplat-{ENV}")]
    assert {"name": f"{API_HOST}.", "type": "A", "rrdatas": [INGRESS_IP]}.items() <= next(
        r for r in records if r["type"] == "A"
    ).items()
    bucket = world.gcs.buckets[BUCKET]
    assert (
        bucket["versioning"]["enabled"] and bucket["iamConfiguration"]["publicAccessPrevention"] == "enforced"
    )
    assert world.state("foundation") is not None and world.state("cluster") is not None
    for release in ("platform", "redis", "api", "worker"):
        assert world.helm_revisions(release) == [(1, "deployed")]
    record = world.release_record()
    assert record is not None and record["sha"] == sha
    for app in ("api", "worker"):
        image = record["images"][app]
        assert image["repository"] == f"{REGION}-docker.pkg.dev/{PROJECT}/sreplat-{ENV}/{app}"
        assert world.deployment_image(app) == f"{image['repository']}@{image['digest']}"  # by digest
    # Redis runs the pinned image from the environment's own repository, by digest: the mirror
    # holds the same manifest as the upstream registry (Docker Hub's stand-in), byte for byte.
    pins = json.loads((world.repo.path / "base-images.json").read_text())["images"]["redis"]
    statefulset = world.kube.get("StatefulSet", "redis", "sreplat")
    assert statefulset is not None
    [redis_image] = {c["image"] for c in statefulset["spec"]["template"]["spec"]["containers"]}
    assert redis_image == f"{REGION}-docker.pkg.dev/{PROJECT}/sreplat-{ENV}/redis@{pins['digest']}"
    mirrored = world.registry.images[(PROJECT, REGION, f"sreplat-{ENV}", "redis")]
    assert set(mirrored) == {pins["digest"]} and mirrored[pins["digest"]].tags == {"7.4-alpine"}
    ingress = world.kube.get("Ingress", "api", "sreplat")
    assert ingress is not None
    assert (
        ingress["metadata"]["annotations"]["kubernetes.io/ingress.global-static-ip-name"]
        == "sreplat-dev-ingress"
    )
    # The cluster keeps its deletion protection (only destroy lifts it).
    cluster_state = world.state("cluster")
    assert cluster_state is not None
    assert cluster_state["resources"][0]["instances"][0]["attributes"]["input"]["value"][
        "deletion_protection"
    ]

    assert run.result["headline"] == f"dev is up: https://{API_HOST} runs {sha[:12]}"
    assert run.result["facts"]["name_servers"] == [
        "ns-cloud-a1.googledomains.com.",
        "ns-cloud-a2.googledomains.com.",
    ]


def test_bootstrap_of_an_environment_that_is_up_changes_nothing(world: World) -> None:
    assert world.cli("bootstrap").code == 0
    world.reset_calls()
    builds = len(world.cloudbuild.builds)

    again = world.cli("bootstrap")

    assert again.code == 0, again.err[-3000:]
    assert again.result["changed"] is False
    statuses = again.steps()
    assert statuses.pop("verify") == "ok"  # it checks, every time
    assert set(statuses.values()) == {"skipped"}
    assert len(world.cloudbuild.builds) == builds
    assert world.kube_writes() == []
    for release in ("platform", "redis", "api", "worker"):
        assert world.helm_revisions(release) == [(1, "deployed")]


def _once(arm: Callable[[], None]) -> Callable[[Request], None]:
    armed = []

    def hook(_request: Request) -> None:
        if not armed:
            armed.append(True)
            arm()

    return hook


# step → how to make it fail once (as the real API would: a refusal, a failed build...)
FAULTS: dict[str, Callable[[World], object]] = {
    "state-bucket": lambda w: w.gcs.inject(r"^/storage/v1/b$", method="POST", status=403, times=1),
    "foundation": lambda w: w.clouddns.inject(r"/managedZones$", method="POST", status=403, times=1),
    "cluster": lambda w: w.container.inject(r"/clusters$", method="POST", status=403, times=1),
    "images": lambda w: setattr(
        w.cloudbuild, "fail_next", "Step #0 - docker-build: returned a non-zero code: 1"
    ),
    "platform": lambda w: w.kube.inject(
        r"/networkpolicies/default-deny$", method="PATCH", status=422, times=1
    ),
    # The environment's registry refuses one of the mirror's uploads.
    "redis-image": lambda w: w.registry.inject(r"/redis/blobs/uploads/$", method="POST", status=503, times=1),
    "redis": lambda w: w.kube.inject(r"/statefulsets/redis$", method="PATCH", status=422, times=1),
    "api": lambda w: w.kube.inject(r"/deployments/api$", method="PATCH", status=422, times=1),
    "worker": lambda w: w.kube.inject(r"/deployments/worker$", method="PATCH", status=422, times=1),
    # The load balancer has no healthy backend for as long as verify waits (3s here).
    "verify": lambda w: (w.configure(ready_timeout_s=3), w.ingress.inject(r"^/healthz$", status=502)),
    # The record is written after verify read the certificate: arm the fault then.
    "record": lambda w: w.kube.on_request(
        r"/managedcertificates/api$",
        _once(lambda: w.gcs.inject(r"release\.json", status=403, times=1)),
        method="GET",
    ),
}


@pytest.mark.parametrize("failing", STEPS)
def test_a_failure_at_any_step_is_resumed_by_the_next_run(world: World, failing: str) -> None:
    FAULTS[failing](world)

    first = world.cli("bootstrap")

    assert first.code == 1, first.err[-3000:]
    assert first.steps()[failing] == "failed"
    assert first.error["exit_code"] == 1
    done_before = {s for s, status in first.steps().items() if status == "ok"}
    assert set(NEEDS.get(failing, [])) <= done_before
    assert world.release_record() is None
    for double in world.doubles:  # whatever failed is fixed now
        double.clear_faults()

    second = world.cli("bootstrap")

    assert second.code == 0, second.err[-3000:]
    statuses = second.steps()
    assert statuses[failing] == "ok"
    for step in done_before - {"verify"}:  # verify re-checks every run
        assert statuses[step] == "resumed", f"{step} was re-run"
    assert world.release_record() is not None
    for release in ("platform", "redis", "api", "worker"):
        assert world.helm_revisions(release)[-1][1] == "deployed"
