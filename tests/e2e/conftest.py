"""A local-target environment driven through the real ``sreplat`` command, with real processes.

``local_env`` gives each test its own environment: a temporary git repository holding a copy of
the bundled apps (commit 1), free ports, and an ``sreplat.toml`` naming them. Whatever the test
does, teardown destroys the environment and then kills anything still carrying its state dir in
its argv or environment, so no process outlives a failing test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sreplat.tools.local import ports, processes
from tests.support.git_repo import GitRepo
from tests.support.local_env import port_settings

APPS_SRC = Path(__file__).resolve().parents[2] / "apps" / "src"
SLO_DIR = Path(__file__).resolve().parents[2] / "slo"
SREPLAT = [sys.executable, "-c", "import sys; from sreplat.cli.main import main; sys.exit(main())"]
# Generous: CI machines are slow and shared. Nothing here is a timed assertion; it only bounds a hang.
READY_TIMEOUT_S = 240
WAIT_S = 240.0


@dataclass
class Run:
    code: int
    out: str
    err: str

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def result(self) -> dict[str, Any]:
        return next(line for line in reversed(self.lines()) if line["event"] == "result")


@dataclass
class LocalEnv:
    name: str
    project: Path
    repo: GitRepo
    state_dir: Path
    ports: dict[str, int]

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api_port']}"

    @property
    def marker(self) -> str:
        return str(self.state_dir) + os.sep

    def all_ports(self) -> list[int]:
        metrics = self.ports["worker_metrics_port"]
        return [
            self.ports["api_port"],
            self.ports["redis_port"],
            metrics,
            metrics + 1,
            self.ports["prometheus_port"],
        ]

    def argv(self, *args: str) -> list[str]:
        return [*SREPLAT, "--config", str(self.project / "sreplat.toml"), "--env", self.name, *args]

    def sreplat(self, *args: str, timeout: float = 900) -> Run:
        done = subprocess.run(
            self.argv(*args), check=False, capture_output=True, text=True, timeout=timeout, cwd=self.project
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def status(self) -> dict[str, Any]:
        run = self.sreplat("status", "-o", "json")
        checks = {line["check"]: line for line in run.lines() if line["event"] == "check"}
        return {"code": run.code, "checks": checks, "result": run.result()}


def request(
    method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 30
) -> tuple[int, Any]:
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", "Connection": "close"} if body is not None else {}
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text
    finally:
        connection.close()


def eventually(probe: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            last = probe()
            if last:
                return last
        time.sleep(0.25)
    pytest.fail(f"{what} did not happen within {timeout_s:.0f}s (last: {last!r})")


def run_job(env: LocalEnv, payload: dict[str, Any]) -> dict[str, Any]:
    code, accepted = request("POST", f"{env.api}/process", {"task": "echo", "payload": payload})
    assert code == 202, accepted
    job_id = accepted["job_id"]

    def finished() -> dict[str, Any] | None:
        status, job = request("GET", f"{env.api}/jobs/{job_id}")
        return job if status == 200 and job["status"] == "finished" else None

    return eventually(finished, f"job {job_id} to finish")  # type: ignore[no-any-return]


@pytest.fixture
def local_env_settings() -> dict[str, object]:
    """Extra settings of the environment (a test module overrides this fixture). The project dir
    has no slo/: without ``slo_dir`` the environment has no SLOs, so a busy machine slowing
    requests down cannot make ``status`` unhealthy in tests about something else."""
    return {}


@pytest.fixture
def local_env(tmp_path: Path, local_env_settings: dict[str, object]) -> Iterator[LocalEnv]:
    project = tmp_path / "project"
    project.mkdir()
    repo = GitRepo(tmp_path / "repo")
    repo.commit_tree(APPS_SRC, "apps/src", "apps, first version")
    settings = port_settings(workers=2)
    toml = "\n".join(
        [
            "[environments.e2e]",
            'target = "local"',
            f'repo = "{repo.path}"',
            "workers = 2",
            "api_workers = 2",
            f"ready_timeout_s = {READY_TIMEOUT_S}",
            *(f"{key} = {value}" for key, value in settings.items()),
            *(f"{key} = {json.dumps(value)}" for key, value in local_env_settings.items()),
        ]
    )
    (project / "sreplat.toml").write_text(toml + "\n")
    state_root = Path(os.environ["SREPLAT_STATE_ROOT"])
    env = LocalEnv("e2e", project, repo, state_root / "e2e", settings)
    try:
        yield env
    finally:
        with contextlib.suppress(Exception):
            env.sreplat("destroy", "--yes", timeout=600)
        leftovers = processes.find(env.marker)
        if leftovers:
            processes.stop([p.pid for p in leftovers])
        ports.wait_free(env.all_ports(), timeout_s=30)
