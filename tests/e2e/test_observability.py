"""Observability of the local target end to end, with real processes: Debian's Prometheus under
the environment's supervisord scraping the real API and workers and evaluating the generated SLO
rules; the ``slo`` status check moving when the API answers real 5xx; ``sreplat logs`` showing
one request's lines across the API and a worker, and following new lines.

The errors are forced honestly: Redis is stopped, so ``POST /process`` answers 503 — a server
error the availability SLI counts like any other. Prometheus scrapes and evaluates every second
(``scrape_interval_s``/``evaluation_interval_s``) so the test waits seconds, not minutes.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sreplat.logs import format_ts
from tests.e2e.conftest import SLO_DIR, LocalEnv, eventually, request, run_job

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.prometheus,
    pytest.mark.timeout(900),
]


@pytest.fixture
def local_env_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    # The availability SLO only, as the repository defines it: its errors are the ones forced
    # here. The latency SLO would judge how busy the machine is, which a test must not.
    slo_dir = tmp_path_factory.mktemp("slo")
    shutil.copy(SLO_DIR / "api-availability.yaml", slo_dir)
    return {"scrape_interval_s": 1, "evaluation_interval_s": 1, "slo_dir": str(slo_dir)}


def supervisorctl(env: LocalEnv, *args: str) -> None:
    conf = env.state_dir / "supervisor" / "supervisord.conf"
    subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", str(conf), *args], check=True)


def slo_of(status: dict[str, Any], name: str) -> dict[str, Any]:
    return status["checks"]["slo"]["data"]["slos"][name]  # type: ignore[no-any-return]


def test_prometheus_slo_check_and_logs_of_one_job(local_env: LocalEnv) -> None:
    env = local_env
    prometheus = f"http://127.0.0.1:{env.ports['prometheus_port']}"

    run = env.sreplat("bootstrap", "-o", "json")
    assert run.code == 0, run.err
    facts = run.result()["facts"]
    assert facts["prometheus_url"] == prometheus
    assert facts["dashboard"].startswith(f"{prometheus}/graph?g0.expr=slo%3Aburn_rate%3A1h")
    text = env.sreplat("bootstrap")  # a no-op run shows the URLs too
    assert f"prometheus_url {prometheus}" in text.out, text.out

    # Prometheus scrapes the API and both workers, and has the three SLOs' rule groups.
    def scraping() -> dict[str, Any] | None:
        status = env.status()
        check = status["checks"]["prometheus"]
        up = [health for health in check["data"]["targets"].values() if health == "up"]
        return status if check["verdict"] == "healthy" and len(up) == 3 else None

    status = eventually(scraping, "Prometheus to scrape the API and both workers", timeout_s=120)
    assert status["checks"]["prometheus"]["data"]["rule_groups"] == ["slo-api-availability"]

    # Good traffic: the availability SLO is evaluated, its budget untouched, status healthy.
    # Traffic goes on while we wait: a counter series counts from its first scrape, so requests
    # that all come before it would not show in rate() at all.
    job = run_job(env, {"hello": "slo"})

    def evaluated() -> dict[str, Any] | None:
        run_job(env, {"more": "traffic"})
        status = env.status()
        availability = slo_of(status, "api-availability")
        return status if availability["error_budget_remaining"] == 1.0 else None

    status = eventually(evaluated, "the availability SLO to be evaluated", timeout_s=120)
    assert status["code"] == 0, status
    assert status["checks"]["slo"]["verdict"] == "healthy"
    assert slo_of(status, "api-availability")["fast_burn"] is False
    assert slo_of(status, "api-availability")["burn_rate_1h"] == 0.0

    # Forced errors: Redis stopped, every POST /process is a real 503, until the check sees it.
    supervisorctl(env, "stop", "redis")
    try:

        def burning() -> dict[str, Any] | None:
            for _ in range(10):
                code, body = request("POST", f"{env.api}/process", {"task": "echo", "payload": {}})
                assert code == 503, body
            status = env.status()
            return status if status["checks"]["slo"]["verdict"] == "unhealthy" else None

        status = eventually(burning, "the slo check to see the fast burn", timeout_s=180)
    finally:
        supervisorctl(env, "start", "redis")
    assert status["code"] == 3
    availability = slo_of(status, "api-availability")
    assert availability["fast_burn"] is True
    assert availability["burn_rate_1h"] > availability["fast_burn_threshold"] == 14.4
    assert availability["error_budget_remaining"] < 0  # most requests failed: far over 0.1 %
    assert "SLOFastBurn would fire" in status["checks"]["slo"]["hint"]
    text = env.sreplat("status")
    assert text.code == 3
    assert "api-availability: budget" in text.out and "FAST BURN" in text.out

    # logs --trace: the API's and the worker's lines of one job, in time order.
    worker_lines = env.sreplat("logs", "worker", "-o", "json")
    assert worker_lines.code == 0, worker_lines.err
    finished = next(
        line
        for line in worker_lines.lines()
        if line["event"] == "log" and line["fields"].get("job_id") == job["job_id"]
    )
    trace_id = finished["trace_id"]
    traced = env.sreplat("logs", "--trace", trace_id, "-o", "json")
    assert traced.code == 0, traced.err
    lines = [line for line in traced.lines() if line["event"] == "log"]
    assert {line["trace_id"] for line in lines} == {trace_id}
    assert {line["service"] for line in lines} == {"api", "worker"}
    api_line = next(line for line in lines if line["service"] == "api")
    assert api_line["fields"]["route"] == "/process" and api_line["fields"]["status"] == 202
    assert finished["source"] in {line["source"] for line in lines}  # worker-1 or worker-2
    assert [line["ts"] for line in lines] == sorted(line["ts"] for line in lines)
    assert traced.result()["lines"] == len(lines)
    as_text = env.sreplat("logs", "--trace", trace_id)
    assert as_text.out.count(f"trace_id={trace_id}") == len(lines)

    # --follow shows a line written after it started; Ctrl-C ends it with 130.
    follower = subprocess.Popen(
        env.argv("logs", "api", "--follow", "-o", "json"), stdout=subprocess.PIPE, text=True, cwd=env.project
    )
    try:
        assert follower.stdout is not None
        assert json.loads(follower.stdout.readline())["event"] == "run.start"
        since = format_ts(datetime.now(UTC))
        code, body = request("POST", f"{env.api}/process", {"task": "echo", "payload": {"after": "follow"}})
        assert code == 202, body
        for raw in follower.stdout:  # the lines so far, then new ones as they are written
            line = json.loads(raw)
            fields = line.get("fields", {})
            if line["ts"] >= since and fields.get("route") == "/process" and fields.get("status") == 202:
                break
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=60) == 130
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert Path(env.state_dir / "prometheus" / "slo-rules.yml").is_file()

    # An environment up since before Prometheus was added (its supervisord knows no such
    # program): bootstrap makes supervisord read the new config and starts Prometheus.
    supervisorctl(env, "stop", "prometheus")
    supervisorctl(env, "remove", "prometheus")
    conf = env.state_dir / "supervisor" / "supervisord.conf"
    text = conf.read_text()
    start = text.index("[program:prometheus]")
    end = text.find("\n[", start + 1)
    conf.write_text(text[:start] + (text[end + 1 :] if end != -1 else ""))
    upgraded = env.sreplat("bootstrap", "-o", "json")
    assert upgraded.code == 0, upgraded.err
    assert {s["step"]: s["status"] for s in upgraded.result()["steps"]}["prometheus"] == "ok"
    assert env.status()["checks"]["process prometheus"]["verdict"] == "healthy"
