"""Workload health over the Kubernetes API: rollout status of Deployments and StatefulSets
(the rules `kubectl rollout status` applies), restarts, and why a pod is not ready — in words a
person can act on (``CrashLoopBackOff: back-off restarting failed container; last exit OOMKilled``,
``Unschedulable: 0/3 nodes are available...``).

Functions take a ``kubernetes.client.ApiClient`` (``gke.ClusterAccess.api_client()``) and a
timeout; every request is bounded by what is left of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sreplat.cancel import CancelToken
from sreplat.errors import OperationFailed
from sreplat.events import Event, EventSink, discard
from sreplat.tools.api_calls import CallTimeout, Deadline, ResourceMissing
from sreplat.tools.kube.api import kube_call, request_timeout

KINDS = ("Deployment", "StatefulSet")
# Waiting reasons that never clear by themselves: a rollout stuck on one fails at once.
FATAL_REASONS = ("InvalidImageName", "ErrImageNeverPull")


class RolloutFailed(OperationFailed):
    """A rollout cannot complete (progress deadline exceeded, a fatal pod state)."""

    def __init__(self, message: str, *, statuses: tuple[WorkloadStatus, ...], hint: str | None = None):
        super().__init__(message, hint=hint)
        self.statuses = statuses


@dataclass(frozen=True)
class PodProblem:
    pod: str
    reason: str  # CrashLoopBackOff, ImagePullBackOff, Unschedulable, NotReady, Evicted, ...
    message: str
    restarts: int

    def describe(self) -> str:
        return f"{self.pod}: {self.reason}" + (f": {self.message}" if self.message else "")


@dataclass(frozen=True)
class WorkloadStatus:
    kind: str  # Deployment | StatefulSet
    name: str
    namespace: str
    state: str  # complete | progressing | failed | missing
    message: str  # one line, as `kubectl rollout status` would put it
    desired: int = 0
    ready: int = 0
    updated: int = 0
    available: int = 0
    restarts: int = 0  # over the workload's current pods
    problems: tuple[PodProblem, ...] = ()

    @property
    def complete(self) -> bool:
        return self.state == "complete"

    def describe(self) -> str:
        text = f"{self.kind.lower()}/{self.name}: {self.message}"
        if self.problems:
            text += "; " + "; ".join(p.describe() for p in self.problems[:3])
        return text


# --- status -----------------------------------------------------------------------------------
def workload_status(
    api: Any, namespace: str, kind: str, name: str, *, timeout: float = 10.0
) -> WorkloadStatus:
    """The rollout state of one Deployment or StatefulSet, with its pods' problems."""
    return _workload_status(api, namespace, kind, name, Deadline(timeout))


def _workload_status(api: Any, namespace: str, kind: str, name: str, deadline: Deadline) -> WorkloadStatus:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    from kubernetes import client

    apps = client.AppsV1Api(api)
    read = apps.read_namespaced_deployment if kind == "Deployment" else apps.read_namespaced_stateful_set
    try:
        obj: Any = kube_call(
            f"reading {kind.lower()}/{name}",
            deadline,
            lambda t: read(name, namespace, _request_timeout=request_timeout(t)),
        )
    except ResourceMissing:
        return WorkloadStatus(
            kind, name, namespace, "missing", f"{kind.lower()} {name} not found in {namespace}"
        )
    state, message = (_deployment_state if kind == "Deployment" else _statefulset_state)(obj)
    pods = _pods(api, namespace, _selector(obj.spec.selector), deadline)
    problems = tuple(p for p in (_pod_problem(pod) for pod in pods) if p is not None)
    if state == "progressing" and any(p.reason in FATAL_REASONS for p in problems):
        state = "failed"
    st = obj.status
    return WorkloadStatus(
        kind=kind,
        name=name,
        namespace=namespace,
        state=state,
        message=message,
        desired=_int(obj.spec.replicas, 1),
        ready=_int(st.ready_replicas),
        updated=_int(st.updated_replicas),
        available=_int(st.available_replicas),
        restarts=sum(_int(cs.restart_count) for pod in pods for cs in _container_statuses(pod)),
        problems=problems,
    )


