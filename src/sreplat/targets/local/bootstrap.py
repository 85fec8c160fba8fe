"""Local bootstrap: write the config, make a release current, start supervisord, redis, the API
and the workers, then check what the API serves. Every step skips what is already there."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from sreplat.errors import OperationFailed, UsageError
from sreplat.pipeline.step import Pipeline, Step, StepContext, StepResult
from sreplat.targets.local import probes, settings
from sreplat.targets.local.context import LocalContext
from sreplat.targets.local.layout import write_if_changed
from sreplat.targets.local.programs import redis_conf
from sreplat.targets.local.waits import give_up_if_fatal, wait_ready, wait_workers
from sreplat.tools import git, http_probe
from sreplat.tools.local import redis_probe


class Bootstrap:
    def __init__(self, local: LocalContext):
        self.local = local

    def pipeline(self) -> Pipeline:
        s = self.local.configured
        return Pipeline(
            name="bootstrap",
            fingerprint=settings.fingerprint(s),
            steps=(
                Step(
                    "prepare",
                    self.prepare,
                    description="write redis and supervisord config",
                    resumable=False,
                ),
                Step("release", self.release, description="make sure a release of the apps is current"),
                Step(
                    "supervisord",
                    self.start_supervisord,
                    needs=("prepare",),
                    description="start supervisord",
                    resumable=False,
                ),
                Step(
                    "redis",
                    self.start_redis,
                    needs=("supervisord",),
                    description=f"start redis-server on :{s.redis_port}",
                    resumable=False,
                ),
                Step(
                    "api",
                    self.start_api,
                    needs=("redis", "release"),
                    description=f"start the API on :{s.api_port}, wait for /readyz",
                    resumable=False,
                ),
                Step(
                    "workers",
                    self.start_workers,
                    needs=("redis", "release"),
                    description=f"start {s.workers} worker(s), wait until registered",
                    resumable=False,
                ),
                Step(
                    "verify",
                    self.verify,
                    needs=("api", "workers"),
                    description="check the release the API serves",
                    resumable=False,
                    verifies=True,
                ),
            ),
        )

    def prepare(self, ctx: StepContext) -> StepResult:
        local, layout = self.local, self.local.layout
        if local.supervisor.running() and local.differences():
            raise UsageError(
                f"{local.env.name} is running with other settings: {'; '.join(local.differences())}"
            )
        local.adopt_configured()
        for folder in (layout.logs_dir, layout.redis_data, layout.runtime_dir, layout.releases_dir):
            folder.mkdir(parents=True, exist_ok=True)
        changed = write_if_changed(layout.redis_conf, redis_conf(local.configured, layout.redis_data))
        changed |= local.supervisor.write_config()
        changed |= settings.record(layout, local.configured)
        if not changed:
            return StepResult.skipped("config unchanged", state_dir=str(layout.state_dir))
        return StepResult.ok(f"config in {layout.state_dir}", state_dir=str(layout.state_dir))

    def release(self, ctx: StepContext) -> StepResult:
        release_dirs = self.local.release_dirs
        current = self.local.current_dir()
        if current is not None:
            return StepResult.skipped(f"release {current.short} is current")
        repo, apps_dir = self.local.env.repo, self.local.configured.apps_dir
        head = head_with_apps(repo, apps_dir)
        if head is not None:
            ctx.progress(f"exporting {apps_dir} of {head[:12]}")
            release = release_dirs.create_from_git(repo, head, apps_dir)
            if git.is_dirty(repo):
                ctx.emit("notice.dirty", f"{repo} has uncommitted changes; the release is commit {head[:12]}")
        else:
            ctx.progress("copying the installed apps")
            release = release_dirs.create_from_installed()
        release_dirs.switch(release.id)
        release_dirs.save_state(current=release.id, previous=None, activated_at=round(time.time(), 3))
        release_dirs.record(release, "activated", "bootstrap")
        return StepResult.ok(f"release {release.short} ({release.source})")

    def start_supervisord(self, ctx: StepContext) -> StepResult:
        supervisor = self.local.supervisor
        if supervisor.running():
            return StepResult.skipped("already running")
        supervisor.start()
        return StepResult.ok(f"pid {supervisor.pid()}")

    def start_redis(self, ctx: StepContext) -> StepResult:
        local = self.local
        info = local.supervisor.process("redis")
        url = local.redis_url()
        # STARTING counts: supervisord calls it RUNNING only after ``startsecs``, PING is the truth.
        if info.state in ("RUNNING", "STARTING") and redis_probe.ping(url):
            return StepResult.skipped(f"already running (pid {info.pid})")
        local.supervisor.start_process("redis")

        def probe() -> str | None:
            give_up_if_fatal(local, "redis")
            return None if redis_probe.ping(url) else "no PONG yet"

        ctx.wait_until(
            probe,
            timeout_s=local.live.ready_timeout_s,
            what="redis did not answer PING",
            hint=f"see {local.layout.log('redis')}",
        )
        return StepResult.ok(f"pid {local.supervisor.process('redis').pid}, aof on")

    def start_api(self, ctx: StepContext) -> StepResult:
        local = self.local
        info = local.supervisor.process("api")
        already = info.running and http_probe.get(f"{local.api_url()}/readyz").status == 200
        if already:
            return StepResult.skipped(f"already running (pid {info.pid})", api_url=local.api_url())
        local.supervisor.start_process("api")
        wait_ready(local, ctx)
        return StepResult.ok(f"ready at {local.api_url()}", api_url=local.api_url())

    def start_workers(self, ctx: StepContext) -> StepResult:
        local = self.local
        names = local.worker_names()
        running = all([local.supervisor.process(n).running for n in names])
        if running and len(probes.alive_workers(local.redis_url())) >= len(names):
            return StepResult.skipped(f"{len(names)} already running")
        for name in names:
            local.supervisor.start_process(name)
        wait_workers(local, ctx, len(names))
        return StepResult.ok(f"{len(names)} registered")

    def verify(self, ctx: StepContext) -> StepResult:
        local = self.local
        api = local.api_url()
        answer = http_probe.get(f"{api}/healthz")
        body = answer.json() if answer.status == 200 else None
        if not isinstance(body, dict):
            raise OperationFailed(f"/healthz did not answer: {answer.describe()}")
        serving = str(body.get("release", ""))
        current = local.current_dir()
        expected = current.version if current else None
        if expected and serving != expected:
            raise OperationFailed(f"the API serves release {serving}, expected {expected}")
        return StepResult.ok(
            f"serving {serving}",
            api_url=api,
            release=serving,
            try_it=(
                f"curl -s -X POST {api}/process -H 'Content-Type: application/json' "
                """-d '{"task": "echo", "payload": {"hello": "world"}}'"""
            ),
            then=f"curl -s {api}/jobs/<job_id>",
            stop_it=f"sreplat --env {local.env.name} destroy",
            logs=str(local.layout.logs_dir),
        )


def is_git_repo(path: Path) -> bool:
    return (path / ".git").exists()


def head_with_apps(repo: Path, apps_dir: str) -> str | None:
    """HEAD of ``repo`` when it is a git repository whose HEAD holds the apps, else None."""
    if not is_git_repo(repo) or shutil.which("git") is None:
        return None
    try:
        head = git.resolve_sha(repo, "HEAD")
    except UsageError:
        return None  # a repository without commits
    return head if git.has_path(repo, head, f"{apps_dir}/sreplat_apps") else None
