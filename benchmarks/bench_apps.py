"""Bundled apps against naive baselines (``make bench-apps``): figures and ratios, never asserted.

Everything runs side by side in this one invocation, on this machine, against the same Redis:

API     the naive baseline (a minimal Flask app whose handler calls ``Queue.enqueue``, gunicorn
        sync worker, 2 workers) versus ``sreplat-api`` as shipped (tracing, metrics and JSON logs
        on), both driven by the same ``wrk`` load: POST /process of an echo job, 32 connections.
        Rounds alternate baseline/sreplat so a noisy neighbour hurts both alike. Both run the
        same gunicorn from the same virtualenv, so both get the same HTTP parser (printed).
        Goal: requests/s ratio >= 1.5 with sreplat p99 <= 50 ms.
Worker  2,000 identical echo jobs drained by one default forking ``rq worker`` versus
        ``sreplat-worker`` with no flags (its default: one worker process per available CPU),
        wall time from process start to exit. Then a job that overruns its timeout, to show
        timeouts are still enforced. Goal: jobs/s ratio >= 6.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from rq import Queue  # noqa: E402
from rq.job import Job  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402
from sreplat_apps.boot.cpus import available_cpus  # noqa: E402
from sreplat_apps.contract import EchoRequest  # noqa: E402
from sreplat_apps.jobs import JobStore  # noqa: E402
from sreplat_apps.settings import Settings  # noqa: E402

from tests.support.apps import app_env, start_api  # noqa: E402
from tests.support.redis_server import RedisServer, free_port  # noqa: E402

BIN = Path(sys.executable).parent
BODY = '{"task": "echo", "payload": {"n": 1}}'
# sreplat-worker's default (no --workers): one process per available CPU. Jobs are CPU-bound
# Python bookkeeping plus Redis round trips, and more processes than cores measured slower here
# (3: 370, 4: 312 jobs/s against 409 for 2).
WORKER_PROCESSES = available_cpus()

BASELINE_APP = textwrap.dedent(
    """
    import os

    from flask import Flask, jsonify, request
    from redis import Redis
    from rq import Queue

    app = Flask(__name__)
    queue = Queue("baseline", connection=Redis.from_url(os.environ["REDIS_URL"]))


    @app.post("/process")
    def process():
        body = request.get_json()
        job = queue.enqueue("sreplat_apps.tasks.echo", body["payload"])
        return jsonify(job_id=job.id, status="queued"), 202
    """
)

WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: float = 0.0


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid]
    if children.exists():
        for child in children.read_text().split():
            pids += process_tree(int(child))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of live processes: what a server spent, whatever the neighbours did."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: Path, seconds: int, connections: int, server_pid: int | None = None) -> Load:
    pids = process_tree(server_pid) if server_pid else []
    cpu_before = cpu_seconds(pids)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Load(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        errors=errors + (int(non_2xx.group(1)) if non_2xx else 0),
        cpu_ms_per_request=1000 * (cpu_seconds(pids) - cpu_before) / max(requests, 1),
    )


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def http_parser() -> str:
    """Which HTTP/1.1 parser gunicorn's default ``http_parser = "auto"`` picks here, for both sides."""
    try:
        import gunicorn_h1c  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return "pure Python (gunicorn_h1c not installed)"
    return "C (gunicorn_h1c)"


def bench_api(redis: RedisServer, work: Path, rounds: int, seconds: int, connections: int) -> None:
    from sreplat_apps.boot import gunicorn_server

    print(f"\n== API: POST /process (echo), wrk -c{connections}, {rounds} x {seconds}s per side ==")
    print(
        "  baseline: gunicorn sync, 2 workers | sreplat: gunicorn"
        f" {gunicorn_server.WORKER_CLASS.__name__}, {gunicorn_server.THREADS_PER_WORKER} threads,"
        f" one worker per CPU | HTTP parser, both: {http_parser()}"
    )
    (work / "baseline_app.py").write_text(BASELINE_APP)
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT)
    env = app_env(redis.url, work / "rt")
    base_port, sreplat_port = free_port(), free_port()
    with (work / "baseline.log").open("wb") as log:
        baseline = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-k",
                "sync",
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{base_port}",
                "baseline_app:app",
            ],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    sreplat = start_api(env, sreplat_port, work / "sreplat-api.log", workers=None)  # its own default
    results: dict[str, list[Load]] = {"baseline": [], "sreplat": []}
    try:
        wait_http(f"http://127.0.0.1:{base_port}/process")
        client = Redis.from_url(redis.url)
        servers = (("baseline", base_port, baseline.pid), ("sreplat", sreplat_port, sreplat.pid))
        for _name, port, _pid in servers:  # warm up both
            run_wrk(f"http://127.0.0.1:{port}/process", script, 2, connections)
        for _ in range(rounds):
            for name, port, pid in servers:
                client.flushall()  # same empty Redis for every run
                load = run_wrk(f"http://127.0.0.1:{port}/process", script, seconds, connections, pid)
                results[name].append(load)
                print(
                    f"  {name:9s} {load.rps:8.0f} req/s   p50 {load.p50_ms:6.2f} ms"
                    f"   p99 {load.p99_ms:7.2f} ms"
                    f"   server CPU {load.cpu_ms_per_request:5.2f} ms/request   errors {load.errors}"
                )
        client.close()
    finally:
        baseline.terminate()
        baseline.wait(timeout=30)
        sreplat.stop(timeout=30)

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(load, field) for load in results[name])

    base_rps, ours_rps = median("baseline", "rps"), median("sreplat", "rps")
    print(
        f"  median    baseline {base_rps:.0f} req/s (p99 {median('baseline', 'p99_ms'):.1f} ms)"
        f"   sreplat {ours_rps:.0f} req/s (p50 {median('sreplat', 'p50_ms'):.2f} ms,"
        f" p99 {median('sreplat', 'p99_ms'):.1f} ms)"
    )
    print(
        f"  RATIO sreplat/baseline requests/s: {ours_rps / base_rps:.2f}   (goal >= 1.5, with p99 <= 50 ms:"
        f" p99 {median('sreplat', 'p99_ms'):.1f} ms)"
    )
    print(
        f"  server CPU per request: baseline {median('baseline', 'cpu_ms_per_request'):.2f} ms,"
        f" sreplat {median('sreplat', 'cpu_ms_per_request'):.2f} ms"
        " (when the cores are saturated, requests/s follows the inverse of this)"
    )


