"""Local deploy: export the commit's apps as a release, smoke-test it in a throwaway interpreter,
switch to it and roll the processes over (graceful API reload, warm worker restarts), rolling
back to the previous release when the new one does not come up; then prune old releases."""

from __future__ import annotations

import functools
import shutil
import sys
import time
from collections.abc import Callable
from typing import NoReturn

from sreplat import proc
from sreplat.errors import Interrupted, OperationFailed, SreplatError
from sreplat.pipeline.step import Pipeline, Step, StepContext, StepResult
from sreplat.targets.local import probes
from sreplat.targets.local.context import LocalContext
from sreplat.targets.local.waits import wait_ready, wait_serving, wait_workers
from sreplat.tools.local.release_dirs import ReleaseDir
from sreplat.tools.local.supervisor import ProcessInfo

SMOKE_TEST = """\
import importlib.metadata, sys
from sreplat_apps.api import create_app
create_app()
import sreplat_apps.worker.supervisor
print(importlib.metadata.version("sreplat-apps"))
"""


class Deploy:
    def __init__(self, local: LocalContext, sha: str):
        self.local = local
        self.sha = sha

    def pipeline(self) -> Pipeline:
        sha = self.sha
        return Pipeline(
            name="deploy",
            fingerprint=sha,
            steps=(
                Step("export", self.export, description=f"export the apps of {sha[:12]}"),
                Step(
                    "smoke-test",
                    self.smoke_test,
                    needs=("export",),
                    description="import the release and build its app in a throwaway interpreter",
                    verifies=True,
                ),
                Step(
                    "activate",
                    self.activate,
                    needs=("smoke-test",),
                    description="switch, reload the API gracefully, restart workers warm, verify",
                    resumable=False,
                ),
                Step(
                    "prune",
                    self.prune,
                    needs=("activate",),
                    description=f"keep the newest {self.local.live.keep_releases} releases",
                    resumable=False,
                ),
            ),
        )

    def export(self, ctx: StepContext) -> StepResult:
        sha = self.sha
        if self.local.release_dirs.has(sha):
            return StepResult.skipped(f"{sha[:12]} already exported", release=sha)
        release = self.local.release_dirs.create_from_git(
            self.local.env.repo, sha, self.local.configured.apps_dir
        )
        return StepResult.ok(f"release {release.version}", release=sha)

    def smoke_test(self, ctx: StepContext) -> StepResult:
        sha, release_dirs = self.sha, self.local.release_dirs
        release = release_dirs.get(sha)
        scratch = self.local.layout.runtime_dir / f"smoke-{sha[:12]}"
        shutil.rmtree(scratch, ignore_errors=True)
        (scratch / "metrics").mkdir(parents=True)
        try:
            result = proc.run(
                [sys.executable, "-c", SMOKE_TEST],
                cwd=scratch,  # not the caller's cwd: nothing there may shadow the release
                env={
                    "PYTHONPATH": str(release_dirs.path(sha) / "src"),
                    "REDIS_URL": self.local.redis_url(),
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

    def activate(self, ctx: StepContext) -> StepResult:
        sha, store = self.sha, self.local.release_dirs
        new = store.get(sha)
        current = store.current()
        state = store.state()
        if current == sha:
            previous = state.get("previous")
            activated_at = float(state.get("activated_at") or 0)
            serving = probes.serving(self.local.api_url())
            if serving == new.version and self._workers_started_after(activated_at):
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
            self._roll_back(ctx, new, previous, activated_at, exc)
        store.record(new, "activated")
        return StepResult.ok(
            f"{new.short} live (previous {str(previous)[:12] or '-'})",
            summary=f"{self.local.env.name} runs {new.version}",
            release=sha,
            version=new.version,
            previous=previous,
        )

    def _roll_back(
        self, ctx: StepContext, new: ReleaseDir, previous: str | None, activated_at: float, exc: SreplatError
    ) -> NoReturn:
        """Go back to ``previous`` after ``new`` failed to come up; always raises."""
        store, logs = self.local.release_dirs, self.local.layout.logs_dir
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
                hint=f"see {logs}",
            ) from exc
        store.record(old, "rolled-back", f"after {new.short} failed")
        raise OperationFailed(
            f"deploy of {new.short} failed: {reason}; rolled back to {old.short}", hint=f"see {logs}"
        ) from exc

    def _roll(self, ctx: StepContext, release: ReleaseDir, *, stale: Callable[[ProcessInfo], bool]) -> None:
        """Make the running processes serve ``release`` (already ``current``): reload the API,
        restart (warm, one at a time) the workers ``stale`` says run other code."""
        local, supervisor = self.local, self.local.supervisor
        info = supervisor.process("api")
        if info.running:
            ctx.progress(f"graceful reload of the API to {release.short}")
            supervisor.signal("api", "HUP")
        else:
            # Crash-looping on a bad release (BACKOFF) or given up on: start afresh on this one
            # instead of waiting out supervisord's growing retry delay.
            ctx.progress(f"restarting the API ({info.state}) on {release.short}")
            supervisor.stop_process("api")
            supervisor.start_process("api")
        wait_serving(local, ctx, release.version)
        wait_ready(local, ctx)
        names = local.worker_names()
        for index, name in enumerate(names):
            worker = supervisor.process(name)
            if worker.running and not stale(worker):
                continue
            ctx.progress(f"warm restart of {name}")
            supervisor.stop_process(name)
            supervisor.start_process(name)
            wait_workers(local, ctx, len(names))
            port = local.live.worker_ports[index]
            ctx.wait_until(
                functools.partial(probes.worker_release_mismatch, port, release.version),
                timeout_s=local.live.ready_timeout_s,
                what=f"{name} did not report release {release.version}",
                hint=f"see {local.layout.log(name)}",
            )

    def _workers_started_after(self, when: float) -> bool:
        try:
            infos = [self.local.supervisor.process(n) for n in self.local.worker_names()]
        except OperationFailed:
            return False
        return all(i.running and i.started_at >= when for i in infos)

    def prune(self, ctx: StepContext) -> StepResult:
        removed = self.local.release_dirs.prune(self.local.live.keep_releases)
        if not removed:
            return StepResult.skipped("nothing to prune")
        return StepResult.ok(f"removed {len(removed)} old release(s)")