def wait_for_rollout(
    api: Any,
    namespace: str,
    workloads: Sequence[tuple[str, str]],
    *,
    timeout: float,
    poll_interval: float = 2.0,
    on_event: EventSink = discard,
    cancel: CancelToken | None = None,
) -> tuple[WorkloadStatus, ...]:
    """Poll ``workloads`` ((kind, name) pairs) until every rollout is complete — the one rollout
    wait of sreplat (Helm releases and the gcp target's checks both use it).

    Raises RolloutFailed as soon as one cannot complete, CallTimeout (naming what is still
    waiting and why) when ``timeout`` runs out, and Interrupted as soon as ``cancel`` is.
    """
    deadline = Deadline(timeout, cancel)
    last: dict[tuple[str, str], str] = {}
    previous: tuple[WorkloadStatus, ...] = ()
    while True:
        try:
            statuses = tuple(
                _workload_status(api, namespace, kind, name, deadline) for kind, name in workloads
            )
        except CallTimeout as exc:
            if not previous:
                raise
            raise CallTimeout(_not_complete(previous, timeout), detail=exc.message) from exc
        previous = statuses
        for s in statuses:
            line = s.describe()
            if last.get((s.kind, s.name)) != line:  # report changes, not every poll
                last[(s.kind, s.name)] = line
                on_event(Event("kube.rollout", line, data={"kind": s.kind, "name": s.name, "state": s.state}))
        failed = [s for s in statuses if s.state == "failed"]
        if failed:
            raise RolloutFailed(
                "rollout failed: " + "; ".join(s.describe() for s in failed),
                statuses=statuses,
                hint="`sreplat status` shows every pod's state",
            )
        if all(s.complete for s in statuses):
            return statuses
        if deadline.expired():
            raise CallTimeout(_not_complete(statuses, timeout))
        deadline.sleep(poll_interval, "waiting for the rollouts")


def _not_complete(statuses: tuple[WorkloadStatus, ...], timeout: float) -> str:
    pending = "; ".join(s.describe() for s in statuses if not s.complete)
    return f"rollout not complete after {timeout:g}s: {pending}"


# --- rollout rules (as `kubectl rollout status`) ------------------------------------------------
def _deployment_state(dep: Any) -> tuple[str, str]:
    spec, st, meta = dep.spec, dep.status, dep.metadata
    desired = _int(spec.replicas, 1)
    if _int(meta.generation) > _int(st.observed_generation):
        return "progressing", "waiting for the deployment spec update to be observed"
    for cond in st.conditions or ():
        if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
            return "failed", f"exceeded its progress deadline: {cond.message or ''}".rstrip(": ")
    updated, total, available = _int(st.updated_replicas), _int(st.replicas), _int(st.available_replicas)
    if updated < desired:
        return "progressing", f"{updated} of {desired} updated replicas are available"
    if total > updated:
        return "progressing", f"{total - updated} old replicas are pending termination"
    if available < updated:
        return "progressing", f"{available} of {updated} updated replicas are available"
    return "complete", f"successfully rolled out ({available}/{desired} available)"


def _statefulset_state(sts: Any) -> tuple[str, str]:  # noqa: PLR0911
    spec, st, meta = sts.spec, sts.status, sts.metadata
    desired = _int(spec.replicas, 1)
    if st.observed_generation is None or _int(meta.generation) > _int(st.observed_generation):
        return "progressing", "waiting for the statefulset spec update to be observed"
    ready = _int(st.ready_replicas)
    if ready < desired:
        return "progressing", f"waiting for {desired - ready} pods to be ready"
    strategy = spec.update_strategy
    if strategy is not None and strategy.type == "OnDelete":
        return "complete", f"{ready}/{desired} ready (OnDelete: pods update when deleted)"
    partition = _int(strategy.rolling_update.partition) if strategy and strategy.rolling_update else 0
    if partition > 0:
        target = desired - partition
        if _int(st.updated_replicas) < target:
            return (
                "progressing",
                f"partitioned roll out: {st.updated_replicas or 0} of {target} new pods updated",
            )
        return "complete", f"partitioned roll out complete: {target} new pods updated"
    if st.update_revision != st.current_revision:
        return "progressing", (
            f"rolling update: {_int(st.updated_replicas)} of {desired} pods at revision {st.update_revision}"
        )
    return "complete", f"rolled out ({ready}/{desired} ready, revision {st.current_revision})"


