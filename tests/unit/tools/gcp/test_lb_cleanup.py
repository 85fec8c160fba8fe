"""Waiting for GKE's load-balancer resources to go, against the Compute double."""

from __future__ import annotations

import threading
import time

import pytest

from sreplat.cancel import CancelToken
from sreplat.errors import Interrupted
from sreplat.events import Event
from sreplat.tools.api_calls import CallTimeout
from sreplat.tools.gcp.access import GcpAccess
from sreplat.tools.gcp.lb_cleanup import LbResource, wait_for_lb_cleanup
from tests.doubles.compute import ComputeDouble
from tests.doubles.fixtures import PROJECT

NETWORK = "sreplat-dev"
INGRESS_IP = "34.120.7.9"


def _ours(compute: ComputeDouble, vanish_after_lists: int | None = None) -> None:
    compute.add_forwarding_rule(
        PROJECT,
        "k8s2-fs-ab12-sreplat-api-cd34",
        ip=INGRESS_IP,
        ingress="sreplat/api",
        vanish_after_lists=vanish_after_lists,
    )
    compute.add_forwarding_rule(
        PROJECT,
        "k8s2-fr-ab12-sreplat-api-cd34",
        ip=INGRESS_IP,
        ingress="sreplat/api",
        vanish_after_lists=vanish_after_lists,
    )
    compute.add_neg(
        PROJECT,
        "k8s1-ab12-sreplat-api-8080-ef56",
        zone="asia-south1-a",
        network=NETWORK,
        vanish_after_lists=vanish_after_lists,
    )


def _theirs(compute: ComputeDouble) -> None:
    # Another environment in the same project: other address, other network.
    compute.add_forwarding_rule(
        PROJECT, "k8s2-fs-zz99-sreplat-api-yy88", ip="34.99.0.1", ingress="sreplat/api"
    )
    compute.add_forwarding_rule(
        PROJECT, "internal-lb", ip="10.0.0.9", region="asia-south1", network="sreplat-prod"
    )
    compute.add_neg(PROJECT, "k8s1-zz99-sreplat-api-8080-xx77", zone="asia-south1-b", network="sreplat-prod")


def test_waits_for_exactly_our_resources(gcp_access: GcpAccess, compute_double: ComputeDouble) -> None:
    _ours(compute_double, vanish_after_lists=1)
    _theirs(compute_double)  # never go, and are not waited for
    compute_double.add_forwarding_rule(
        PROJECT, "our-internal", ip="10.1.0.5", region="asia-south1", network=NETWORK, vanish_after_lists=1
    )
    result = wait_for_lb_cleanup(
        gcp_access, network=NETWORK, addresses=[INGRESS_IP], poll_interval=0.05, timeout=10
    )
    assert result.seen == (
        LbResource("forwarding rule", "k8s2-fr-ab12-sreplat-api-cd34", "global", INGRESS_IP),
        LbResource("forwarding rule", "k8s2-fs-ab12-sreplat-api-cd34", "global", INGRESS_IP),
        LbResource("forwarding rule", "our-internal", "regions/asia-south1", NETWORK),
        LbResource(
            "network endpoint group", "k8s1-ab12-sreplat-api-8080-ef56", "zones/asia-south1-a", NETWORK
        ),
    )


def test_nothing_to_wait_for(gcp_access: GcpAccess, compute_double: ComputeDouble) -> None:
    _theirs(compute_double)
    events: list[Event] = []
    result = wait_for_lb_cleanup(gcp_access, network=NETWORK, addresses=[INGRESS_IP], on_event=events.append)
    assert (result.polls, result.seen) == (1, ())
    assert [e.kind for e in events] == ["lb.cleanup_done"]


def test_waits_until_gke_has_deleted_them(gcp_access: GcpAccess, compute_double: ComputeDouble) -> None:
    _ours(compute_double, vanish_after_lists=3)
    _theirs(compute_double)
    events: list[Event] = []
    result = wait_for_lb_cleanup(
        gcp_access,
        network=NETWORK,
        addresses=[INGRESS_IP],
        poll_interval=0.01,
        timeout=30,
        on_event=events.append,
    )
    assert len(result.seen) == 3
    # Global rules are listed twice per poll (global + aggregated): gone by poll 3; the NEG by poll 4.
    assert result.polls == 4
    assert [e.kind for e in events] == ["lb.cleanup_waiting", "lb.cleanup_waiting", "lb.cleanup_done"]
    assert events[1].data["left"] == ["k8s1-ab12-sreplat-api-8080-ef56"]


def test_timeout_names_what_is_left(gcp_access: GcpAccess, compute_double: ComputeDouble) -> None:
    _ours(compute_double)
    with pytest.raises(CallTimeout) as info:
        wait_for_lb_cleanup(
            gcp_access, network=NETWORK, addresses=[INGRESS_IP], timeout=0.3, poll_interval=0.05
        )
    assert info.value.message.startswith(
        "GKE load balancer resources still present after 0.3s: forwarding rule"
    )
    assert "network endpoint group k8s1-ab12-sreplat-api-8080-ef56 (zones/asia-south1-a" in info.value.message
    assert "Load balancing" in (info.value.hint or "")


def test_hanging_compute_api_times_out(gcp_access: GcpAccess, compute_double: ComputeDouble) -> None:
    compute_double.inject(r"/aggregated/", hang=True)
    with pytest.raises(CallTimeout, match=r"listing forwarding rules: no answer within 0\.4s"):
        wait_for_lb_cleanup(gcp_access, network=NETWORK, addresses=[INGRESS_IP], timeout=0.4)


def test_ctrl_c_ends_the_wait_at_once(gcp_access: GcpAccess, compute_double: ComputeDouble) -> None:
    _ours(compute_double)  # never go
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(Interrupted, match="waiting for GKE to delete the load balancer"):
        wait_for_lb_cleanup(
            gcp_access, network=NETWORK, addresses=[INGRESS_IP], timeout=600, poll_interval=60, cancel=cancel
        )
    # Well before the next 60 s poll, let alone the 600 s timeout.
    assert time.monotonic() - started < 10
