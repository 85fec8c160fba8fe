"""gcp status: every check healthy on a bootstrapped environment; each made unhealthy in turn
(the others keep their own verdict); a hanging check ends at its own timeout while the others
are reported; --drift plans the stacks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.doubles.kube_objects import pod
from tests.unit.targets.gcp.world import ENV, PROJECT, REGION, World

pytestmark = [pytest.mark.terraform, pytest.mark.helm, pytest.mark.slow]

CHECKS = ["state", "cluster", "dns", "registry", "releases", "workloads", "endpoint", "queue", "slo"]
# Checks that need the cluster's API: a broken cluster leaves them unable to tell, and they say
# they skipped (the cluster check says why).
ON_THE_CLUSTER = {"releases", "workloads", "endpoint"}


def _stored(world: World, kind: str, name: str) -> dict[str, Any]:
    found = world.kube.get(kind, name, "sreplat")
    assert found is not None
    return found


def break_cluster(world: World) -> Callable[[], None]:
    world.container.set_status(PROJECT, REGION, f"sreplat-{ENV}", "ERROR", "the control plane is unreachable")
    return lambda: world.container.set_status(PROJECT, REGION, f"sreplat-{ENV}", "RUNNING")


def break_dns(world: World) -> Callable[[], None]:
    saved = dict(world.public_dns.records)
    world.public_dns.add("api.dev.acme.example", "198.51.100.7")  # delegated somewhere else
    return lambda: world.public_dns.records.update(saved)


def break_registry(world: World) -> Callable[[], None]:
    return world.registry.delete_images()  # a cleanup policy deleted them


def break_releases(world: World) -> Callable[[], None]:
    secrets = [
        s
        for s in world.kube.list("Secret", "sreplat")
        if (s["metadata"].get("labels") or {}).get("name") == "worker"
    ]
    for secret in secrets:  # someone removed the worker release's history
        world.kube.delete("Secret", secret["metadata"]["name"], "sreplat")

    def restore() -> None:
        for secret in secrets:
            world.kube.put(secret)

    return restore


def break_workloads(world: World) -> Callable[[], None]:
    saved = _stored(world, "Deployment", "worker")
    broken = copy.deepcopy(saved)
    broken["status"].update(readyReplicas=1, availableReplicas=1)
    world.kube.put(broken)
    crashing = pod("worker-7d9f8b6c5d-x2x4q", "worker", waiting_reason="CrashLoopBackOff", restarts=6)
    crashing["metadata"]["labels"].update(saved["spec"]["selector"]["matchLabels"])  # one of its pods
    world.kube.put(crashing)

    def restore() -> None:
        world.kube.put(saved)
        world.kube.delete("Pod", "worker-7d9f8b6c5d-x2x4q", "sreplat")

    return restore


def break_endpoint(world: World) -> Callable[[], None]:
    saved = _stored(world, "ManagedCertificate", "api")
    provisioning = copy.deepcopy(saved)
    provisioning["status"]["certificateStatus"] = "Provisioning"
    world.kube.put(provisioning)
    return lambda: world.kube.put(saved)


def break_queue(world: World) -> Callable[[], None]:
    world.monitoring.answers["sreplat_build_info"] = None  # no worker scraped
    return lambda: world.monitoring.answers.update(sreplat_build_info=2)


def break_slo(world: World) -> Callable[[], None]:
    # API availability burning its budget 20x over the last hour and 5 minutes: SLOFastBurn fires.
    saved = {name: world.monitoring.answers[name] for name in ("slo:burn_rate:1h", "slo:burn_rate:5m")}
    for name in saved:
        world.slo_series(name, {"api-availability": 20.0, "api-latency": 0.5, "job-freshness": 0.0})
    return lambda: world.monitoring.answers.update(saved)


BREAKERS: dict[str, tuple[Callable[[World], Callable[[], None]], str]] = {
    "cluster": (break_cluster, "is ERROR: the control plane is unreachable"),
    "dns": (break_dns, "public DNS returns 198.51.100.7"),
    "registry": (break_registry, "is missing from the registry"),
    "releases": (break_releases, "worker not installed"),
    "workloads": (break_workloads, "worker-7d9f8b6c5d-x2x4q: CrashLoopBackOff"),
    "endpoint": (break_endpoint, "certificate api: Provisioning"),
    "queue": (break_queue, "no worker reports in"),
    "slo": (break_slo, "api-availability: budget 100.0% left, burn 1h 20x (FAST BURN: 1h and 5m above 14.4)"),
}


def test_each_check_healthy_then_each_unhealthy_on_its_own(world: World) -> None:
    assert world.cli("bootstrap").code == 0

    healthy = world.cli("status")

    assert healthy.code == 0, healthy.err[-3000:]
    checks = healthy.checks()
    assert list(checks) == CHECKS
    assert {name: c["verdict"] for name, c in checks.items()} == dict.fromkeys(CHECKS, "healthy")
    assert checks["state"]["summary"].startswith(
        "foundation state at gs://acme-sre-dev-sreplat-tfstate/sreplat/dev/foundation: "
    )
    assert checks["cluster"]["summary"] == "sreplat-dev RUNNING, version 1.33.2-gke.1111000"
    assert checks["dns"]["summary"] == "api.dev.acme.example → 34.120.0.10 (zone sreplat-dev)"
    assert checks["queue"]["summary"] == "depth 0, 0 failed in the last hour, 2 workers"
    assert checks["workloads"]["data"]["workloads"]["redis"]["ready"] == 1
    assert checks["slo"]["summary"].startswith("api-availability: budget 100.0% left, burn 1h 0x; ")
    # Managed Prometheus was asked for this cluster's and namespace's series only.
    slo_queries = [q for q in world.monitoring.queries if q.startswith("slo:")]
    assert 'slo:burn_rate:5m{cluster="sreplat-dev",namespace="sreplat"}' in slo_queries

    for check, (breaker, words) in BREAKERS.items():
        restore = breaker(world)
        try:
            run = world.cli("status")
        finally:
            restore()
        verdicts = {name: c["verdict"] for name, c in run.checks().items()}
        assert run.code == 3, check
        assert verdicts[check] == "unhealthy", (check, run.checks()[check])
        assert words in run.checks()[check]["summary"], (check, run.checks()[check]["summary"])
        spared = set(CHECKS) - {check} - (ON_THE_CLUSTER if check == "cluster" else set())
        assert {verdicts[c] for c in spared} == {"healthy"}, (check, verdicts)
        if check == "cluster":
            for name in ON_THE_CLUSTER:
                assert run.checks()[name]["summary"] == (
                    "skipped: GKE cluster sreplat-dev is ERROR: the control plane is unreachable"
                ), name
                assert "hint" not in run.checks()[name]
        assert run.result["healthy"] is False

    assert world.cli("status").code == 0  # everything restored


def test_a_hanging_check_ends_at_its_own_timeout_and_the_others_are_reported(world: World) -> None:
    assert world.cli("bootstrap").code == 0
    # Helm's storage reads hang (no deadline reaches into the Helm SDK): the check's own
    # timeout ends it. Managed Prometheus hangs too: its call's deadline, inside the check, does.
    world.kube.inject(r"/namespaces/sreplat/secrets$", method="GET", hang=True)
    world.monitoring.inject(r"/query$", hang=True)

    run = world.cli("status")

    assert run.code == 3
    checks = run.checks()
    assert (checks["releases"]["verdict"], checks["releases"]["summary"]) == (
        "unknown",
        "no answer within 10s",
    )
    assert checks["queue"]["verdict"] == "unknown"
    assert checks["queue"]["summary"].endswith("no answer within 8s")
    assert checks["slo"]["verdict"] == "unknown"  # Managed Prometheus again
    assert {checks[c]["verdict"] for c in CHECKS if c not in ("releases", "queue", "slo")} == {"healthy"}
    assert run.result["verdict"] == "unknown"


def test_drift_is_a_terraform_plan_of_each_stack(world: World) -> None:
    assert world.cli("bootstrap").code == 0
    world.reset_calls()

    clean = world.cli("status", "--drift")

    assert clean.code == 0, clean.err[-3000:]
    assert clean.checks()["drift"]["summary"] == "no drift: both stacks match their configuration"
    # A plan takes no state lock: nothing was written to the bucket.
    assert [r for r in world.gcs.calls() if r.method in ("POST", "PUT", "PATCH", "DELETE")] == []

    world.configure(  # the configuration moved on
        github_repository="acme/sreplat", github_repository_id="101", github_repository_owner_id="202"
    )
    drifted = world.cli("status", "--drift")

    assert drifted.code == 3
    drift = drifted.checks()["drift"]
    assert drift["verdict"] == "unhealthy"
    assert drift["summary"].startswith("drift: foundation ")
    assert "cluster" not in drift["data"]["stacks"]
