"""Chaos benchmark (``make bench-chaos``): the local platform under steady load while a schedule
injects faults. Figures, never assertions; it exits 1 only when an accepted job was lost.

One throwaway local environment (its own state root, free ports, 127.0.0.1 only) runs a git
repository holding the bundled apps in three commits: A (as they are), B (a harmless change)
and C (the worker exits at import: a release that crash-loops but passes the smoke test).

Load, for the whole run: ``POST /process`` echo jobs at ``--rate`` requests/s, half over
keep-alive connections and half over a fresh connection each, plus one ``sleep`` job (1 s)
every 2 s so that workers are caught mid-job. Every answer is recorded: status or socket error,
latency, and the job id of each 202.

The schedule, one fault at a time with a calm gap between (a fault starts only while the
duration lasts; the one in progress is finished):

stalled clients    connections that send request headers one line per second (slowloris)
worker SIGKILL     the worker process running a sleep job is killed mid-job
redis SIGKILL      redis-server killed (supervisord restarts it; AOF keeps the data)
redis SIGSTOP      redis-server frozen for a while, then SIGCONT (a hung Redis)
gunicorn worker    one gunicorn worker process SIGKILLed
gunicorn master    the gunicorn master SIGKILLed (supervisord restarts the API)
deploy B / A       ``sreplat deploy --sha`` forth and back, under the load
crash-looping C    ``sreplat deploy --sha C``; its worker exits at start: rolled back

A fault's window runs from the injection until it is recovered: the API accepts a job again
(and, for worker faults, every worker is registered; for deploys, the deploy returned). Then
the load stops, the accepted jobs are given time to finish, and a table shows: requests sent,
non-2xx by code, socket errors, jobs accepted / finished / lost, p99 latency outside and inside
fault windows, and each fault's recovery time.

The stalled-client and hung-Redis phases exercise the apps' own defences (issue 15, defects 1
and 2, on the ``apps`` branch): before those land they show the old behaviour.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.git_repo import GitRepo  # noqa: E402
from tests.support.local_env import port_settings  # noqa: E402

SREPLAT = [sys.executable, "-c", "import sys; from sreplat.cli.main import main; sys.exit(main())"]
APPS_SRC = ROOT / "apps" / "src"
HOST = "127.0.0.1"
ENV = "chaos"
API_WORKERS = 2
WORKERS = 2
CLIENT_TIMEOUT_S = 30.0
OPENAPI = "apps/src/sreplat_apps/api/openapi.py"
TITLE = '"title": "sreplat API"'
WORKER_CLI = "apps/src/sreplat_apps/worker/cli.py"
FUTURE = "from __future__ import annotations\n"


# --- the environment ------------------------------------------------------------------------


class Platform:
    """The local environment under test, driven through the real ``sreplat`` command."""

    def __init__(self, scratch: Path):
        self.project = scratch / "project"
        self.project.mkdir()
        self.repo = GitRepo(scratch / "repo")
        self.sha_a = self.repo.commit_tree(APPS_SRC, "apps/src", "A: the apps as they are")
        source = (self.repo.path / OPENAPI).read_text()
        if TITLE not in source:
            raise SystemExit(f"{OPENAPI} changed: update bench_chaos's commit B")
        self.sha_b = self.repo.commit({OPENAPI: source.replace(TITLE, '"title": "sreplat API (B)"')}, "B")
        worker_cli = (self.repo.path / WORKER_CLI).read_text()
        if FUTURE not in worker_cli:
            raise SystemExit(f"{WORKER_CLI} changed: update bench_chaos's commit C")
        crash = FUTURE + 'raise SystemExit("chaos: this release\'s worker exits at import")\n'
        self.sha_c = self.repo.commit(
            {WORKER_CLI: worker_cli.replace(FUTURE, crash, 1)}, "C: the worker exits at start"
        )
        self.repo.git("checkout", "-q", self.sha_a)
        self.ports = port_settings(workers=WORKERS)
        lines = [
            f"[environments.{ENV}]",
            'target = "local"',
            f'repo = "{self.repo.path}"',
            f"workers = {WORKERS}",
            f"api_workers = {API_WORKERS}",
            *(f"{key} = {value}" for key, value in self.ports.items()),
        ]
        (self.project / "sreplat.toml").write_text("\n".join(lines) + "\n")
        self.environ = {**os.environ, "SREPLAT_STATE_ROOT": str(scratch / "state"), "NO_COLOR": "1"}
        self.api_port = self.ports["api_port"]
        self.redis_url = f"redis://{HOST}:{self.ports['redis_port']}/0"

    def sreplat(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        argv = [*SREPLAT, "--config", str(self.project / "sreplat.toml"), "--env", ENV, *args]
        return subprocess.run(
            argv,
            cwd=self.project,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pid(self, program: str) -> int:
        """The pid supervisord reports for ``program`` (``sreplat status``)."""
        run = self.sreplat("status", "-o", "json", timeout=120)
        for line in run.stdout.splitlines():
            event = json.loads(line)
            if event.get("event") == "check" and event.get("check") == f"process {program}":
                pid = int(event["data"]["pid"])
                if pid:
                    return pid
        raise RuntimeError(f"no pid for {program}: {run.stdout[-2000:]} {run.stderr[-2000:]}")


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


# --- load -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic time the request started
    latency_s: float
    status: int  # 0: a socket error
    error: str
    kind: str  # keep-alive | fresh | sleep


@dataclass
class Record:
    samples: list[Sample] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample, job_id: str | None) -> None:
        with self.lock:
            self.samples.append(sample)
            if job_id:
                self.accepted.append(job_id)


def post(connection: http.client.HTTPConnection, body: bytes, *, close: bool) -> tuple[int, bytes, bool]:
    headers = {"Content-Type": "application/json"}
    if close:
        headers["Connection"] = "close"
    connection.request("POST", "/process", body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    return response.status, data, response.will_close


class Load:
    """Paced clients on threads; every answer goes to ``record``."""

    def __init__(self, port: int, rate: float, record: Record):
        self.port, self.record = port, record
        self.stop = threading.Event()
        per_kind = max(2, round(rate / 25))  # ~25 requests/s per thread
        interval = 2 * per_kind / rate
        self.threads = [
            *(threading.Thread(target=self._loop, args=("keep-alive", interval)) for _ in range(per_kind)),
            *(threading.Thread(target=self._loop, args=("fresh", interval)) for _ in range(per_kind)),
            threading.Thread(target=self._loop, args=("sleep", 2.0)),
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=CLIENT_TIMEOUT_S + 10)

    def _loop(self, kind: str, interval: float) -> None:
        connection: http.client.HTTPConnection | None = None
        n = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                next_at = time.monotonic()  # behind (a slow answer): no catch-up burst
            n += 1
            task = {"task": "sleep", "payload": {"ms": 1000}} if kind == "sleep" else None
            body = json.dumps(task or {"task": "echo", "payload": {"n": n, "kind": kind}}).encode()
            started = time.monotonic()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(HOST, self.port, timeout=CLIENT_TIMEOUT_S)
                status, data, will_close = post(connection, body, close=kind != "keep-alive")
            except (OSError, http.client.HTTPException) as exc:
                self.record.add(
                    Sample(started, time.monotonic() - started, 0, type(exc).__name__, kind), None
                )
                if connection is not None:
                    connection.close()
                connection = None
                continue
            latency = time.monotonic() - started
            if will_close or kind != "keep-alive":
                connection.close()
                connection = None
            job_id = None
            if status == 202:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    job_id = str(json.loads(data)["job_id"])
            self.record.add(Sample(started, latency, status, "", kind), job_id)
        if connection is not None:
            connection.close()


@contextlib.contextmanager
def stalled_clients(port: int, count: int) -> Iterator[None]:
    """``count`` connections that send a request's headers one line per second, never ending."""
    stop = threading.Event()

    def trickle() -> None:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=5) as sock:
            sock.sendall(b"POST /process HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
            n = 0
            while not stop.wait(1.0):
                n += 1
                sock.sendall(f"X-Stall-{n}: 1\r\n".encode())

    threads = [threading.Thread(target=trickle) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


# --- recovery probes --------------------------------------------------------------------------


def accepts_a_job(port: int) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        status, _, _ = post(connection, b'{"task": "echo", "payload": {"probe": true}}', close=True)
        return status == 202
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def registered_workers(redis_url: str) -> int:
    from redis import Redis
    from rq import Worker

    try:
        with Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2) as redis:
            return sum(1 for w in Worker.all(connection=redis) if w.pid and _alive(w.pid))
    except Exception:
        return 0


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def until(probe: Callable[[], bool], timeout_s: float = 300) -> float | None:
    """Seconds until ``probe`` is true (polled every 0.1 s; raising counts as false); None if it
    never was."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if probe():
                return time.monotonic() - started
        except Exception:  # noqa: S110 - a probe during a fault: Redis or the API may be down
            pass
        time.sleep(0.1)
    return None


# --- faults -----------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    started: float
    ended: float
    recovery_s: float | None
    note: str = ""


class Chaos:
    def __init__(self, platform: Platform, record: Record, *, stall_s: float, stop_s: float):
        self.platform, self.record = platform, record
        self.stall_s, self.stop_s = stall_s, stop_s
        self.t0 = time.monotonic()
        self.watchers: list[threading.Thread] = []

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", flush=True)

    def healthy(self) -> bool:
        p = self.platform
        return accepts_a_job(p.api_port) and registered_workers(p.redis_url) >= WORKERS

    def _recovered(self, name: str, started: float, note: str = "", since: float | None = None) -> Fault:
        waited = until(self.healthy)
        ended = time.monotonic()
        recovery = None if waited is None else ended - (since or started)
        shown = "never" if recovery is None else f"{recovery:.1f}s"
        self.say(f"{name}: recovered in {shown}{f' ({note})' if note else ''}")
        return Fault(name, started, ended, recovery, note)

    def stalled_clients(self) -> Fault:
        count = 4 * API_WORKERS * 2  # twice the API's threads (4 per gunicorn worker)
        started = time.monotonic()
        with stalled_clients(self.platform.api_port, count):
            time.sleep(self.stall_s)
        released = time.monotonic()
        note = f"{count} for {self.stall_s:.0f}s; recovery after they went"
        return self._recovered("stalled clients", started, note, released)

    def worker_mid_job(self) -> Fault:
        from redis import Redis
        from rq import Worker

        victim, job = 0, ""
        deadline = time.monotonic() + 30
        with Redis.from_url(self.platform.redis_url, socket_timeout=2) as redis:
            seen: dict[int, str] = {}
            while not victim and time.monotonic() < deadline:
                for worker in Worker.all(connection=redis):
                    current = worker.get_current_job_id() or ""
                    if current and seen.get(worker.pid) == current:  # busy on it for 100 ms or more
                        victim, job = worker.pid, current
                        break
                    seen[worker.pid] = current
                time.sleep(0.1)
        if not victim:
            return Fault("worker SIGKILL mid-job", time.monotonic(), time.monotonic(), None, "no busy worker")
        started = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        fault = self._recovered("worker SIGKILL mid-job", started, f"pid {victim}")
        watcher = threading.Thread(target=self._watch_job, args=(fault, job), daemon=True)
        watcher.start()
        self.watchers.append(watcher)
        return fault

    def _watch_job(self, fault: Fault, job: str) -> None:
        """The killed job is abandoned, then retried: note how long until it finished."""
        done = until(lambda: job_states(self.platform.redis_url, [job])["finished"] == 1, 300)
        shown = "never" if done is None else f"{time.monotonic() - fault.started:.0f}s"
        fault.note += f"; its job finished after {shown}"

    def redis_kill(self) -> Fault:
        pid = self.platform.pid("redis")
        started = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        return self._recovered("redis SIGKILL", started, f"pid {pid}")

    def redis_stop(self) -> Fault:
        pid = self.platform.pid("redis")
        started = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(self.stop_s)
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        return self._recovered(
            "redis SIGSTOP", started, f"{self.stop_s:.0f}s; recovery after SIGCONT", resumed
        )

    def gunicorn_worker(self) -> Fault:
        master = self.platform.pid("api")
        workers = children(master)
        if not workers:
            return Fault("gunicorn worker SIGKILL", time.monotonic(), time.monotonic(), None, "no workers")
        started = time.monotonic()
        os.kill(workers[0], signal.SIGKILL)
        back = until(lambda: len([c for c in children(master) if c != workers[0]]) >= API_WORKERS, 60)
        note = "replaced" if back is not None else "NOT replaced"
        return self._recovered("gunicorn worker SIGKILL", started, f"{note} in {back or 0:.1f}s")

    def gunicorn_master(self) -> Fault:
        pid = self.platform.pid("api")
        family = [pid, *children(pid)]
        started = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        # Orphaned workers serve on the inherited socket until they notice: recovered means a new
        # master (supervisord restarts the program) serves, and none of the old family is left.
        gone = until(lambda: not any(_alive(p) for p in family), 120)
        note = f"old workers gone after {gone:.1f}s" if gone is not None else "old workers still alive"
        return self._recovered("gunicorn master SIGKILL", started, note)

    def deploy(self, name: str, sha: str) -> Fault:
        started = time.monotonic()
        run = self.platform.sreplat("deploy", "--sha", sha)
        ended = time.monotonic()
        last = (run.stderr.strip().splitlines() or [""])[-1]
        note = f"exit {run.returncode}" + (f": {last[:90]}" if run.returncode else "")
        self.say(f"{name}: {ended - started:.1f}s, {note}")
        fault = Fault(name, started, ended, ended - started, note)
        waited = until(self.healthy)
        if waited is not None and waited > 0.5:
            fault.note += f"; healthy {waited:.1f}s after"
        fault.ended = time.monotonic()
        return fault


# --- the report -------------------------------------------------------------------------------


def p99(values: list[float]) -> str:
    if len(values) < 2:
        return "-" if not values else f"{values[0] * 1000:.0f} ms"
    return f"{statistics.quantiles(values, n=100)[98] * 1000:.0f} ms"


def job_states(redis_url: str, ids: list[str]) -> Counter[str]:
    from redis import Redis

    states: Counter[str] = Counter()
    with Redis.from_url(redis_url, socket_timeout=10) as redis:
        for offset in range(0, len(ids), 1000):
            pipe = redis.pipeline(transaction=False)
            for job_id in ids[offset : offset + 1000]:
                pipe.hget(f"rq:job:{job_id}", "status")
            for status in pipe.execute():
                states[status.decode() if status else "missing"] += 1
    return states


def drain(redis_url: str, ids: list[str], timeout_s: float) -> tuple[Counter[str], float]:
    """Wait until every accepted job finished (or ``timeout_s``); their final states."""
    started = time.monotonic()
    while True:
        states = job_states(redis_url, ids)
        if states["finished"] == len(ids) or time.monotonic() - started > timeout_s:
            return states, time.monotonic() - started
        time.sleep(2)


def report(record: Record, faults: list[Fault], states: Counter[str], drained_s: float) -> int:
    samples = record.samples
    windows = [(f.started, f.ended) for f in faults]

    def inside(sample: Sample) -> bool:
        return any(a <= sample.at <= b for a, b in windows)

    codes = Counter(s.status for s in samples if s.status and not 200 <= s.status < 300)
    errors = Counter(f"{s.error} ({s.kind})" for s in samples if not s.status)
    ok_out = [s.latency_s for s in samples if s.status and not inside(s)]
    ok_in = [s.latency_s for s in samples if s.status and inside(s)]
    accepted = len(record.accepted)
    finished = states["finished"]
    lost = accepted - finished
    print("\n== chaos benchmark ==")
    rows = [
        ("requests sent", f"{len(samples)}"),
        ("2xx", f"{sum(1 for s in samples if 200 <= s.status < 300)}"),
        ("non-2xx by code", ", ".join(f"{c}: {n}" for c, n in sorted(codes.items())) or "none"),
        ("socket errors", ", ".join(f"{e}: {n}" for e, n in errors.most_common()) or "none"),
        ("jobs accepted", f"{accepted}"),
        ("jobs finished", f"{finished} (drained {drained_s:.0f}s after the load stopped)"),
        ("jobs lost", f"{lost}" + (f"  {dict(states)}" if lost else "")),
        ("p99 outside faults", f"{p99(ok_out)} ({len(ok_out)} answers)"),
        ("p99 inside faults", f"{p99(ok_in)} ({len(ok_in)} answers)"),
    ]
    for name, value in rows:
        print(f"  {name:<20} {value}")
    print("\n  fault                     window   reqs  non-2xx  sock-err   p99 in    recovery  note")
    for fault in faults:
        inside_f = [s for s in samples if fault.started <= s.at <= fault.ended]
        bad = sum(1 for s in inside_f if s.status and not 200 <= s.status < 300)
        sock = sum(1 for s in inside_f if not s.status)
        lat = [s.latency_s for s in inside_f if s.status]
        recovery = "never" if fault.recovery_s is None else f"{fault.recovery_s:.1f}s"
        print(
            f"  {fault.name:<24} {fault.ended - fault.started:6.1f}s {len(inside_f):6d} {bad:8d} "
            f"{sock:9d} {p99(lat):>9} {recovery:>9}  {fault.note}"
        )
    return lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=300, help="seconds of load and faults (default 300)"
    )
    parser.add_argument("--rate", type=float, default=100, help="POST /process per second (default 100)")
    parser.add_argument("--drain", type=float, default=180, help="seconds for accepted jobs to finish")
    args = parser.parse_args()
    gap = max(3.0, min(10.0, args.duration / 30))

    print(f"sreplat chaos benchmark: {args.duration:.0f}s at {args.rate:.0f} req/s, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="sreplat-chaos-") as scratch:
        platform = Platform(Path(scratch))
        boot = platform.sreplat("bootstrap")
        if boot.returncode != 0:
            raise SystemExit(f"bootstrap failed ({boot.returncode}): {boot.stderr[-3000:]}")
        record = Record()
        chaos = Chaos(platform, record, stall_s=min(15.0, gap * 1.5), stop_s=min(10.0, gap))
        schedule: list[tuple[str, Callable[[], Fault]]] = [
            ("stalled clients", chaos.stalled_clients),
            ("worker SIGKILL mid-job", chaos.worker_mid_job),
            ("redis SIGKILL", chaos.redis_kill),
            ("redis SIGSTOP", chaos.redis_stop),
            ("gunicorn worker SIGKILL", chaos.gunicorn_worker),
            ("gunicorn master SIGKILL", chaos.gunicorn_master),
            ("deploy B", lambda: chaos.deploy("deploy B", platform.sha_b)),
            ("deploy A (back)", lambda: chaos.deploy("deploy A (back)", platform.sha_a)),
            ("crash-looping C", lambda: chaos.deploy("crash-looping C", platform.sha_c)),
        ]
        faults: list[Fault] = []
        try:
            with Load(platform.api_port, args.rate, record):
                time.sleep(gap + 5)
                end = chaos.t0 + args.duration
                for name, inject in schedule:
                    if time.monotonic() >= end:
                        chaos.say(f"{name}: not run (out of time)")
                        continue
                    chaos.say(f"{name} ...")
                    faults.append(inject())
                    time.sleep(gap)
                while time.monotonic() < end:
                    time.sleep(0.5)
            chaos.say(f"load stopped; waiting up to {args.drain:.0f}s for {len(record.accepted)} jobs")
            states, drained = drain(platform.redis_url, record.accepted, args.drain)
            for watcher in chaos.watchers:
                watcher.join(timeout=300)
            lost = report(record, faults, states, drained)
        finally:
            platform.sreplat("destroy", "--yes")
    if lost:
        raise SystemExit(f"{lost} accepted job(s) never finished")


if __name__ == "__main__":
    main()
