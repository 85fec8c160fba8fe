"""The ``local`` target: the whole platform on this machine, under supervisord.

Processes (one supervisord per environment, its socket and config in the state dir):

- ``redis``: redis-server, append-only file on, data in ``<state>/redis/data``;
- ``api``: ``sreplat-api`` (gunicorn), bound to ``api_host:api_port``;
- ``worker-N``: ``sreplat-worker --workers 1``, one supervisord program each (group ``workers``),
  so they restart one at a time and the queue is never left without a worker.

Each is restarted by supervisord if it dies; logs go to ``<state>/logs/``.

Zero-downtime deploys (``tools/releases.py``): every process runs with
``PYTHONPATH=<state>/releases/current/src``. A deploy exports the commit's apps into a new
release dir, smoke-tests it in a throwaway interpreter (it must import and build its app, so a
broken commit never reaches the running API), switches ``current`` atomically, sends SIGHUP to
the gunicorn master (new workers load the new code; the listening socket never closes; old
workers finish their requests), restarts the RQ workers one by one with SIGTERM (warm: the
running job finishes), and verifies ``/healthz`` reports the new release and every worker is
registered again. If that fails it switches back and reloads the previous release.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sreplat import proc
from sreplat.config import Environment, LocalSettings
from sreplat.errors import Interrupted, OperationFailed, SreplatError, ToolMissing, UsageError
from sreplat.pipeline.checks import Check, Finding, healthy, unhealthy, unknown
from sreplat.pipeline.step import Pipeline, Step, StepContext, StepResult
from sreplat.targets.base import Target
from sreplat.tools import git, http_probe, ports, prereqs, processes, redis_probe
from sreplat.tools.releases import Release, ReleaseStore
from sreplat.tools.supervisor import ProcessInfo, Program, Supervisor, SupervisorConfig, socket_path_for

QUEUE = "jobs"
REDIS_HINT = "install redis-server (Debian: apt-get install redis-server; `make up` does it as root)"
APPS_HINT = "install the bundled apps: pip install -e ./apps (`make up` does it)"
# Consecutive /healthz answers with the new release before a reload counts as done: right after
# SIGHUP an old gunicorn worker may still answer once.
RELOAD_CONFIRMATIONS = 3
SMOKE_TEST = """\
import importlib.metadata, sys
from sreplat_apps.api import create_app
create_app()
import sreplat_apps.worker.supervisor
print(importlib.metadata.version("sreplat-apps"))
"""


@dataclass(frozen=True)
class Layout:
    """Where everything of one local environment lives."""

    state_dir: Path

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "supervisor"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def redis_dir(self) -> Path:
        return self.state_dir / "redis"

    @property
    def redis_data(self) -> Path:
        return self.redis_dir / "data"

    @property
    def redis_conf(self) -> Path:
        return self.redis_dir / "redis.conf"

    @property
    def runtime_dir(self) -> Path:
        return self.state_dir / "runtime"

    @property
    def releases_dir(self) -> Path:
        return self.state_dir / "releases"

    @property
    def recorded_settings(self) -> Path:
        return self.state_dir / "local.json"

    @property
    def marker(self) -> str:
        """A string found in the argv or environment of every process of this environment."""
        return str(self.state_dir) + os.sep


# Settings that shape what runs; changing one needs a destroy (or another environment).
_SHAPING = ("api_host", "api_port", "redis_port", "worker_metrics_port", "workers", "api_workers")


class LocalTarget(Target):
    name = "local"

    def __init__(self, env: Environment):
        super().__init__(env)
        if not isinstance(env.settings, LocalSettings):
            raise TypeError("LocalTarget needs LocalSettings")
        self.configured: LocalSettings = env.settings
        self.layout = Layout(env.state_dir)
        self.releases = ReleaseStore(self.layout.releases_dir)
        # What runs now: the settings recorded at bootstrap, which win over a changed config for
        # status, deploy and destroy (they must talk to the ports actually in use).
        self.live: LocalSettings = self._recorded() or self.configured
        self.supervisor = Supervisor(self._supervisor_config(self.live))

    # --- settings and processes ----------------------------------------------------------------

    def _recorded(self) -> LocalSettings | None:
        try:
            data = json.loads(self.layout.recorded_settings.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        try:
            return self.configured.model_copy(update={k: data[k] for k in _SHAPING if k in data})
        except (TypeError, ValueError):
            return None

    def _differences(self) -> list[str]:
        return [
            f"{key} {getattr(self.live, key)} → {getattr(self.configured, key)}"
            for key in _SHAPING
            if getattr(self.live, key) != getattr(self.configured, key)
        ]

    def redis_url(self, settings: LocalSettings | None = None) -> str:
        return f"redis://127.0.0.1:{(settings or self.live).redis_port}/0"

    def api_url(self, settings: LocalSettings | None = None) -> str:
        s = settings or self.live
        host = "127.0.0.1" if s.api_host == "0.0.0.0" else s.api_host  # noqa: S104 - reach a wildcard bind via loopback
        return f"http://{host}:{s.api_port}"

    def worker_names(self, settings: LocalSettings | None = None) -> list[str]:
        return [f"worker-{i + 1}" for i in range((settings or self.live).workers)]

    def _supervisor_config(self, s: LocalSettings) -> SupervisorConfig:
        layout = self.layout
        common = {
            "PYTHONPATH": str(self.releases.python_path),
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": self.redis_url(s),
            "SREPLAT_QUEUE": QUEUE,
            # Empty: the release id comes from the release dir's package metadata (see releases.py).
            "SREPLAT_RELEASE": "",
            "SREPLAT_RUNTIME_DIR": str(layout.runtime_dir),
        }
        programs = [
            Program(
                name="redis",
                command=(_binary("redis-server"), str(layout.redis_conf)),
                stdout_log=layout.logs_dir / "redis.log",
                directory=layout.redis_data,
                stopwaitsecs=60,
                priority=10,
            ),
            Program(
                name="api",
                command=(
                    _script("sreplat-api"),
                    "--bind",
                    f"{s.api_host}:{s.api_port}",
                    "--workers",
                    str(s.api_workers),
                ),
                stdout_log=layout.logs_dir / "api.log",
                environment={
                    **common,
                    "PROMETHEUS_MULTIPROC_DIR": str(layout.runtime_dir / "metrics" / "api"),
                },
                directory=layout.runtime_dir,
                stopwaitsecs=45,  # gunicorn's graceful timeout is 30 s
                priority=20,
            ),
        ]
        for index, name in enumerate(self.worker_names(s)):
            port = s.worker_ports[index]
            programs.append(
                Program(
                    name=name,
                    command=(_script("sreplat-worker"), "--workers", "1", "--metrics-port", str(port)),
                    stdout_log=layout.logs_dir / f"{name}.log",
                    environment={
                        **common,
                        "WORKER_METRICS_PORT": str(port),
                        "PROMETHEUS_MULTIPROC_DIR": str(layout.runtime_dir / "metrics" / name),
                    },
                    directory=layout.runtime_dir,
                    stopwaitsecs=90,  # a warm stop lets the running job (up to 60 s) finish
                    priority=30,
                    group="workers",
                )
            )
        return SupervisorConfig(
            run_dir=layout.run_dir,
            log_dir=layout.logs_dir,
            identifier=f"sreplat-{self.env.name}",
            programs=tuple(programs),
            socket_path=socket_path_for(layout.run_dir),
        )

    # --- validation ------------------------------------------------------------------------------

    def check_bootstrap(self) -> None:
        _require_tools()
        if self.supervisor.running():
            differences = self._differences()
            if differences:
                raise UsageError(
                    f"{self.env.name} is running with other settings ({'; '.join(differences)}); "
                    "nothing changed",
                    hint="run `sreplat destroy` first, or undo the change",
                )
            return  # its ports are ours
        busy = ports.taken(self.configured.ports.values())
        if busy:
            names = {port: what for what, port in self.configured.ports.items()}
            port = busy[0]
            who = ports.holder(port).describe()
            raise OperationFailed(
                f"port {port} ({names[port]}) is already in use by {who}; nothing started",
                hint=_port_hint(names[port]),
            )
        if self.configured.repo is not None and not _is_git_repo(self.env.repo):
            raise UsageError(f"repo = {self.env.repo} is not a git repository")

    def resolve_sha(self, rev: str) -> str:
        if not _is_git_repo(self.env.repo):
            raise UsageError(
                f"{self.env.repo} is not a git repository, so there is no commit to deploy",
                hint="set repo in [environments.<name>] of sreplat.toml",
            )
        sha = git.resolve_sha(self.env.repo, rev)
        apps_dir = self.configured.apps_dir
        if not git.has_path(self.env.repo, sha, f"{apps_dir}/sreplat_apps"):
            raise UsageError(
                f"commit {sha[:12]} has no {apps_dir}/sreplat_apps in {self.env.repo}; nothing deployed"
            )
        return sha

    def check_deploy(self, sha: str) -> None:
        if not self.supervisor.running():
            raise OperationFailed(
                f"{self.env.name} is not running; nothing deployed", hint="run `sreplat bootstrap` first"
            )

    def exists(self) -> bool:
        return self.layout.state_dir.is_dir()

    # --- bootstrap -------------------------------------------------------------------------------

    def bootstrap(self) -> Pipeline:
        s = self.configured
        fingerprint = hashlib.sha256(json.dumps([getattr(s, k) for k in _SHAPING]).encode()).hexdigest()[:16]
        return Pipeline(
            name="bootstrap",
            fingerprint=fingerprint,
            steps=(
                Step(
                    "prepare",
                    self._prepare,
                    description="write redis and supervisord config",
                    resumable=False,
                ),
                Step(
                    "release", self._initial_release, description="make sure a release of the apps is current"
                ),
                Step(
                    "supervisord",
                    self._start_supervisord,
                    needs=("prepare",),
                    description="start supervisord",
                    resumable=False,
                ),
                Step(
                    "redis",
                    self._start_redis,
                    needs=("supervisord",),
                    description=f"start redis-server on :{s.redis_port}",
                    resumable=False,
                ),
                Step(
                    "api",
                    self._start_api,
                    needs=("redis", "release"),
                    description=f"start the API on :{s.api_port}, wait for /readyz",
                    resumable=False,
                ),
                Step(
                    "workers",
                    self._start_workers,
                    needs=("redis", "release"),
                    description=f"start {s.workers} worker(s), wait until registered",
                    resumable=False,
                ),
                Step(
                    "verify",
                    self._verify,
                    needs=("api", "workers"),
                    description="check the release the API serves",
                    resumable=False,
                    verifies=True,
                ),
            ),
        )

    def _prepare(self, ctx: StepContext) -> StepResult:
        layout = self.layout
        running = self.supervisor.running()
        if running and self._differences():
            raise UsageError(
                f"{self.env.name} is running with other settings: {'; '.join(self._differences())}"
            )
        self.live = self.configured
        self.supervisor = Supervisor(self._supervisor_config(self.configured))
        for folder in (layout.logs_dir, layout.redis_data, layout.runtime_dir, layout.releases_dir):
            folder.mkdir(parents=True, exist_ok=True)
        changed = _write_if_changed(layout.redis_conf, _redis_conf(self.configured, layout.redis_data))
        changed |= self.supervisor.write_config()
        record = {k: getattr(self.configured, k) for k in _SHAPING}
        changed |= _write_if_changed(layout.recorded_settings, json.dumps(record, indent=1) + "\n")
        if not changed:
            return StepResult.skipped("config unchanged", state_dir=str(layout.state_dir))
        return StepResult.ok(f"config in {layout.state_dir}", state_dir=str(layout.state_dir))

    def _initial_release(self, ctx: StepContext) -> StepResult:
        current = self.releases.current()
        if current and self.releases.has(current):
            release = self.releases.get(current)
            return StepResult.skipped(f"release {release.short} is current", _release=release.id)
        repo, apps_dir = self.env.repo, self.configured.apps_dir
        head = _head_with_apps(repo, apps_dir)
        if head is not None:
            ctx.progress(f"exporting {apps_dir} of {head[:12]}")
            release = self.releases.create_from_git(repo, head, apps_dir)
            if git.is_dirty(repo):
                ctx.emit("notice.dirty", f"{repo} has uncommitted changes; the release is commit {head[:12]}")
        else:
            ctx.progress("copying the installed apps")
            release = self.releases.create_from_installed()
        self.releases.switch(release.id)
        self.releases.save_state(current=release.id, previous=None, activated_at=round(time.time(), 3))
        self.releases.record(release, "activated", "bootstrap")
        return StepResult.ok(f"release {release.short} ({release.source})", _release=release.id)

    def _start_supervisord(self, ctx: StepContext) -> StepResult:
        if self.supervisor.running():
            return StepResult.skipped("already running")
        self.supervisor.start()
        pid = self.supervisor.pid()
        return StepResult.ok(f"pid {pid}")

    def _start_redis(self, ctx: StepContext) -> StepResult:
        info = self.supervisor.process("redis")
        url = self.redis_url()
        # STARTING counts: supervisord calls it RUNNING only after ``startsecs``, PING is the truth.
        if info.state in ("RUNNING", "STARTING") and redis_probe.ping(url):
            return StepResult.skipped(f"already running (pid {info.pid})")
        self.supervisor.start_process("redis")

        def probe() -> str | None:
            self._give_up_if_fatal("redis")
            return None if redis_probe.ping(url) else "no PONG yet"

        ctx.wait_until(
            probe,
            timeout_s=self.live.ready_timeout_s,
            what="redis did not answer PING",
            hint=f"see {self.layout.logs_dir / 'redis.log'}",
        )
        return StepResult.ok(f"pid {self.supervisor.process('redis').pid}, aof on")

    def _start_api(self, ctx: StepContext) -> StepResult:
        info = self.supervisor.process("api")
        already = info.running and http_probe.get(f"{self.api_url()}/readyz").status == 200
        if already:
            return StepResult.skipped(f"already running (pid {info.pid})", api_url=self.api_url())
        self.supervisor.start_process("api")
        self._wait_ready(ctx)
        return StepResult.ok(f"ready at {self.api_url()}", api_url=self.api_url())

    def _wait_ready(self, ctx: StepContext) -> None:
        url = f"{self.api_url()}/readyz"

        def probe() -> str | None:
            state = self.supervisor.process("api").state
            if state == "FATAL":
                raise OperationFailed(
                    "the API keeps crashing (supervisord gave up)",
                    hint=f"see {self.layout.logs_dir / 'api.log'}",
                )
            answer = http_probe.get(url)
            return None if answer.status == 200 else f"/readyz: {answer.describe()} (api {state})"

        ctx.wait_until(
            probe,
            timeout_s=self.live.ready_timeout_s,
            what="the API did not become ready",
            hint=f"see {self.layout.logs_dir / 'api.log'}",
        )

    def _start_workers(self, ctx: StepContext) -> StepResult:
        names = self.worker_names()
        infos = {n: self.supervisor.process(n) for n in names}
        if all(i.running for i in infos.values()) and len(self._alive_workers()) >= len(names):
            return StepResult.skipped(f"{len(names)} already running")
        for name in names:
            self.supervisor.start_process(name)
        self._wait_workers(ctx, len(names))
        return StepResult.ok(f"{len(names)} registered")

    def _alive_workers(self) -> list[redis_probe.RegisteredWorker]:
        host = socket.gethostname()
        return [
            w
            for w in redis_probe.workers(self.redis_url(), QUEUE)
            if w.pid and (w.hostname in (None, host)) and processes.alive(w.pid)
        ]

    def _wait_workers(self, ctx: StepContext, expected: int) -> None:
        def probe() -> str | None:
            for name in self.worker_names():
                self._give_up_if_fatal(name)
            starting = [n for n in self.worker_names() if not self.supervisor.process(n).running]
            if starting:
                return f"{', '.join(starting)} not running yet"
            alive = len(self._alive_workers())
            return None if alive >= expected else f"{alive}/{expected} registered"

        ctx.wait_until(
            probe,
            timeout_s=self.live.ready_timeout_s,
            what="the workers did not register",
            hint=f"see {self.layout.logs_dir}/worker-*.log",
        )

    def _give_up_if_fatal(self, name: str) -> str:
        """The program's state; OperationFailed once supervisord stopped retrying it."""
        state = self.supervisor.process(name).state
        if state == "FATAL":
            raise OperationFailed(
                f"{name} keeps crashing (supervisord gave up)",
                hint=f"see {self.layout.logs_dir / (name + '.log')}",
            )
        return state

    def _verify(self, ctx: StepContext) -> StepResult:
        answer = http_probe.get(f"{self.api_url()}/healthz")
        body = answer.json() if answer.status == 200 else None
        if not isinstance(body, dict):
            raise OperationFailed(f"/healthz did not answer: {answer.describe()}")
        serving = str(body.get("release", ""))
        current = self.releases.current()
        expected = self.releases.get(current).version if current and self.releases.has(current) else None
        if expected and serving != expected:
            raise OperationFailed(f"the API serves release {serving}, expected {expected}")
        api = self.api_url()
        return StepResult.ok(
            f"serving {serving}",
            api_url=api,
            release=serving,
            try_it=(
                f"curl -s -X POST {api}/process -H 'Content-Type: application/json' "
                """-d '{"task": "echo", "payload": {"hello": "world"}}'"""
            ),
            then=f"curl -s {api}/jobs/<job_id>",
            stop_it=f"sreplat --env {self.env.name} destroy",
            logs=str(self.layout.logs_dir),
        )

    # --- deploy ----------------------------------------------------------------------------------

    def deploy(self, sha: str) -> Pipeline:
        return Pipeline(
            name="deploy",
            fingerprint=sha,
            steps=(
                Step(
                    "export", lambda ctx: self._export(ctx, sha), description=f"export the apps of {sha[:12]}"
                ),
                Step(
                    "smoke-test",
                    lambda ctx: self._smoke_test(ctx, sha),
                    needs=("export",),
                    description="import the release and build its app in a throwaway interpreter",
                    verifies=True,
                ),
                Step(
                    "activate",
                    lambda ctx: self._activate(ctx, sha),
                    needs=("smoke-test",),
                    description="switch, reload the API gracefully, restart workers warm, verify",
                    resumable=False,
                ),
                Step(
                    "prune",
                    self._prune,
                    needs=("activate",),
                    description=f"keep the newest {self.live.keep_releases} releases",
                    resumable=False,
                ),
            ),
        )

    def _export(self, ctx: StepContext, sha: str) -> StepResult:
        if self.releases.has(sha):
            return StepResult.skipped(f"{sha[:12]} already exported", release=sha)
        release = self.releases.create_from_git(self.env.repo, sha, self.configured.apps_dir)
        return StepResult.ok(f"release {release.version}", release=sha)

    def _smoke_test(self, ctx: StepContext, sha: str) -> StepResult:
        release = self.releases.get(sha)
        scratch = self.layout.runtime_dir / f"smoke-{sha[:12]}"
        shutil.rmtree(scratch, ignore_errors=True)
        (scratch / "metrics").mkdir(parents=True)
        try:
            result = proc.run(
                [sys.executable, "-c", SMOKE_TEST],
                cwd=scratch,  # not the caller's cwd: nothing there may shadow the release
                env={
                    "PYTHONPATH": str(self.releases.path(sha) / "src"),
                    "REDIS_URL": self.redis_url(),
                    "SREPLAT_RELEASE": "",
                    "SREPLAT_RUNTIME_DIR": str(scratch),
                    "PROMETHEUS_MULTIPROC_DIR": str(scratch / "metrics"),
                },
                timeout=120,
                check=False,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if result.returncode != 0:
            last = next((ln for ln in reversed(result.stderr.splitlines()) if ln.strip()), "no error output")
            raise OperationFailed(
                f"release {sha[:12]} does not start: {last.strip()}; nothing switched",
                detail=result.stderr[-4000:],
            )
        reported = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        if reported != release.version:
            raise OperationFailed(
                f"release {sha[:12]} reports version {reported!r}, expected {release.version!r}"
            )
        return StepResult.ok("imports and builds its app")

    def _activate(self, ctx: StepContext, sha: str) -> StepResult:
        store = self.releases
        new = store.get(sha)
        current = store.current()
        state = store.state()
        if current == sha:
            previous = state.get("previous")
            activated_at = float(state.get("activated_at") or 0)
            if self._serving() == new.version and self._workers_started_after(activated_at):
                return StepResult.skipped(f"{new.short} is already live", release=sha, version=new.version)
        else:
            previous = current
            activated_at = round(time.time(), 3)
            store.switch(sha)
            store.save_state(current=sha, previous=previous, activated_at=activated_at)
        try:
            self._roll(ctx, new, stale=lambda info: info.started_at < activated_at)
        except Interrupted:
            raise  # a re-run resumes the same switch
        except SreplatError as exc:
            reason = exc.message
            if not previous or not store.has(str(previous)):
                store.record(new, "deploy-failed", reason)
                raise OperationFailed(
                    f"deploy of {new.short} failed: {reason}; no previous release to go back to"
                ) from exc
            old = store.get(str(previous))
            ctx.progress(f"rolling back to {old.short}: {reason}")
            store.switch(old.id)
            store.save_state(current=old.id, previous=None, activated_at=round(time.time(), 3))
            store.record(new, "deploy-failed", reason)
            try:
                # Only workers started since the failed switch run the new code.
                self._roll(ctx, old, stale=lambda info: info.started_at >= int(activated_at))
            except SreplatError as again:
                raise OperationFailed(
                    f"deploy of {new.short} failed ({reason}) "
                    f"and so did the rollback to {old.short}: {again.message}",
                    hint=f"see {self.layout.logs_dir}",
                ) from exc
            store.record(old, "rolled-back", f"after {new.short} failed")
            raise OperationFailed(
                f"deploy of {new.short} failed: {reason}; rolled back to {old.short}",
                hint=f"see {self.layout.logs_dir}",
            ) from exc
        store.record(new, "activated")
        return StepResult.ok(
            f"{new.short} live (previous {str(previous)[:12] or '-'})",
            summary=f"{self.env.name} runs {new.version}",
            release=sha,
            version=new.version,
            previous=previous,
        )

    def _roll(self, ctx: StepContext, release: Release, *, stale: Callable[[ProcessInfo], bool]) -> None:
        """Make the running processes serve ``release`` (already ``current``): reload the API,
        restart (warm, one at a time) the workers ``stale`` says run other code."""
        info = self.supervisor.process("api")
        if info.running:
            ctx.progress(f"graceful reload of the API to {release.short}")
            self.supervisor.signal("api", "HUP")
        else:
            # Crash-looping on a bad release (BACKOFF) or given up on: start afresh on this one
            # instead of waiting out supervisord's growing retry delay.
            ctx.progress(f"restarting the API ({info.state}) on {release.short}")
            self.supervisor.stop_process("api")
            self.supervisor.start_process("api")
        self._wait_serving(ctx, release.version)
        self._wait_ready(ctx)
        names = self.worker_names()
        for index, name in enumerate(names):
            worker = self.supervisor.process(name)
            if worker.running and not stale(worker):
                continue
            ctx.progress(f"warm restart of {name}")
            self.supervisor.stop_process(name)
            self.supervisor.start_process(name)
            self._wait_workers(ctx, len(names))
            port = self.live.worker_ports[index]
            ctx.wait_until(
                functools.partial(_worker_release_mismatch, port, release.version),
                timeout_s=self.live.ready_timeout_s,
                what=f"{name} did not report release {release.version}",
                hint=f"see {self.layout.logs_dir / (name + '.log')}",
            )

    def _serving(self) -> str | None:
        answer = http_probe.get(f"{self.api_url()}/healthz")
        body = answer.json() if answer.status == 200 else None
        return str(body.get("release")) if isinstance(body, dict) else None

    def _wait_serving(self, ctx: StepContext, version: str) -> None:
        streak = [0]

        def probe() -> str | None:
            serving = self._serving()
            streak[0] = streak[0] + 1 if serving == version else 0
            if streak[0] >= RELOAD_CONFIRMATIONS:
                return None
            return f"the API serves {serving or 'nothing'}"

        ctx.wait_until(
            probe,
            timeout_s=self.live.ready_timeout_s,
            what=f"the API did not switch to {version}",
            interval_s=0.2,
            hint=f"see {self.layout.logs_dir / 'api.log'}",
        )

    def _workers_started_after(self, when: float) -> bool:
        try:
            infos = [self.supervisor.process(n) for n in self.worker_names()]
        except OperationFailed:
            return False
        return all(i.running and i.started_at >= when for i in infos)

    def _prune(self, ctx: StepContext) -> StepResult:
        removed = self.releases.prune(self.live.keep_releases)
        if not removed:
            return StepResult.skipped("nothing to prune")
        return StepResult.ok(f"removed {len(removed)} old release(s)")

    # --- destroy ---------------------------------------------------------------------------------

    def destroy(self, *, keep_data: bool) -> Pipeline:
        return Pipeline(
            name="destroy",
            steps=(
                # Not resumable: a bootstrap after a failed destroy may have started things again.
                Step(
                    "stop",
                    self._stop_all,
                    description="stop every process gracefully, then supervisord",
                    resumable=False,
                ),
                Step(
                    "leftovers",
                    self._stop_leftovers,
                    needs=("stop",),
                    description="make sure no process of the environment is left, ports free",
                    resumable=False,
                ),
            ),
        )

    def destroy_keeps(self, *, keep_data: bool) -> Sequence[Path]:
        return (self.layout.redis_data,) if keep_data else ()

    def _stop_all(self, ctx: StepContext) -> StepResult:
        if not self.supervisor.running() and self.supervisor.pid() is None:
            return StepResult.skipped("supervisord is not running")
        ctx.progress("stopping workers (warm), the API (graceful), then redis")
        self.supervisor.shutdown()
        return StepResult.ok("all processes stopped")

    def _stop_leftovers(self, ctx: StepContext) -> StepResult:
        found = processes.find(self.layout.marker)
        if found:
            ctx.progress(f"stopping {len(found)} leftover process(es)")
            processes.stop([f.pid for f in found])
        busy = ports.wait_free(self.live.ports.values(), timeout_s=30)
        if busy:
            who = ", ".join(f"{p} ({ports.holder(p).describe()})" for p in busy)
            raise OperationFailed(f"ports still in use after stopping everything: {who}")
        if found:
            return StepResult.ok(f"stopped {len(found)} leftover process(es); ports free")
        return StepResult.skipped("nothing left; ports free")

    # --- status ----------------------------------------------------------------------------------

    def status_checks(self) -> Sequence[Check]:
        if not self.exists():
            return [
                Check("environment", lambda: unhealthy("not bootstrapped", hint="run `sreplat bootstrap`"))
            ]
        checks = [Check("supervisord", self._check_supervisord, timeout_s=10)]
        for name in ("redis", "api", *self.worker_names()):
            checks.append(Check(f"process {name}", _bind(self._check_process, name), timeout_s=10))
        checks += [
            Check("redis", self._check_redis, timeout_s=10),
            Check("api", self._check_api, timeout_s=10),
            Check("workers", self._check_workers, timeout_s=10),
            Check("queue", self._check_queue, timeout_s=10),
            Check("release", self._check_release, timeout_s=5),
        ]
        return checks

    def _check_supervisord(self) -> Finding:
        if not self.supervisor.running():
            return unhealthy("not running", hint="run `sreplat bootstrap`")
        return healthy(f"running, pid {self.supervisor.pid()}", pid=self.supervisor.pid())

    def _check_process(self, name: str) -> Finding:
        if not self.supervisor.running():
            return unknown("supervisord is not running")
        info = self.supervisor.process(name)
        restarts = self.supervisor.restarts(name)
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
            return unhealthy(
                f"{info.state}{detail}{restarted}",
                hint=f"see {self.layout.logs_dir / (name + '.log')}",
                **data,
            )
        return healthy(f"running, pid {info.pid}, up {_duration(info.uptime_s)}{restarted}", **data)

    def _check_redis(self) -> Finding:
        url = self.redis_url()
        if not redis_probe.ping(url):
            return unhealthy(f"no PONG from :{self.live.redis_port}")
        facts = redis_probe.health(url)
        persistence = "aof on" if facts.aof_enabled else "aof OFF"
        if facts.aof_enabled and not facts.aof_last_write_ok:
            persistence += " (last write FAILED)"
        summary = f"PONG, {persistence}, memory {facts.used_memory_human}, redis {facts.version}"
        if not facts.aof_enabled or not facts.aof_last_write_ok:
            return unhealthy(summary, **facts.to_dict())
        return healthy(summary, **facts.to_dict())

    def _check_api(self) -> Finding:
        ready = http_probe.get(f"{self.api_url()}/readyz")
        serving = self._serving()
        data: dict[str, Any] = {"url": self.api_url(), "readyz": ready.status, "release": serving}
        if ready.status != 200:
            return unhealthy(f"/readyz: {ready.describe()}", **data)
        return healthy(f"ready at {self.api_url()}, release {serving}", **data)

    def _check_workers(self) -> Finding:
        expected = len(self.worker_names())
        alive = self._alive_workers()
        releases = {
            name: worker_release(port)
            for name, port in zip(self.worker_names(), self.live.worker_ports, strict=True)
        }
        data: dict[str, Any] = {
            "registered": len(alive),
            "expected": expected,
            "pids": [w.pid for w in alive],
            "releases": releases,
        }
        summary = f"{len(alive)}/{expected} registered"
        current = self.releases.current()
        version = self.releases.get(current).version if current and self.releases.has(current) else None
        stale = sorted(name for name, seen in releases.items() if version and seen != version)
        if stale:
            return unhealthy(f"{summary}; {', '.join(stale)} not on {version}", **data)
        return healthy(summary, **data) if len(alive) >= expected else unhealthy(summary, **data)

    def _check_queue(self) -> Finding:
        url = self.redis_url()
        depth = redis_probe.queue_depth(url, QUEUE)
        failed = redis_probe.failed_jobs(url, QUEUE)
        return healthy(
            f"{QUEUE}: depth {depth}, failed jobs {failed}", queue=QUEUE, depth=depth, failed=failed
        )

    def _check_release(self) -> Finding:
        current = self.releases.current()
        history = [e.to_dict() for e in self.releases.history()[-10:]]
        if not current or not self.releases.has(current):
            return unhealthy("no current release", history=history)
        release = self.releases.get(current)
        previous = self.releases.state().get("previous")
        data: dict[str, Any] = {
            "current": release.id,
            "version": release.version,
            "previous": previous,
            "history": history,
        }
        serving = self._serving()
        suffix = f"; previous {str(previous)[:12]}" if previous else ""
        if serving is not None and serving != release.version:
            return unhealthy(f"current is {release.version} but the API serves {serving}", **data)
        return healthy(f"{release.version}{suffix}", **data)

    # --- doctor ----------------------------------------------------------------------------------

    def doctor_checks(self) -> Sequence[Check]:
        running = self.supervisor.running()
        checks = [
            Check("python", prereqs.python_check, timeout_s=5),
            Check("redis-server", lambda: prereqs.tool_check(["redis-server", "--version"], REDIS_HINT)),
            Check(
                "git",
                lambda: prereqs.tool_check(["git", "--version"], "install git (Debian: apt-get install git)"),
            ),
            Check("supervisor", lambda: prereqs.package_check("supervisor", "pip install supervisor")),
            Check("apps", _apps_check),
            Check(
                "terraform",
                lambda: prereqs.tool_check(
                    ["terraform", "version"],
                    "install terraform >= 1.9 (developer.hashicorp.com/terraform/install); gcp only",
                ),
                required=False,
            ),
            Check(
                "docker",
                lambda: prereqs.tool_check(
                    ["docker", "--version"],
                    "install Docker (Debian: apt-get install docker.io); only image builds need it",
                ),
                required=False,
            ),
        ]
        for what, port in self.configured.ports.items():
            checks.append(Check(f"port {port}", _bind(self._port_check, what, port, running), timeout_s=5))
        return checks

    def _port_check(self, what: str, port: int, running: bool) -> Finding:
        if ports.is_free(port):
            return healthy(f"free ({what})")
        if running and port in self.live.ports.values():
            return healthy(f"in use by this environment ({what})")
        return unhealthy(f"in use by {ports.holder(port).describe()} ({what})", hint=_port_hint(what))


# --- helpers -----------------------------------------------------------------------------------


_BUILD_INFO = re.compile(r"^sreplat_build_info\{([^}]*)\}\s+1", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def worker_release(port: int) -> str | None:
    """The release a worker reports on its /metrics (``sreplat_build_info``), None if no answer."""
    answer = http_probe.get(f"http://127.0.0.1:{port}/metrics")
    if answer.status != 200:
        return None
    for match in _BUILD_INFO.finditer(answer.body):
        labels = dict(_LABEL.findall(match.group(1)))
        if labels.get("service") == "worker":
            return labels.get("release")
    return None


def _worker_release_mismatch(port: int, version: str) -> str | None:
    seen = worker_release(port)
    return None if seen == version else f"it reports {seen or 'nothing'}"


def _bind(fn: Callable[..., Finding], *args: Any) -> Callable[[], Finding]:
    return lambda: fn(*args)


def _binary(name: str) -> str:
    return shutil.which(name) or name


def _script(name: str) -> str:
    """A console script of this interpreter's environment (the apps are installed next to us)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def _require_tools() -> None:
    if shutil.which("redis-server") is None:
        raise ToolMissing("redis-server not found on PATH", hint=REDIS_HINT)
    for script in ("sreplat-api", "sreplat-worker"):
        if not Path(_script(script)).exists():
            raise ToolMissing(f"{script} not found", hint=APPS_HINT)


def _apps_check() -> Finding:
    missing = [s for s in ("sreplat-api", "sreplat-worker") if not Path(_script(s)).exists()]
    if missing:
        return unhealthy(f"{', '.join(missing)} not found", hint=APPS_HINT)
    return healthy(f"sreplat-api, sreplat-worker in {Path(_script('sreplat-api')).parent}")


def _port_hint(what: str) -> str:
    key = {"api": "api_port", "redis": "redis_port"}.get(what, "worker_metrics_port")
    return (
        f"stop what holds it, or pick another: --set {key}=N, SREPLAT_{key.upper()}=N, "
        f"or {key} in sreplat.toml"
    )


def _is_git_repo(path: Path) -> bool:
    return (path / ".git").exists()


def _head_with_apps(repo: Path, apps_dir: str) -> str | None:
    """HEAD of ``repo`` when it is a git repository whose HEAD holds the apps, else None."""
    if not _is_git_repo(repo) or shutil.which("git") is None:
        return None
    try:
        head = git.resolve_sha(repo, "HEAD")
    except UsageError:
        return None  # a repository without commits
    return head if git.has_path(repo, head, f"{apps_dir}/sreplat_apps") else None


def _redis_conf(s: LocalSettings, data_dir: Path) -> str:
    return f"""\
# written by sreplat: changes are overwritten
port {s.redis_port}
bind 127.0.0.1
protected-mode yes
daemonize no
dir {data_dir}
appendonly yes
appendfsync everysec
save 3600 1 300 100 60 10000
dbfilename dump.rdb
logfile ""
"""


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
