"""The ``local`` target: the whole platform on this machine, under supervisord.

Processes (one supervisord per environment, its socket and config in the state dir):

- ``redis``: redis-server, append-only file on, data in ``<state>/redis/data``;
- ``api``: ``sreplat-api`` (gunicorn), bound to ``api_host:api_port``;
- ``worker-N``: ``sreplat-worker --workers 1``, one supervisord program each (group ``workers``),
  so they restart one at a time and the queue is never left without a worker;
- ``prometheus``: Debian's Prometheus on 127.0.0.1, scraping the API and every worker and
  evaluating the SLO rules (``observability``); its UI is the local dashboard.

Each is restarted by supervisord if it dies; logs go to ``<state>/logs/``.

Zero-downtime deploys (``tools/local/release_dirs.py``): every process runs with
``PYTHONPATH=<state>/releases/current/src``. A deploy exports the commit's apps into a new
release dir, smoke-tests it in a throwaway interpreter (it must import and build its app, so a
broken commit never reaches the running API), switches ``current`` atomically, sends SIGHUP to
the gunicorn master (new workers load the new code; the listening socket never closes; old
workers finish their requests), restarts the RQ workers one by one with SIGTERM (warm: the
running job finishes), and verifies ``/healthz`` reports the new release and every worker is
registered again. If that fails it switches back and reloads the previous release.

One module per verb — ``bootstrap``, ``deploy``, ``destroy`` (the pipelines), ``status`` and
``doctor`` (the checks) — over what they share: ``settings`` (the Settings model, and what is
recorded at bootstrap), ``layout`` (where things live), ``programs`` (what supervisord runs),
``context``, ``probes`` and ``waits`` (asking and waiting for the processes).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from sreplat.config import Environment
from sreplat.errors import OperationFailed, UsageError
from sreplat.logs import LogLine, LogQuery
from sreplat.pipeline.checks import Check
from sreplat.pipeline.step import Pipeline
from sreplat.targets import Seams
from sreplat.targets.base import Target
from sreplat.targets.local import doctor, logs, observability, orphans, status
from sreplat.targets.local.bootstrap import Bootstrap, is_git_repo
from sreplat.targets.local.context import LocalContext
from sreplat.targets.local.deploy import Deploy
from sreplat.targets.local.destroy import Destroy
from sreplat.targets.local.probes import worker_release
from sreplat.targets.local.settings import LocalSettings
from sreplat.tools import git
from sreplat.tools.local import ports
from sreplat.tools.signatures import TrustFiles

__all__ = ["LocalTarget", "worker_release"]


class LocalTarget(Target):
    name = "local"

    def __init__(self, env: Environment, seams: Seams):
        super().__init__(env, seams)
        self.local = LocalContext(env)
        self.configured: LocalSettings = self.local.configured

    # --- validation ------------------------------------------------------------------------------

    def check_bootstrap(self) -> None:
        doctor.require_tools()
        observability.slos(self.local)  # SloError (exit 2) before anything is created
        if self.local.supervisor.running():
            differences = self.local.differences()
            if differences:
                raise UsageError(
                    f"{self.env.name} is running with other settings ({'; '.join(differences)}); "
                    "nothing changed",
                    hint="run `sreplat destroy` first, or undo the change",
                )
            return  # its ports are ours
        # Ports held by this environment's own processes (left by a dead supervisord) are ours:
        # the bootstrap stops those first.
        ours = {f.pid for f in orphans.find(self.local)}
        busy = [p for p in ports.taken(self.configured.ports.values()) if ports.holder(p).pid not in ours]
        if busy:
            names = {port: what for what, port in self.configured.ports.items()}
            port = busy[0]
            who = ports.holder(port).describe()
            raise OperationFailed(
                f"port {port} ({names[port]}) is already in use by {who}; nothing started",
                hint=doctor.port_hint(names[port]),
            )
        if self.configured.repo is not None and not is_git_repo(self.env.repo):
            raise UsageError(f"repo = {self.env.repo} is not a git repository")

    def resolve_sha(self, rev: str) -> str:
        if not is_git_repo(self.env.repo):
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

    def commit_trust(self) -> TrustFiles | None:
        settings = self.configured
        return settings.trust_files if settings.require_signed_commits else None

    def check_deploy(self, sha: str) -> None:
        observability.slos(self.local)  # deploy regenerates the rules: they must load
        if not self.local.supervisor.running():
            raise OperationFailed(
                f"{self.env.name} is not running; nothing deployed", hint="run `sreplat bootstrap` first"
            )

    def exists(self) -> bool:
        return self.local.layout.state_dir.is_dir()

    # --- pipelines -------------------------------------------------------------------------------

    def bootstrap(self) -> Pipeline:
        return Bootstrap(self.local).pipeline()

    def deploy(self, sha: str) -> Pipeline:
        return Deploy(self.local, sha).pipeline()

    def destroy(self, *, keep_data: bool) -> Pipeline:
        return Destroy(self.local).pipeline()

    def destroy_keeps(self, *, keep_data: bool) -> Sequence[Path]:
        return (self.local.layout.redis_data,) if keep_data else ()

    # --- checks ----------------------------------------------------------------------------------

    def status_checks(self) -> Sequence[Check]:
        return status.status_checks(self.local)

    def doctor_checks(self) -> Sequence[Check]:
        return doctor.doctor_checks(self.local)

    def logs(self, query: LogQuery) -> Iterator[LogLine]:
        return logs.lines(self.local, query)