def _enqueue_echo_jobs(store: JobStore, count: int) -> None:
    request = EchoRequest(task="echo", payload={"n": 1})
    for _ in range(count):
        store.enqueue(request, idempotency_key=None, trace_context={})


def _drain(argv: list[str], env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("wb") as out:
        subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=900)
    return time.perf_counter() - started


def bench_worker(redis: RedisServer, work: Path, jobs: int) -> None:
    print(
        f"\n== Worker: drain {jobs} echo jobs (burst), process start to exit; sreplat-worker with no"
        f" flags ({WORKER_PROCESSES} processes, one per available CPU) =="
    )
    client = Redis.from_url(redis.url)
    env = app_env(redis.url, work / "rt-worker")
    figures: dict[str, float] = {}
    runs = {
        "baseline": (
            "baseline-q",
            [str(BIN / "rq"), "worker", "--burst", "--url", redis.url,
             "--serializer", "rq.serializers.JSONSerializer", "baseline-q"],
        ),
        "sreplat": (
            "sreplat-q",
            [str(BIN / "sreplat-worker"), "--burst", "--metrics-port", "0"],  # default processes
        ),
    }  # fmt: skip
    for name, (queue_name, argv) in runs.items():
        client.flushall()
        settings = Settings.from_env({"REDIS_URL": redis.url, "SREPLAT_QUEUE": queue_name})
        _enqueue_echo_jobs(JobStore(settings, client), jobs)
        elapsed = _drain(argv, {**env, "SREPLAT_QUEUE": queue_name}, work / f"{name}-worker.log")
        queue = Queue(queue_name, connection=client, serializer=JSONSerializer)
        finished, failed = queue.finished_job_registry.count, queue.failed_job_registry.count
        figures[name] = jobs / elapsed
        print(
            f"  {name:9s} {elapsed:7.2f} s   {jobs / elapsed:8.0f} jobs/s"
            f"   finished {finished}  failed {failed}"
            f"  left {queue.count}"
        )
    print(f"  RATIO sreplat/baseline jobs/s: {figures['sreplat'] / figures['baseline']:.2f}   (goal >= 6)")

    # Timeouts still enforced by the in-process worker: a 3 s sleep with a 1 s limit must fail.
    client.flushall()
    queue = Queue("sreplat-q", connection=client, serializer=JSONSerializer)
    job = queue.enqueue(
        "sreplat_apps.tasks.sleep", ms=3000, job_timeout=1, job_id=uuid.uuid4().hex, meta={"task": "sleep"}
    )
    started = time.perf_counter()
    _drain([str(BIN / "sreplat-worker"), "--burst", "--metrics-port", "0"],
           {**env, "SREPLAT_QUEUE": "sreplat-q"}, work / "timeout-worker.log")  # fmt: skip
    job = Job.fetch(job.id, connection=client, serializer=JSONSerializer)
    latest = job.latest_result()
    enforced = (
        job.get_status() == "failed"
        and latest is not None
        and "JobTimeoutException" in (latest.exc_string or "")
    )
    print(
        f"  job timeout enforced by sreplat-worker: {'yes' if enforced else 'NO'}"
        f" (3 s sleep, 1 s limit, status {job.get_status().value},"
        f" run took {time.perf_counter() - started:.1f} s)"
    )
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per side (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--only", choices=["api", "worker"], default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: run `make system-deps-test` (installs it via apt as root)")
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start (others share it)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-apps-") as tmp:
        work = Path(tmp)
        (work / "redis").mkdir()
        redis = RedisServer(work / "redis")
        redis.start()
        try:
            if args.only in (None, "api"):
                bench_api(redis, work, args.rounds, args.seconds, args.connections)
            if args.only in (None, "worker"):
                bench_worker(redis, work, args.jobs)
        finally:
            redis.stop()
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
