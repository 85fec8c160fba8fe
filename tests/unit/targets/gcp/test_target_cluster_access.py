"""Issue 12 item 1 from the user's side: a cluster whose DNS-based endpoint refuses user traffic
(``allowExternalTraffic`` turned off, e.g. by hand in the console) is named by ``status`` with the
fix, and a deploy stops before any Kubernetes request instead of timing out on the closed IP
endpoint."""

from __future__ import annotations

import pytest

from sreplat.errors import ExitCode
from tests.unit.targets.gcp.world import ENV, PROJECT, REGION, World

pytestmark = [pytest.mark.terraform, pytest.mark.helm, pytest.mark.slow]


def close_dns_endpoint(world: World) -> None:
    cluster = world.container.clusters[(PROJECT, REGION, f"sreplat-{ENV}")]
    cluster["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] = False


def test_status_and_deploy_name_a_dns_endpoint_closed_to_user_traffic(world: World) -> None:
    assert world.cli("bootstrap").code == 0
    close_dns_endpoint(world)
    world.reset_calls()

    status = world.cli("status")

    assert status.code == 3
    checks = status.checks()
    assert checks["cluster"]["verdict"] == "unhealthy"
    assert "refuses user traffic" in checks["cluster"]["summary"]
    assert "--enable-dns-access" in checks["cluster"]["hint"]
    for name in ("releases", "workloads", "endpoint"):
        assert checks[name]["summary"].startswith("skipped: GKE cluster sreplat-dev's DNS-based"), name
    assert world.kube.calls() == [] and world.kube.refused == []

    deploy = world.cli("deploy", "--sha", world.commit("v2"))

    assert deploy.code == ExitCode.FAILED
    assert "does not accept user traffic" in deploy.error["message"]
    assert world.kube.calls() == [] and world.kube.refused == []
