"""Rollout status and waiting, against the Kubernetes double (HTTPS + bearer token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sreplat.events import Event
from sreplat.tools.api_calls import AccessDenied, CallTimeout
from sreplat.tools.gcp.gke import ClusterAccess
from sreplat.tools.kube.certificates import managed_certificate
from sreplat.tools.kube.workloads import RolloutFailed, wait_for_rollout, workload_status
from tests.doubles.base import Request
from tests.doubles.fixtures import KUBE_TOKEN
from tests.doubles.kube import KubeDouble
from tests.doubles.kube_objects import deployment, namespace, pod, statefulset
from tests.doubles.kube_objects import managed_certificate as managed_cert

NS = "sreplat"


@pytest.fixture
def api(kube_double: KubeDouble, kube_ca_pem: str) -> Iterator[Any]:
    kube_double.put(namespace())
    access = ClusterAccess(endpoint=kube_double.url, ca_pem=kube_ca_pem, token=KUBE_TOKEN)
    with access.api_client() as client:
        yield client


def test_complete_deployment(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("api", replicas=2))
    kube_double.put(pod("api-1", "api", restarts=1))
    kube_double.put(pod("api-2", "api"))
    status = workload_status(api, NS, "Deployment", "api")
    assert status.complete
    assert (status.desired, status.ready, status.updated, status.available) == (2, 2, 2, 2)
    assert status.restarts == 1
    assert status.problems == ()
    assert status.message == "successfully rolled out (2/2 available)"


def test_crash_looping_pod_is_named_with_its_reason_and_last_exit(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("api", replicas=2, ready=1, updated=1, total=3))
    kube_double.put(pod("api-old", "api"))
    crashing = pod(
        "api-new",
        "api",
        waiting_reason="CrashLoopBackOff",
        restarts=5,
        waiting_message="back-off 2m40s restarting failed container=api",
    )
    crashing["status"]["containerStatuses"][0]["lastState"] = {
        "terminated": {"reason": "OOMKilled", "exitCode": 137}
    }
    kube_double.put(crashing)
    status = workload_status(api, NS, "Deployment", "api")
    assert status.state == "progressing"
    assert status.message == "1 of 2 updated replicas are available"
    assert status.restarts == 5
    [problem] = status.problems
    assert (problem.pod, problem.reason) == ("api-new", "CrashLoopBackOff")
    assert problem.message == "back-off 2m40s restarting failed container=api; last exit OOMKilled (137)"
    assert "api-new: CrashLoopBackOff" in status.describe()


def test_rollout_rules_in_order(api: Any, kube_double: KubeDouble) -> None:
    def state_of(**kwargs: Any) -> tuple[str, str]:
        kube_double.put(deployment("api", **kwargs))
        s = workload_status(api, NS, "Deployment", "api")
        return s.state, s.message

    assert state_of(observed_generation=0) == (
        "progressing",
        "waiting for the deployment spec update to be observed",
    )
    assert state_of(replicas=3, updated=3, total=4) == (
        "progressing",
        "1 old replicas are pending termination",
    )
    assert state_of(replicas=3, updated=3, ready=2, available=2) == (
        "progressing",
        "2 of 3 updated replicas are available",
    )
    failed = state_of(updated=1, progress_deadline_exceeded=True)
    assert failed[0] == "failed"
    assert failed[1].startswith("exceeded its progress deadline: ReplicaSet")


def test_unschedulable_pod_reports_the_scheduler_message(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("worker", replicas=1, ready=0, available=0))
    kube_double.put(pod("worker-1", "worker", unschedulable="0/3 nodes are available: 3 Insufficient cpu."))
    [problem] = workload_status(api, NS, "Deployment", "worker").problems
    assert (problem.reason, problem.message) == (
        "Unschedulable",
        "0/3 nodes are available: 3 Insufficient cpu.",
    )


def test_running_but_not_ready_pod(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("api", replicas=1, ready=0, available=0))
    kube_double.put(pod("api-1", "api", ready=False))
    [problem] = workload_status(api, NS, "Deployment", "api").problems
    assert problem.reason == "NotReady"
    assert "readiness probe" in problem.message


def test_other_apps_pods_are_not_counted(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("api", replicas=1))
    kube_double.put(pod("api-1", "api"))
    kube_double.put(pod("worker-1", "worker", waiting_reason="ImagePullBackOff", restarts=2))
    status = workload_status(api, NS, "Deployment", "api")
    assert status.problems == ()
    assert status.restarts == 0


def test_statefulset_revision_and_readiness(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(statefulset("redis", replicas=1, ready=0))
    kube_double.put(pod("redis-0", "redis", waiting_reason="ContainerCreating"))
    waiting = workload_status(api, NS, "StatefulSet", "redis")
    assert (waiting.state, waiting.message) == ("progressing", "waiting for 1 pods to be ready")
    assert waiting.problems[0].reason == "ContainerCreating"

    kube_double.put(statefulset("redis", current_revision="redis-1", update_revision="redis-2"))
    kube_double.put(pod("redis-0", "redis"))
    rolling = workload_status(api, NS, "StatefulSet", "redis")
    assert (rolling.state, rolling.message) == (
        "progressing",
        "rolling update: 1 of 1 pods at revision redis-2",
    )

    kube_double.put(statefulset("redis", current_revision="redis-2", update_revision="redis-2"))
    assert workload_status(api, NS, "StatefulSet", "redis").complete


def test_missing_workload(api: Any) -> None:
    status = workload_status(api, NS, "Deployment", "api")
    assert (status.state, status.message) == ("missing", "deployment api not found in sreplat")


def test_wait_for_rollout_follows_progress_until_complete(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("api", replicas=2, ready=0, updated=0, available=0))
    kube_double.put(statefulset("redis"))
    reads = 0

    def controller(_request: Request) -> None:
        # The Deployment controller makes progress each time the deployment is read.
        nonlocal reads
        reads += 1
        if reads == 2:
            kube_double.put(deployment("api", replicas=2, ready=1, updated=2, available=1))
        elif reads == 3:
            kube_double.put(deployment("api", replicas=2))

    kube_double.on_request(r"/deployments/api$", controller)
    events: list[Event] = []
    statuses = wait_for_rollout(
        api,
        NS,
        [("StatefulSet", "redis"), ("Deployment", "api")],
        timeout=30,
        poll_interval=0.01,
        on_event=events.append,
    )
    assert [s.complete for s in statuses] == [True, True]
    api_lines = [e.message for e in events if e.data["name"] == "api"]
    assert api_lines == [
        "deployment/api: 0 of 2 updated replicas are available",
        "deployment/api: 1 of 2 updated replicas are available",
        "deployment/api: successfully rolled out (2/2 available)",
    ]
    assert len([e for e in events if e.data["name"] == "redis"]) == 1  # unchanged: reported once


def test_wait_for_rollout_fails_fast_on_progress_deadline(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("api", updated=1, progress_deadline_exceeded=True))
    with pytest.raises(
        RolloutFailed, match="rollout failed: deployment/api: exceeded its progress deadline"
    ) as info:
        wait_for_rollout(api, NS, [("Deployment", "api")], timeout=30, poll_interval=0.01)
    assert info.value.statuses[0].state == "failed"
    assert len(kube_double.calls("GET", "/deployments/api$")) == 1


def test_wait_for_rollout_fails_fast_on_an_invalid_image(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("api", replicas=1, ready=0, available=0))
    kube_double.put(pod("api-1", "api", waiting_reason="InvalidImageName", waiting_message="bad ref"))
    with pytest.raises(RolloutFailed, match="api-1: InvalidImageName: bad ref"):
        wait_for_rollout(api, NS, [("Deployment", "api")], timeout=30, poll_interval=0.01)


def test_wait_for_rollout_timeout_names_what_is_stuck_and_why(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("worker", replicas=1, ready=0, available=0))
    kube_double.put(pod("worker-1", "worker", waiting_reason="ImagePullBackOff", waiting_message="not found"))
    with pytest.raises(CallTimeout) as info:
        wait_for_rollout(api, NS, [("Deployment", "worker")], timeout=0.3, poll_interval=0.05)
    assert info.value.message == (
        "rollout not complete after 0.3s: deployment/worker: 0 of 1 updated replicas are available; "
        "worker-1: ImagePullBackOff: not found"
    )


def test_hanging_api_times_out_with_the_last_known_state(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("api", replicas=2, ready=1, available=1))
    reads = 0

    def hang_after_first(_request: Request) -> None:
        nonlocal reads
        reads += 1
        if reads == 2:
            kube_double.inject(r"/deployments/api$", hang=True)

    kube_double.on_request(r"/deployments/api$", hang_after_first)
    with pytest.raises(CallTimeout, match=r"rollout not complete after 0.5s: deployment/api: 1 of 2"):
        wait_for_rollout(api, NS, [("Deployment", "api")], timeout=0.5, poll_interval=0.01)


def test_hanging_api_on_a_single_status_read_times_out(api: Any, kube_double: KubeDouble) -> None:
    kube_double.inject(r"/deployments/api$", hang=True)
    with pytest.raises(
        CallTimeout, match=r"reading deployment/api: the Kubernetes API did not answer within 0.3s"
    ):
        workload_status(api, NS, "Deployment", "api", timeout=0.3)


def test_server_errors_are_retried_then_reported(api: Any, kube_double: KubeDouble) -> None:
    kube_double.put(deployment("api"))
    kube_double.inject(r"/deployments/api$", status=503, times=1)
    assert workload_status(api, NS, "Deployment", "api").complete
    kube_double.inject(r"/pods$", status=500)
    with pytest.raises(Exception, match=r"listing pods .*: HTTP 500: injected fault \(500\)"):
        workload_status(api, NS, "Deployment", "api", timeout=0.6)


def test_forbidden_is_access_denied_with_a_hint(api: Any, kube_double: KubeDouble) -> None:
    kube_double.inject(r"/deployments/api$", status=403)
    with pytest.raises(AccessDenied, match="reading deployment/api: 403") as info:
        workload_status(api, NS, "Deployment", "api")
    # Issue 12: the deployer is a Cluster Viewer plus a namespaced Role, never a project-wide developer.
    hint = info.value.hint or ""
    assert "roles/container.clusterViewer" in hint and "sreplat-deployer" in hint
    assert "container.developer" not in hint


def test_managed_certificate_states(api: Any, kube_double: KubeDouble) -> None:
    assert managed_certificate(api, NS, "api").state == "missing"
    kube_double.put(managed_cert("api", ["api.dev.acme.example"], status=None))
    assert managed_certificate(api, NS, "api").state == "Provisioning"
    kube_double.put(managed_cert("api", ["api.dev.acme.example"], status="Provisioning"))
    cert = managed_certificate(api, NS, "api")
    assert not cert.active
    assert cert.describe() == "certificate api: Provisioning (api.dev.acme.example: Provisioning)"
    kube_double.put(managed_cert("api", ["api.dev.acme.example"], status="Active"))
    assert managed_certificate(api, NS, "api").active
