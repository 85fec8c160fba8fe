"""``sreplat status`` for a gcp environment: one check per part, run side by side, each with its
own timeout, each saying what it found in words a person can act on.

state      what every other check needs first, looked at once: credentials that give a token,
           and the foundation stack's Terraform state in the bucket (was it ever bootstrapped?)
cluster    Container API: state and version
dns        Cloud DNS zone and record, and what public resolvers answer for the API host
registry   the deployed SHA's images are in Artifact Registry, with the recorded digests
releases   Helm status and revision of platform, redis, api, worker
workloads  ready replicas, restarts, and why a pod is not ready
endpoint   HTTPS /readyz through the load balancer, and the managed certificate's state
queue      depth, failed jobs and live workers, from Managed Service for Prometheus
drift      (``--drift``) a Terraform plan of each stack: anything changed outside sreplat

One cause, said once: when ``state`` finds no credentials, no connection or no environment, it
alone says so, with the hint; the other checks report "skipped: <why>" rather than repeating the
same error. Every check waits for the credentials (each needs them); dns and endpoint, which
start from the foundation's outputs, wait for the state too; the others run alongside its read
and have their finding replaced by "skipped" if it says there was nothing to check. A check that needs the
cluster's API says "skipped" when the cluster check explains why there is none to talk to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sreplat.errors import OperationFailed, SreplatError
from sreplat.pipeline.checks import Check, Finding, Verdict, healthy, unhealthy, unknown
from sreplat.targets.gcp.context import (
    FOUNDATION,
    HELM_RELEASES,
    NAMESPACE,
    STACKS,
    GcpContext,
    load_clients,
    out_of_reach,
    short_reason,
)
from sreplat.targets.gcp.data import APPS
from sreplat.targets.gcp.record import read_record
from sreplat.targets.gcp.releases import WORKLOADS
from sreplat.tools.api_calls import ResourceMissing

if TYPE_CHECKING:
    from sreplat.targets.gcp.stacks import Stacks
    from sreplat.tools.gcp.gcs_state import StackState

CHECK_TIMEOUT_S = 10.0
DRIFT_TIMEOUT_S = 600.0
# Seconds a call may take inside a check: a little less than the check's own timeout, so a slow
# API is reported by the call (with its name) rather than by the check's "no answer".
CALL_BUDGET_S = CHECK_TIMEOUT_S * 0.8
CERTIFICATE_HINT = (
    "Google issues the managed certificate once {host} resolves to {ip} publicly (usually 15-60 "
    "minutes after that); the dns check shows whether it does"
)


@dataclass(frozen=True)
class Gate:
    """What the preflight found: at most one of ``access`` (Google Cloud cannot be asked at all:
    no usable credentials, no connection) and ``state_error`` (the bucket answered, but not with
    the state: a missing role...); else ``foundation``, the state (None: there is none)."""

    access: SreplatError | None = None
    state_error: SreplatError | None = None
    foundation: StackState | None = None

    @property
    def bootstrapped(self) -> bool:
        return self.foundation is not None and not self.foundation.empty

    def skip(self, *, needs_state: bool) -> str | None:
        """Why a check should not even try (None: go ahead)."""
        if self.access is not None:
            return f"skipped: {short_reason(self.access)}"
        if self.state_error is not None:
            # The bucket could not be read: checks that need it would only repeat that error;
            # the others (Container API, Managed Prometheus) may still tell something.
            return "skipped: the Terraform state could not be read" if needs_state else None
        if not self.bootstrapped:
            return "skipped: not bootstrapped"
        return None


class Preflight:
    """Looks, once per run, at what the checks need first; the checks that ask while it looks
    wait for its answer (they would all make the same calls otherwise)."""

    def __init__(self, ctx: GcpContext):
        self.ctx = ctx
        self._lock = threading.Lock()
        self._gate: Gate | None = None

    def access(self) -> SreplatError | None:
        """Why Google Cloud cannot be asked at all (found once for the whole process), or None."""
        load_clients()
        return self.ctx.access_problem(timeout=CALL_BUDGET_S / 2)

    def gate(self) -> Gate:
        with self._lock:
            if self._gate is None:
                self._gate = self._look()
            return self._gate

    def _look(self) -> Gate:
        problem = self.access()
        if problem is not None:
            return Gate(access=problem)
        try:
            return Gate(foundation=self.ctx.stack_state(FOUNDATION, timeout=CALL_BUDGET_S / 2))
        except OperationFailed as exc:
            # No connection at all: every other API would make each check wait out its timeout.
            return Gate(access=exc) if out_of_reach(exc) else Gate(state_error=exc)


# Checks that start from the foundation's outputs: they wait for the preflight's read of it (which
# they would wait for anyway: the context reads each state once).
NEEDS_FOUNDATION = frozenset({"dns", "endpoint"})
# Checks that read the bucket: when the preflight could not, they would only repeat its error.
READS_BUCKET = NEEDS_FOUNDATION | {"registry"}


def status_checks(ctx: GcpContext, preflight: Preflight | None = None) -> list[Check]:
    preflight = preflight or Preflight(ctx)
    parts: list[tuple[str, Callable[[GcpContext], Finding]]] = [
        ("cluster", cluster),
        ("dns", dns),
        ("registry", registry),
        ("releases", releases),
        ("workloads", workloads),
        ("endpoint", endpoint),
        ("queue", queue),
    ]
    checks = [Check("state", lambda: state(ctx, preflight.gate()), CHECK_TIMEOUT_S)]
    checks += [Check(name, _gated(name, fn, ctx, preflight), CHECK_TIMEOUT_S) for name, fn in parts]
    return checks


def drift_checks(stacks: Stacks, preflight: Preflight) -> list[Check]:
    def run() -> Finding:
        reason = preflight.gate().skip(needs_state=True)
        return unknown(reason) if reason else drift_check(stacks)

    return [Check("drift", run, DRIFT_TIMEOUT_S)]


def _gated(
    name: str, fn: Callable[[GcpContext], Finding], ctx: GcpContext, preflight: Preflight
) -> Callable[[], Finding]:
    needs_state = name in READS_BUCKET

    def run() -> Finding:
        problem = preflight.access()
        if problem is not None:
            return unknown(f"skipped: {short_reason(problem)}")
        if name in NEEDS_FOUNDATION:
            reason = preflight.gate().skip(needs_state=True)
            return unknown(reason) if reason else fn(ctx)
        # Side by side with the state read, which the healthy case should not wait for; what it
        # found is only reported when the state says there is something to find.
        try:
            finding = fn(ctx)
        except SreplatError:
            if reason := preflight.gate().skip(needs_state=needs_state):
                return unknown(reason)
            raise
        reason = preflight.gate().skip(needs_state=needs_state)
        return unknown(reason) if reason else finding

    return run


def state(ctx: GcpContext, gate: Gate) -> Finding:
    where = f"gs://{ctx.bucket}/{ctx.stack_prefix(FOUNDATION)}"
    if gate.access is not None:
        return unknown(gate.access.headline, hint=gate.access.hint)
    if gate.state_error is not None:
        return unknown(gate.state_error.headline, hint=gate.state_error.hint)
    bootstrap = _run(ctx, "bootstrap")
    if gate.foundation is None:
        return unhealthy(f"not bootstrapped: no Terraform state at {where}", hint=bootstrap)
    if gate.foundation.empty:
        return unhealthy(f"destroyed: the Terraform state at {where} holds nothing", hint=bootstrap)
    found = gate.foundation
    return healthy(
        f"foundation state at {where}: {found.resources} resources (serial {found.serial})",
        bucket=ctx.bucket,
        serial=found.serial,
    )


def _run(ctx: GcpContext, verb: str) -> str:
    """A hint naming the environment: without ``--env`` the command would act on ``local``."""
    return f"run `sreplat {verb} --env {ctx.env.name}`"


def _no_cluster(ctx: GcpContext) -> Finding | None:
    """ "skipped" when there is no cluster API to talk to (the cluster check says why), else None."""
    from sreplat.tools.gcp.gke import ClusterNotReady

    try:
        ctx.cluster_access(timeout=CALL_BUDGET_S)
    except ResourceMissing:
        return unknown(f"skipped: cluster {ctx.settings.cluster_name} does not exist")
    except ClusterNotReady as exc:
        return unknown(f"skipped: {exc.headline}")
    return None


def cluster(ctx: GcpContext) -> Finding:
    from sreplat.tools.gcp.gke import DNS_ACCESS_HINT, USABLE_STATES, describe_cluster

    name = ctx.settings.cluster_name
    try:
        info = describe_cluster(ctx.access, ctx.settings.region, name, timeout=CALL_BUDGET_S)
    except ResourceMissing:
        return unhealthy(f"cluster {name} does not exist", hint=_run(ctx, "bootstrap"))
    facts = {
        "status": info.status,
        "version": info.master_version,
        "autopilot": info.autopilot,
        "dns_endpoint": info.dns_endpoint,
    }
    why = f": {info.status_message}" if info.status_message else ""
    if info.status in USABLE_STATES and not info.dns_external:
        return unhealthy(
            f"{name}'s DNS-based endpoint refuses user traffic: sreplat cannot reach the cluster",
            hint=DNS_ACCESS_HINT.format(name=name, location=ctx.settings.region),
            **facts,
        )
    if info.status == "RUNNING":
        return healthy(f"{name} RUNNING, version {info.master_version}", **facts)
    if info.status == "RECONCILING":
        return healthy(f"{name} RECONCILING (an upgrade or repair; it keeps serving){why}", **facts)
    hint = "creation takes 10-15 minutes" if info.status == "PROVISIONING" else None
    return unhealthy(f"{name} is {info.status}{why}", hint=hint, **facts)


def dns(ctx: GcpContext) -> Finding:
    from sreplat.tools.gcp.cloud_dns import check_dns

    foundation = ctx.foundation(timeout=CALL_BUDGET_S)
    host, ip = foundation.api_hostname, foundation.ingress_address
    status = check_dns(
        ctx.access,
        foundation.dns_zone_name,
        host,
        expected_ip=ip,
        resolver=ctx.resolver,
        timeout=CALL_BUDGET_S,
    )
    facts = {"host": host, "zone_ips": list(status.record_ips), "public_ips": list(status.resolved_ips)}
    if status.ok:
        return healthy(f"{host} → {', '.join(status.resolved_ips)} (zone {status.zone})", **facts)
    servers = ", ".join(status.name_servers)
    hint = f"the domain must be delegated to {servers}" if servers else None
    return unhealthy("; ".join(status.problems), hint=hint, **facts)


def registry(ctx: GcpContext) -> Finding:
    from sreplat.targets.gcp.images import registry_digest

    record = read_record(ctx, timeout=CALL_BUDGET_S)
    if record is None:
        return unhealthy("nothing deployed yet (no deploy record)", hint=_run(ctx, "bootstrap"))
    problems, digests = [], {}
    for app in APPS:
        image = record.images.images.get(app)
        if image is None:
            problems.append(f"the deploy record has no {app} image")
            continue
        digest = registry_digest(ctx, image.repository, image.tag, timeout_s=CALL_BUDGET_S / 2)
        digests[app] = digest
        if digest is None:
            problems.append(f"{image.ref} is missing from the registry")
        elif digest != image.digest:
            problems.append(f"{image.ref} is {digest[:19]}…, not the deployed {image.digest[:19]}…")
    if problems:
        return unhealthy("; ".join(problems), sha=record.sha)
    return healthy(
        f"images of {record.sha[:12]} present ({', '.join(APPS)})", sha=record.sha, digests=digests
    )


def releases(ctx: GcpContext) -> Finding:
    if skipped := _no_cluster(ctx):
        return skipped
    with ctx.helm(timeout=CALL_BUDGET_S) as helm:
        infos = {name: helm.status(name) for name in HELM_RELEASES}
    parts, bad = [], []
    for name, info in infos.items():
        if info is None:
            bad.append(f"{name} not installed")
            continue
        parts.append(f"{name} r{info.revision}")
        if info.status != "deployed":
            bad.append(f"{name} is {info.status} at revision {info.revision}")
    facts = {name: (info.to_dict() if info else None) for name, info in infos.items()}
    if bad:
        hint = "--recover rolls a stuck release back" if any("pending" in b for b in bad) else None
        return unhealthy("; ".join(bad), hint=hint, releases=facts)
    return healthy("deployed: " + ", ".join(parts), releases=facts)


def workloads(ctx: GcpContext) -> Finding:
    from sreplat.tools.kube.workloads import workload_status

    if skipped := _no_cluster(ctx):
        return skipped
    with ctx.kube_api(timeout=CALL_BUDGET_S) as api:
        statuses = [
            workload_status(api, NAMESPACE, kind, name, timeout=CALL_BUDGET_S) for kind, name in WORKLOADS
        ]
    facts = {
        s.name: {"state": s.state, "ready": s.ready, "desired": s.desired, "restarts": s.restarts}
        for s in statuses
    }
    bad = [s for s in statuses if not s.complete or s.problems]
    if bad:
        return unhealthy("; ".join(s.describe() for s in bad), workloads=facts)
    summary = ", ".join(f"{s.name} {s.ready}/{s.desired}" for s in statuses)
    restarts = sum(s.restarts for s in statuses)
    return healthy(f"ready: {summary}" + (f" ({restarts} restarts)" if restarts else ""), workloads=facts)


def endpoint(ctx: GcpContext) -> Finding:
    from sreplat.tools.gcp import https_probe
    from sreplat.tools.kube.certificates import managed_certificate

    foundation = ctx.foundation(timeout=CALL_BUDGET_S)
    host, ip = foundation.api_hostname, foundation.ingress_address
    if skipped := _no_cluster(ctx):
        return skipped
    with ctx.kube_api(timeout=CALL_BUDGET_S) as api:
        certificate = managed_certificate(api, NAMESPACE, "api", timeout=CALL_BUDGET_S)
    facts = {"url": f"https://{host}", "certificate": certificate.state}
    if not certificate.active:
        return unhealthy(
            f"HTTPS not served yet: {certificate.describe()}",
            hint=CERTIFICATE_HINT.format(host=host, ip=ip),
            **facts,
        )
    answer = https_probe.get(ctx.load_balancer_url(ip), "/readyz", host=host, timeout_s=CALL_BUDGET_S / 2)
    if answer.status == 200:
        return healthy(f"https://{host}/readyz answers 200; certificate Active", **facts)
    return unhealthy(f"https://{host}/readyz: {answer.describe()}", status=answer.status, **facts)


def queue(ctx: GcpContext) -> Finding:
    from sreplat.tools.gcp.managed_prometheus import query

    scope = f'cluster="{ctx.settings.cluster_name}",namespace="{NAMESPACE}"'
    promql = {
        "depth": f"max(sreplat_queue_depth{{{scope}}})",
        "failed": f"sum(increase(sreplat_jobs_failed_total{{{scope}}}[1h]))",
        "workers": f'count(sreplat_build_info{{{scope},service="worker"}})',
    }

    def ask(q: str) -> float | None:
        samples = query(ctx.access, q, timeout=CALL_BUDGET_S)
        return samples[0].value if samples else None

    with ThreadPoolExecutor(max_workers=len(promql), thread_name_prefix="promql") as pool:
        futures = {name: pool.submit(ask, q) for name, q in promql.items()}
        values = {name: future.result() for name, future in futures.items()}
    depth, failed, workers = values["depth"], values["failed"], values["workers"]
    facts: dict[str, Any] = {"depth": depth, "failed_1h": failed, "workers": workers}
    if depth is None and workers is None:
        return Finding(
            Verdict.UNKNOWN,
            "no queue metrics yet (nothing scraped)",
            facts,
            "metrics appear a minute after the pods",
        )
    if not workers:
        return Finding(Verdict.UNHEALTHY, f"no worker reports in; {_n(depth)} jobs waiting", facts)
    return healthy(f"depth {_n(depth)}, {_n(failed)} failed in the last hour, {_n(workers)} workers", **facts)


def drift_check(stacks: Stacks) -> Finding:
    from sreplat.targets.gcp.stacks import describe_plan

    found: dict[str, str] = {}
    for stack in STACKS:
        plan = stacks.plan(stack)
        if plan.has_changes:
            changed = [c.address for c in plan.resource_changes][:5]
            found[stack] = describe_plan(plan) + (f" ({', '.join(changed)})" if changed else "")
    if found:
        return unhealthy(
            "drift: " + "; ".join(f"{k} {v}" for k, v in found.items()),
            hint=f"`sreplat bootstrap --env {stacks.ctx.env.name}` brings the stacks back to their code",
            stacks=found,
        )
    return healthy("no drift: both stacks match their configuration")


def _n(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"
