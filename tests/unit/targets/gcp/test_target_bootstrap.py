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
    CLUSTER_DNS,
    ENV,
    INGRESS_IP,
    NEEDS,
    PROJECT,
    REGION,
    STEPS,
    TOKEN,
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
    facts = run.result["facts"]
    assert facts["name_servers"] == ["ns-cloud-a1.googledomains.com.", "ns-cloud-a2.googledomains.com."]
    assert facts["ds_record"].startswith("2371 8 2 ")  # beside the name servers, for the registrar
    assert facts["ci_service_account"] == f"sreplat-{ENV}-deployer@{PROJECT}.iam.gserviceaccount.com"


def test_bootstrap_on_a_project_as_real_as_the_doubles_make_it(world: World) -> None:
    """Issue 12. The IP endpoint is closed (no authorized networks, the default): every
    Kubernetes request — the first one included — goes through the DNS-based endpoint, verified
    against the public trust store, with the Google access token. The default Cloud Build account
    may not build here (a secure-by-default organisation). CI's identity, Role, grants and the
    registry's release tags are in place; the environment lock is gone when the run ends."""
    sha = world.head()
    world.cloudbuild.able_accounts = {f"sreplat-{ENV}-build@{PROJECT}.iam.gserviceaccount.com"}
    run = world.cli("bootstrap")
    assert run.code == 0, run.err[-3000:]
    calls = world.kube.calls()
    assert calls and {c.server_name for c in calls} == {CLUSTER_DNS}
    assert {c.headers["authorization"] for c in calls} == {f"Bearer {TOKEN}"}
    assert world.kube.refused == []
    # The cluster stack asked GKE for that endpoint, open to user traffic, and no authorized network.
    [spec] = world.container.create_requests
    endpoints = spec["controlPlaneEndpointsConfig"]
    assert endpoints["dnsEndpointConfig"]["allowExternalTraffic"] is True
    assert endpoints["ipEndpointsConfig"]["authorizedNetworksConfig"]["cidrBlocks"] == []
    # The first Kubernetes write is the namespace, with its Pod Security labels.
    first_write = next(c for c in calls if c.method != "GET")
    assert (first_write.method, first_write.path) == ("PATCH", "/api/v1/namespaces/sreplat")
    namespace = world.kube.get("Namespace", "sreplat")
    assert namespace is not None
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # Cloud Build ran as the foundation's build account (the default one may not build here).
    assert {b["serviceAccount"] for b in world.cloudbuild.builds.values()} == {
        f"projects/{PROJECT}/serviceAccounts/sreplat-{ENV}-build@{PROJECT}.iam.gserviceaccount.com"
    }
    # The recorded release's images carry release-<sha>, which the cleanup policy keeps.
    for app in ("api", "worker"):
        [image] = world.registry.images[(PROJECT, REGION, f"sreplat-{ENV}", app)].values()
        assert image.tags == {sha, f"release-{sha}"}
    # The CI deployer's Role is bound to its account; the API uses the TLS policy.
    binding = world.kube.get("RoleBinding", "sreplat-deployer", "sreplat")
    assert binding is not None
    assert binding["subjects"][0]["name"] == f"sreplat-{ENV}-deployer@{PROJECT}.iam.gserviceaccount.com"
    frontend = world.kube.get("FrontendConfig", "api", "sreplat")
    assert frontend is not None and frontend["spec"]["sslPolicy"] == f"sreplat-{ENV}-ingress-tls"
    # The foundation stack got the state bucket and prefix (its grants to CI are made there).
    foundation = world.state("foundation")
    assert foundation is not None
    assert foundation["outputs"]["state_objects"]["value"]["lock"] == f"sreplat/{ENV}/lock.json"
    # The environment lock is gone once the run is over.
    assert f"sreplat/{ENV}/lock.json" not in world.gcs.objects[BUCKET]
    lock = f"sreplat/{ENV}/lock.json"
    lock_writes = [r for r in world.gcs.calls("POST", "/upload/") if lock.encode() in r.body]
    assert lock_writes and lock_writes[0].param("ifGenerationMatch") == "0"


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


def _once(arm: Callable[[], None], *, after: int = 0) -> Callable[[Request], None]:
    """A hook that arms a fault once, on the matching request that follows ``after`` others."""
    seen = []

    def hook(_request: Request) -> None:
        seen.append(True)
        if len(seen) == after + 1:
            arm()

    return hook


# step → how to make it fail once (as the real API would: a refusal, a failed build...)
FAULTS: dict[str, Callable[[World], object]] = {
    # A bucket that exists with weaker settings must be brought up to them (the environment
    # lock lives in it, so it is taken first): the update is refused once.
    "state-bucket": lambda w: (
        w.gcs.add_bucket(BUCKET, versioning=False, uniform_access=True),
        w.gcs.inject(rf"^/storage/v1/b/{BUCKET}$", method="PATCH", status=403, times=1),
    ),
    "foundation": lambda w: w.clouddns.inject(r"/managedZones$", method="POST", status=403, times=1),
    "cluster": lambda w: w.container.inject(r"/clusters$", method="POST", status=403, times=1),
    "namespace": lambda w: w.kube.inject(
        r"^/api/v1/namespaces/sreplat$", method="PATCH", status=422, times=1
    ),
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
