"""The local target's pure parts: what it would run and with which settings (no processes here;
``tests/e2e`` runs the real thing)."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sreplat.config import load_environment
from sreplat.errors import UsageError
from sreplat.pipeline import Verdict, run_checks
from sreplat.targets import REGISTRY, load_target
from sreplat.targets.local import LocalTarget, worker_release
from sreplat.targets.local.settings import record
from tests.support.http_server import serving


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalTarget:
    monkeypatch.chdir(tmp_path)
    env = load_environment(
        registry=REGISTRY, overrides={"api_port": "18080", "workers": "3", "worker_metrics_port": "19000"}
    )
    loaded = load_target(env)
    assert isinstance(loaded, LocalTarget)
    return loaded


def test_building_pipelines_and_checks_touches_nothing(target: LocalTarget) -> None:
    bootstrap = target.bootstrap()
    assert [s.name for s in bootstrap.order()] == [
        "prepare",
        "release",
        "supervisord",
        "redis",
        "api",
        "workers",
        "verify",
    ]
    assert bootstrap.step("api").needs == ("redis", "release")
    assert [s.name for s in target.deploy("a" * 40).order()] == ["export", "smoke-test", "activate", "prune"]
    assert [s.name for s in target.destroy(keep_data=True).order()] == ["stop", "leftovers"]
    target.status_checks()
    target.doctor_checks()
    assert not target.env.state_dir.exists()


def test_processes_run_the_current_release_with_its_own_settings(target: LocalTarget) -> None:
    config = target.local.supervisor.config
    programs = {p.name: p for p in config.programs}
    assert list(programs) == ["redis", "api", "worker-1", "worker-2", "worker-3"]
    api = programs["api"]
    assert api.command[1:] == ("--bind", "127.0.0.1:18080", "--workers", "2")
    assert api.environment["PYTHONPATH"] == str(target.env.state_dir / "releases" / "current" / "src")
    assert api.environment["SREPLAT_RELEASE"] == ""  # the release comes from the release dir
    worker3 = programs["worker-3"]
    assert worker3.command[-2:] == ("--metrics-port", "19002")
    assert worker3.group == "workers" and worker3.stopwaitsecs >= 60  # a running job may finish
    assert programs["redis"].command[-1] == str(target.env.state_dir / "redis" / "redis.conf")


def test_settings_changed_since_bootstrap_are_named(target: LocalTarget) -> None:
    bootstrapped = target.configured.model_copy(update={"api_port": 18081})
    record(target.local.layout, bootstrapped)  # what bootstrap writes
    again = load_target(target.env)
    assert isinstance(again, LocalTarget)
    assert again.local.live.api_port == 18081  # status, deploy and destroy talk to what runs
    assert again.local.differences() == ["api_port 18081 → 18080"]


def test_deploy_needs_a_git_repository(target: LocalTarget) -> None:
    with pytest.raises(UsageError, match="not a git repository"):
        target.resolve_sha("abcdef1")


def test_status_of_a_missing_environment(target: LocalTarget) -> None:
    [result] = run_checks(target.status_checks())
    assert result.verdict is Verdict.UNHEALTHY and result.summary == "not bootstrapped"


METRICS = """\
# HELP sreplat_build_info Always 1; labels say what runs.
# TYPE sreplat_build_info gauge
sreplat_build_info{release="0.1.0+gabc",service="worker"} 1.0
"""


@pytest.fixture
def metrics_port() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = METRICS.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as port:
        yield port


def test_worker_release_is_read_from_build_info(metrics_port: int) -> None:
    assert worker_release(metrics_port) == "0.1.0+gabc"
    assert json.dumps(worker_release(1)) == "null"  # nothing listens on port 1
