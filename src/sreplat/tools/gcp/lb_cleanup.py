"""Waiting for the load balancer GKE built to be gone.

Deleting the Ingress (and LoadBalancer Services) only asks GKE's controllers to remove the
forwarding rules and network endpoint groups they created; until they have, Terraform cannot
delete the reserved ingress address (a forwarding rule uses it) nor the network (NEGs sit in
it). Destroy therefore waits here between the releases and the cluster stack.

What counts as ours is exact rather than guessed from names: forwarding rules that use one of
the environment's addresses or sit in its network, and NEGs in its network.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sreplat.cancel import CancelToken
from sreplat.events import Event, EventSink, discard
from sreplat.tools.api_calls import CallTimeout, Deadline
from sreplat.tools.gcp.access import GcpAccess, gcp_call


@dataclass(frozen=True)
class LbResource:
    kind: str  # "forwarding rule" | "network endpoint group"
    name: str
    scope: str  # "global" | "regions/<region>" | "zones/<zone>"
    detail: str  # the address or network that makes it ours

    def describe(self) -> str:
        return f"{self.kind} {self.name} ({self.scope}, {self.detail})"


@dataclass(frozen=True)
class LbCleanup:
    waited_s: float
    polls: int
    seen: tuple[LbResource, ...]  # everything that was still there at the first look


def wait_for_lb_cleanup(
    access: GcpAccess,
    *,
    network: str,
    addresses: Sequence[str] = (),
    timeout: float = 900.0,
    poll_interval: float = 10.0,
    first_poll_interval: float | None = None,
    on_event: EventSink = discard,
    cancel: CancelToken | None = None,
) -> LbCleanup:
    """Poll until no forwarding rule or NEG of this environment is left.

    ``first_poll_interval``: start polling that often and double up to ``poll_interval`` (a
    small load balancer often goes within seconds; a big one takes minutes). Raises CallTimeout
    naming what is still there when ``timeout`` runs out, Interrupted as soon as ``cancel`` is.
    """
    deadline = Deadline(timeout, cancel)
    started = time.monotonic()
    polls = 0
    first: tuple[LbResource, ...] | None = None
    last_names: set[str] | None = None
    left: tuple[LbResource, ...] = ()
    interval = min(first_poll_interval or poll_interval, poll_interval)
    while True:
        try:
            left = _find(access, network, tuple(addresses), deadline)
        except CallTimeout as exc:
            if first is None:
                raise
            raise _still_there(left, timeout) from exc
        polls += 1
        if first is None:
            first = left
        names = {r.name for r in left}
        if not left:
            waited = round(time.monotonic() - started, 3)
            on_event(
                Event(
                    "lb.cleanup_done",
                    "GKE load balancer resources are gone"
                    if first
                    else "no GKE load balancer resources to wait for",
                    data={"waited_s": waited, "polls": polls},
                )
            )
            return LbCleanup(waited_s=waited, polls=polls, seen=first)
        if names != last_names:
            on_event(
                Event(
                    "lb.cleanup_waiting",
                    f"waiting for GKE to delete {len(left)} load balancer resource(s): "
                    + ", ".join(sorted(names)),
                    data={"left": sorted(names)},
                )
            )
            last_names = names
        if deadline.expired():
            raise _still_there(left, timeout)
        deadline.sleep(interval, "waiting for GKE to delete the load balancer")
        interval = min(interval * 2, poll_interval)


def _still_there(left: tuple[LbResource, ...], timeout: float) -> CallTimeout:
    return CallTimeout(
        f"GKE load balancer resources still present after {timeout:g}s: "
        + "; ".join(r.describe() for r in left),
        hint="GKE's controllers delete these after the Ingress and Services are gone; if the cluster "
        "was deleted first, delete them in the Cloud console (Network services → Load balancing), "
        "then resume the destroy",
    )


def _find(
    access: GcpAccess, network: str, addresses: tuple[str, ...], deadline: Deadline
) -> tuple[LbResource, ...]:
    from google.cloud import compute_v1

    credentials = access.resolved_credentials()
    options = access.endpoints.options("compute")
    project = access.project
    network_path = f"projects/{project}/global/networks/{network}"

    def ours_by_network(url: str) -> bool:
        return bool(url) and (url.endswith("/" + network_path) or url == network_path)

    found: dict[str, LbResource] = {}

    def add_rule(rule: Any, scope: str) -> None:
        if rule.I_p_address in addresses:
            found[rule.self_link or rule.name] = LbResource(
                "forwarding rule", rule.name, scope, rule.I_p_address
            )
        elif ours_by_network(rule.network):
            found[rule.self_link or rule.name] = LbResource("forwarding rule", rule.name, scope, network)

    global_rules = compute_v1.GlobalForwardingRulesClient(credentials=credentials, client_options=options)
    for rule in gcp_call(
        "listing global forwarding rules",
        deadline,
        lambda t: list(global_rules.list(project=project, timeout=t, retry=None)),
    ):
        add_rule(rule, "global")
    regional_rules = compute_v1.ForwardingRulesClient(credentials=credentials, client_options=options)
    for scope, scoped in gcp_call(
        "listing forwarding rules",
        deadline,
        lambda t: list(regional_rules.aggregated_list(project=project, timeout=t, retry=None)),
    ):
        for rule in scoped.forwarding_rules:
            add_rule(rule, scope)
    negs = compute_v1.NetworkEndpointGroupsClient(credentials=credentials, client_options=options)
    for scope, scoped in gcp_call(
        "listing network endpoint groups",
        deadline,
        lambda t: list(negs.aggregated_list(project=project, timeout=t, retry=None)),
    ):
        for neg in scoped.network_endpoint_groups:
            if ours_by_network(neg.network):
                found[neg.self_link or neg.name] = LbResource(
                    "network endpoint group", neg.name, scope, network
                )
    return tuple(sorted(found.values(), key=lambda r: (r.kind, r.name)))