# --- pods -------------------------------------------------------------------------------------
def _selector(selector: Any) -> str:
    parts = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for expr in selector.match_expressions or ():
        if expr.operator in ("In", "NotIn"):
            parts.append(f"{expr.key} {expr.operator.lower()} ({','.join(expr.values or ())})")
        elif expr.operator == "Exists":
            parts.append(expr.key)
        elif expr.operator == "DoesNotExist":
            parts.append(f"!{expr.key}")
    return ",".join(parts)


def _pods(api: Any, namespace: str, selector: str, deadline: Deadline) -> list[Any]:
    from kubernetes import client

    core = client.CoreV1Api(api)
    result: Any = kube_call(
        f"listing pods ({selector})",
        deadline,
        lambda t: core.list_namespaced_pod(
            namespace, label_selector=selector, _request_timeout=request_timeout(t)
        ),
    )
    return [p for p in result.items if p.metadata.deletion_timestamp is None]


def _container_statuses(pod: Any) -> list[Any]:
    st = pod.status
    if st is None:
        return []
    return list(st.init_container_statuses or ()) + list(st.container_statuses or ())


def _pod_problem(pod: Any) -> PodProblem | None:  # noqa: PLR0911
    """Why ``pod`` is not ready, or None if it is."""
    st, name = pod.status, pod.metadata.name
    statuses = _container_statuses(pod)
    restarts = sum(_int(cs.restart_count) for cs in statuses)
    conditions = {c.type: c for c in (st.conditions or ())} if st else {}
    ready = conditions.get("Ready")
    if ready is not None and ready.status == "True":
        return None
    if st is not None and st.phase in ("Failed", "Succeeded"):
        return PodProblem(name, st.reason or st.phase, st.message or "", restarts)
    scheduled = conditions.get("PodScheduled")
    if scheduled is not None and scheduled.status == "False":
        return PodProblem(name, scheduled.reason or "Unschedulable", scheduled.message or "", restarts)
    for cs in statuses:
        state = cs.state
        if state is not None and state.waiting is not None and state.waiting.reason:
            message = state.waiting.message or ""
            last = cs.last_state.terminated if cs.last_state is not None else None
            if last is not None and last.reason:
                message = f"{message}; last exit {last.reason} ({last.exit_code})".lstrip("; ")
            return PodProblem(name, state.waiting.reason, message, restarts)
        if state is not None and state.terminated is not None:
            term = state.terminated
            return PodProblem(
                name,
                term.reason or "Terminated",
                f"exit code {term.exit_code} {term.message or ''}".strip(),
                restarts,
            )
    for cs in statuses:
        if not cs.ready:
            return PodProblem(
                name, "NotReady", f"container {cs.name} is running but its readiness probe fails", restarts
            )
    if ready is not None:
        return PodProblem(name, ready.reason or "NotReady", ready.message or "", restarts)
    return PodProblem(name, st.phase if st and st.phase else "Pending", "", restarts)


def _int(value: Any, default: int = 0) -> int:
    return default if value is None else int(value)


def deployment_image(api: Any, namespace: str, name: str, *, timeout: float = 10.0) -> str:
    """The image the Deployment's first container runs ("" when there is no such Deployment)."""
    from kubernetes import client

    apps = client.AppsV1Api(api)
    try:
        obj: Any = kube_call(
            f"reading deployment/{name}",
            Deadline(timeout),
            lambda t: apps.read_namespaced_deployment(name, namespace, _request_timeout=request_timeout(t)),
        )
    except ResourceMissing:
        return ""
    containers = obj.spec.template.spec.containers or []
    return str(containers[0].image) if containers else ""
