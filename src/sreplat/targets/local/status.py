"""``status`` of a local environment: supervisord and each program, redis (persistence on), the
API, the workers (registered, on the current release), the queue and the release history."""

from __future__ import annotations

from functools import partial
from typing import Any

from sreplat.pipeline.checks import Check, Finding, healthy, unhealthy, unknown
from sreplat.targets.local import probes
from sreplat.targets.local.context import LocalContext
from sreplat.targets.local.programs import QUEUE
from sreplat.tools import http_probe
from sreplat.tools.local import redis_probe


def status_checks(local: LocalContext) -> list[Check]:
    if not local.layout.state_dir.is_dir():
        return [Check("environment", lambda: unhealthy("not bootstrapped", hint="run `sreplat bootstrap`"))]
    checks = [Check("supervisord", partial(supervisord, local), timeout_s=10)]
    for name in ("redis", "api", *local.worker_names()):
        checks.append(Check(f"process {name}", partial(process, local, name), timeout_s=10))
    checks += [
        Check("redis", partial(redis, local), timeout_s=10),
        Check("api", partial(api, local), timeout_s=10),
        Check("workers", partial(workers, local), timeout_s=10),
        Check("queue", partial(queue, local), timeout_s=10),
        Check("release", partial(release, local), timeout_s=5),
    ]
    return checks


def supervisord(local: LocalContext) -> Finding:
    if not local.supervisor.running():
        return unhealthy("not running", hint="run `sreplat bootstrap`")
    return healthy(f"running, pid {local.supervisor.pid()}", pid=local.supervisor.pid())


def process(local: LocalContext, name: str) -> Finding:
    if not local.supervisor.running():
        return unknown("supervisord is not running")
    info = local.supervisor.process(name)
    restarts = local.supervisor.restarts(name)
    data: dict[str, Any] = {
        "state": info.state,
        "pid": info.pid,
        "uptime_s": round(info.uptime_s, 1),
        "restarts": restarts.count,
        "last_exit": restarts.last_reason,
    }
    restarted = f", restarted {restarts.count}x (last: {restarts.last_reason})" if restarts.count else ""
    if not info.running:
        detail = f" ({info.spawn_error})" if info.spawn_error else ""
        return unhealthy(f"{info.state}{detail}{restarted}", hint=f"see {local.layout.log(name)}", **data)
    return healthy(f"running, pid {info.pid}, up {duration(info.uptime_s)}{restarted}", **data)


def redis(local: LocalContext) -> Finding:
    url = local.redis_url()
    if not redis_probe.ping(url):
        return unhealthy(f"no PONG from :{local.live.redis_port}")
    facts = redis_probe.health(url)
    persistence = "aof on" if facts.aof_enabled else "aof OFF"
    if facts.aof_enabled and not facts.aof_last_write_ok:
        persistence += " (last write FAILED)"
    summary = f"PONG, {persistence}, memory {facts.used_memory_human}, redis {facts.version}"
    if not facts.aof_enabled or not facts.aof_last_write_ok:
        return unhealthy(summary, **facts.to_dict())
    return healthy(summary, **facts.to_dict())


def api(local: LocalContext) -> Finding:
    ready = http_probe.get(f"{local.api_url()}/readyz")
    serving = probes.serving(local.api_url())
    data: dict[str, Any] = {"url": local.api_url(), "readyz": ready.status, "release": serving}
    if ready.status != 200:
        return unhealthy(f"/readyz: {ready.describe()}", **data)
    return healthy(f"ready at {local.api_url()}, release {serving}", **data)


def workers(local: LocalContext) -> Finding:
    expected = len(local.worker_names())
    alive = probes.alive_workers(local.redis_url())
    releases = {
        name: probes.worker_release(port)
        for name, port in zip(local.worker_names(), local.live.worker_ports, strict=True)
    }
    data: dict[str, Any] = {
        "registered": len(alive),
        "expected": expected,
        "pids": [w.pid for w in alive],
        "releases": releases,
    }
    summary = f"{len(alive)}/{expected} registered"
    current = local.current_dir()
    version = current.version if current else None
    stale = sorted(name for name, seen in releases.items() if version and seen != version)
    if stale:
        return unhealthy(f"{summary}; {', '.join(stale)} not on {version}", **data)
    return healthy(summary, **data) if len(alive) >= expected else unhealthy(summary, **data)


def queue(local: LocalContext) -> Finding:
    url = local.redis_url()
    depth = redis_probe.queue_depth(url, QUEUE)
    failed = redis_probe.failed_jobs(url, QUEUE)
    return healthy(f"{QUEUE}: depth {depth}, failed jobs {failed}", queue=QUEUE, depth=depth, failed=failed)


def release(local: LocalContext) -> Finding:
    history = [e.to_dict() for e in local.release_dirs.history()[-10:]]
    current = local.current_dir()
    if current is None:
        return unhealthy("no current release", history=history)
    previous = local.release_dirs.state().get("previous")
    data: dict[str, Any] = {
        "current": current.id,
        "version": current.version,
        "previous": previous,
        "history": history,
    }
    serving = probes.serving(local.api_url())
    suffix = f"; previous {str(previous)[:12]}" if previous else ""
    if serving is not None and serving != current.version:
        return unhealthy(f"current is {current.version} but the API serves {serving}", **data)
    return healthy(f"{current.version}{suffix}", **data)


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
