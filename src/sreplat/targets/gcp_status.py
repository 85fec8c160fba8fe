"""``sreplat status`` for a gcp environment: one check per part, run side by side, each with its
own timeout, each saying what it found in words a person can act on.

cluster    Container API: state and version
dns        Cloud DNS zone and record, and what public resolvers answer for the API host
registry   the deployed SHA's images are in Artifact Registry, with the recorded digests
releases   Helm status and revision of platform, redis, api, worker
workloads  ready replicas, restarts, and why a pod is not ready
endpoint   HTTPS /readyz through the load balancer, and the managed certificate's state
queue      depth, failed jobs and live workers, from Managed Service for Prometheus
drift      (``--drift``) a Terraform plan of each stack: anything changed outside sreplat
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from sreplat.pipeline.checks import Check, Finding, Verdict, healthy, unhealthy
from sreplat.targets.gcp_context import (
    APPS,
    FOUNDATION,
    NAMESPACE,
    RELEASES,
    STACKS,
    GcpContext,
    load_clients,
)
from sreplat.tools.api_calls import ResourceMissing

if TYPE_CHECKING:
    from sreplat.targets.gcp_stacks import Stacks

CHECK_TIMEOUT_S = 10.0
DRIFT_TIMEOUT_S = 600.0
WORKLOADS = (("Deployment", "api"), ("Deployment", "worker"), ("StatefulSet", "redis"))
# Seconds a call may take inside a check: a little less than the check's own timeout, so a slow
# API is reported by the call (with its name) rather than by the check's "no answer".
CALL_BUDGET_S = CHECK_TIMEOUT_S * 0.8
CERTIFICATE_HINT = (
    "Google issues the managed certificate once {host} resolves to {ip} publicly (usually 15-60 "
    "minutes after that); the dns check shows whether it does"
)


def status_checks(ctx: GcpContext, stacks: Stacks, *, drift: bool = False) -> list[Check]:
    parts: list[tuple[str, Callable[[GcpContext], Finding]]] = [
        ("cluster", cluster),
        ("dns", dns),
        ("registry", registry),
        ("releases", releases),
        ("workloads", workloads),
        ("endpoint", endpoint),
        ("queue", queue),
    ]
    checks = [Check(name, _loaded(fn, ctx), CHECK_TIMEOUT_S) for name, fn in parts]
    if drift:
        checks.append(Check("drift", lambda: drift_check(stacks), DRIFT_TIMEOUT_S))
    return checks


def _loaded(fn: Callable[[GcpContext], Finding], ctx: GcpContext) -> Callable[[], Finding]:
    def run() -> Finding:
        load_clients()
        return fn(ctx)

    return run


def cluster(ctx: GcpContext) -> Finding:
    from sreplat.tools.gke import describe_cluster

    name = ctx.settings.cluster_name
    try:
        info = describe_cluster(ctx.access, ctx.settings.region, name, timeout=CALL_BUDGET_S)
    except ResourceMissing:
        return unhealthy(f"cluster {name} does not exist", hint="run `sreplat bootstrap`")
    facts = {"status": info.status, "version": info.master_version, "autopilot": info.autopilot}
    why = f": {info.status_message}" if info.status_message else ""
    if info.status == "RUNNING":
        return healthy(f"{name} RUNNING, version {info.master_version}", **facts)
    if info.status == "RECONCILING":
        return healthy(f"{name} RECONCILING (an upgrade or repair; it keeps serving){why}", **facts)
    hint = "creation takes 10-15 minutes" if info.status == "PROVISIONING" else None
    return unhealthy(f"{name} is {info.status}{why}", hint=hint, **facts)


def dns(ctx: GcpContext) -> Finding:
    from sreplat.tools.cloud_dns import check_dns, public_resolver

    foundation = ctx.outputs(FOUNDATION, timeout=CALL_BUDGET_S)
    host, ip = str(foundation["api_hostname"]), str(foundation["ingress_address"])
    resolvers = [r.strip() for r in ctx.settings.dns_resolvers.split(",")]
    # dnspython asks every server on one port: a port given on the first one applies to all.
    port = int(resolvers[0].partition(":")[2] or 53)
    resolver = public_resolver([r.partition(":")[0] for r in resolvers], port=port)
    status = check_dns(
        ctx.access,
        str(foundation["dns_zone_name"]),
        host,
        expected_ip=ip,
        resolver=resolver,
        timeout=CALL_BUDGET_S,
    )
    facts = {"host": host, "zone_ips": list(status.record_ips), "public_ips": list(status.resolved_ips)}
    if status.ok:
        return healthy(f"{host} → {', '.join(status.resolved_ips)} (zone {status.zone})", **facts)
    servers = ", ".join(status.name_servers)
    hint = f"the domain must be delegated to {servers}" if servers else None
    return unhealthy("; ".join(status.problems), hint=hint, **facts)


def registry(ctx: GcpContext) -> Finding:
    from sreplat.tools.registry import ImageRef, RegistryClient, RegistryCredentials

    record = ctx.read_release(timeout=CALL_BUDGET_S)
    if record is None:
        return unhealthy("nothing deployed yet (no release record)", hint="run `sreplat bootstrap`")
    credentials = RegistryCredentials.from_google(ctx.access.resolved_credentials())
    problems, digests = [], {}
    for app in APPS:
        image = record.images.get(app)
        if image is None:
            problems.append(f"the release record has no {app} image")
            continue
        ref = ImageRef.of(image["repository"], image["tag"])
        client = RegistryClient(
            ref.host,
            credentials=credentials,
            timeout_s=CALL_BUDGET_S / 2,
            base_url=ctx.endpoints.artifact_registry,
        )
        digest = client.manifest_digest(ref)
        digests[app] = digest
        if digest is None:
            problems.append(f"{ref} is missing from the registry")
        elif digest != image["digest"]:
            problems.append(f"{ref} is {digest[:19]}…, not the deployed {image['digest'][:19]}…")
    if problems:
        return unhealthy("; ".join(problems), sha=record.sha)
    return healthy(
        f"images of {record.sha[:12]} present ({', '.join(APPS)})", sha=record.sha, digests=digests
    )


def releases(ctx: GcpContext) -> Finding:
    with ctx.helm(timeout=CALL_BUDGET_S) as helm:
        infos = {name: helm.status(name) for name in RELEASES}
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
    from sreplat.tools.kube import workload_status

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
    from sreplat.tools import https_probe
    from sreplat.tools.kube import managed_certificate

    foundation = ctx.outputs(FOUNDATION, timeout=CALL_BUDGET_S)
    host, ip = str(foundation["api_hostname"]), str(foundation["ingress_address"])
    with ctx.kube_api(timeout=CALL_BUDGET_S) as api:
        certificate = managed_certificate(api, NAMESPACE, "api", timeout=CALL_BUDGET_S)
    facts = {"url": f"https://{host}", "certificate": certificate.state}
    if not certificate.active:
        return unhealthy(
            f"HTTPS not served yet: {certificate.describe()}",
            hint=CERTIFICATE_HINT.format(host=host, ip=ip),
            **facts,
        )
    answer = https_probe.get(
        ctx.endpoints.ingress or f"https://{ip}", "/readyz", host=host, timeout_s=CALL_BUDGET_S / 2
    )
    if answer.status == 200:
        return healthy(f"https://{host}/readyz answers 200; certificate Active", **facts)
    return unhealthy(f"https://{host}/readyz: {answer.describe()}", status=answer.status, **facts)


def queue(ctx: GcpContext) -> Finding:
    from sreplat.tools.managed_prometheus import query

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
    from sreplat.targets.gcp_stacks import describe_plan

    found: dict[str, str] = {}
    for stack in STACKS:
        plan = stacks.plan(stack)
        if plan.has_changes:
            changed = [c.address for c in plan.resource_changes][:5]
            found[stack] = describe_plan(plan) + (f" ({', '.join(changed)})" if changed else "")
    if found:
        return unhealthy(
            "drift: " + "; ".join(f"{k} {v}" for k, v in found.items()),
            hint="`sreplat bootstrap` brings the stacks back to their configuration",
            stacks=found,
        )
    return healthy("no drift: both stacks match their configuration")


def _n(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"
