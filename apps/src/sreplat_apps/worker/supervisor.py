"""``sreplat-worker``'s main process: N worker processes, the scheduler, and ``/metrics``.

- Worker processes are forked children (``runner.run_worker``). One that dies unexpectedly is
  replaced (with a growing delay if it keeps dying, e.g. while Redis is down); its running job is
  recovered by the abandoned-job maintenance of the others.
- The scheduler (retries with backoff wait in RQ's ScheduledJobRegistry) runs here, in the main
  loop: not in a forked helper that a SIGKILL would orphan. A Redis lock with a short TTL makes
  one supervisor per queue do it and lets another take over within seconds if that one dies.
- Metrics: children write multiprocess files; this process serves the aggregate on
  ``--metrics-port`` (0: no server) and drops the live gauges of children that exit.
- SIGTERM/SIGINT: forwarded to every child (warm shutdown: running jobs finish); exit 0 once all
  children exited cleanly. A second signal is forwarded too (RQ then stops at once).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

from sreplat_apps.settings import Settings
from sreplat_apps.worker.runner import run_worker

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from redis import Redis
    from rq.scheduler import RQScheduler

log = logging.getLogger("sreplat_apps.worker.supervisor")

_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_RESPAWN_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
_STABLE_AFTER_SECONDS = 30.0


class SupervisorError(RuntimeError):
    """The supervisor cannot start (e.g. the metrics port is taken)."""


@dataclass
class _Child:
    pid: int
    started: float


@dataclass
class Supervisor:
    settings: Settings
    processes: int = 1
    burst: bool = False
    metrics_port: int = 0
    metrics_host: str = "0.0.0.0"  # noqa: S104  (scraped from other pods; `--metrics-host`)
    _children: dict[int, _Child] = field(default_factory=dict)
    _stopping: int = 0  # signals received
    _forwarded: int = 0
    _wakeup: tuple[int, int] | None = None  # self-pipe: signals wake the main loop's select
    _failures: int = 0
    _next_spawn_at: float = 0.0
    _exit_code: int = 0
    _metrics_server: WSGIServer | None = None

    def run(self, *, early_signals: Callable[[], int] = lambda: 0) -> int:
        """Supervise until stopped. ``early_signals`` counts SIGTERM/SIGINT received before this
        (read once our handlers are in place, so none falls between the two)."""
        # Handlers only count; the C-level handler also writes to the wakeup pipe, which ends
        # the main loop's select at once. (Taking a lock in a handler can deadlock the loop.)
        self._wakeup = os.pipe()
        for fd in self._wakeup:
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self._wakeup[1])
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)  # reap promptly: wakes select
        self._stopping += early_signals()
        scheduler = _Scheduler(self.settings)
        try:
            if self._stopping:  # told to stop while starting: nothing to wait for
                log.info("worker supervisor stopped before starting workers")
                return 0
            from sreplat_apps.telemetry import metrics

            metrics.BUILD_INFO.labels(self.settings.release, "worker").set(1)
            self._start_metrics_server()
            log.info(
                "worker supervisor started",
                extra={"processes": self.processes, "burst": self.burst, "queue": self.settings.queue},
            )
            scheduler.tick()  # due retries go back on the queue before any worker looks
            for _ in range(self.processes):
                self._spawn()
            while True:
                self._forward_stop()
                self._reap()
                if self.burst or self._stopping:
                    if not self._children:
                        break
                else:
                    self._replace_missing()
                    scheduler.tick()
                self._sleep(0.2 if self._stopping else self.settings.scheduler_seconds)
        finally:
            scheduler.close()
            if self._metrics_server is not None:
                self._metrics_server.shutdown()
                self._metrics_server.server_close()
            signal.set_wakeup_fd(-1)
            for fd in self._wakeup or ():
                os.close(fd)
            self._wakeup = None
        log.info("worker supervisor stopped", extra={"exit_code": self._exit_code})
        return self._exit_code

    # --- children -----------------------------------------------------------------------------
    def _spawn(self) -> None:
        # Stop signals stay blocked across the fork: one meant for the child waits (pending) until
        # its RQ loop runs, instead of reaching the handler it inherits from us and being lost.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        pid = os.fork()
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if pid == 0:  # pragma: no cover - runs in the child, which always leaves via os._exit
            code = 1
            try:
                self._become_child()
                code = run_worker(self.settings, burst=self.burst)
            except BaseException:
                log.exception("worker process crashed")
            finally:
                logging.shutdown()
                os._exit(code)
        self._children[pid] = _Child(pid=pid, started=time.monotonic())

    def _become_child(self) -> None:
        # Stop signals are still blocked (see _spawn) until SreplatWorker's loop unblocks them.
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        if self._wakeup is not None:
            for fd in self._wakeup:
                os.close(fd)
        if self._metrics_server is not None:
            self._metrics_server.socket.close()  # the parent serves metrics, not us
        # If the supervisor is killed outright, its workers get a warm shutdown, not orphaned.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    def _reap(self) -> None:
        from prometheus_client import multiprocess

        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self._children.clear()
                return
            if pid == 0:
                return
            child = self._children.pop(pid, None)
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
            code = os.waitstatus_to_exitcode(status)
            expected = code == 0 and (self.burst or self._stopping > 0)
            if not expected:
                self._exit_code = 1 if self._stopping or self.burst else self._exit_code
                lived = time.monotonic() - child.started if child else 0.0
                self._failures = 0 if lived > _STABLE_AFTER_SECONDS else self._failures + 1
                delay = (
                    _RESPAWN_DELAYS[min(self._failures, len(_RESPAWN_DELAYS)) - 1] if self._failures else 0.0
                )
                self._next_spawn_at = time.monotonic() + delay
                log.warning(
                    "worker process exited", extra={"pid": pid, "exit_code": code, "respawn_in_s": delay}
                )

    def _replace_missing(self) -> None:
        if len(self._children) < self.processes and time.monotonic() >= self._next_spawn_at:
            for _ in range(self.processes - len(self._children)):
                self._spawn()

    # --- stopping ------------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping += 1

    def _sleep(self, seconds: float) -> None:
        """Until ``seconds`` pass or a signal arrives (stop request, child exit)."""
        if self._wakeup is None:
            time.sleep(seconds)
            return
        readable, _, _ = select.select([self._wakeup[0]], [], [], seconds)
        if readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wakeup[0], 512):
                    pass

    def _forward_stop(self) -> None:
        while self._forwarded < self._stopping:
            self._forwarded += 1
            log.info(
                "stopping workers", extra={"signal_count": self._forwarded, "processes": len(self._children)}
            )
            for pid in list(self._children):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    # --- metrics -------------------------------------------------------------------------------
    def _start_metrics_server(self) -> None:
        if not self.metrics_port:
            return
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        try:
            self._metrics_server, _thread = start_http_server(self.metrics_port, self.metrics_host, registry)
        except OSError as exc:
            raise SupervisorError(
                f"cannot serve metrics on port {self.metrics_port}: {exc.strerror}"
            ) from exc


class _Scheduler:
    """Moves due scheduled jobs (retries waiting out their backoff) back onto the queue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock_ttl = max(5, 3 * settings.scheduler_seconds)
        self._connection: Redis | None = None
        self._scheduler: RQScheduler | None = None
        self._warned = False

    def _ready(self) -> RQScheduler:
        if self._scheduler is None:
            from rq.scheduler import RQScheduler
            from rq.serializers import JSONSerializer

            from sreplat_apps.jobs import connect
            from sreplat_apps.worker.runner import worker_name

            # A tick that times out is simply tried again a second later: no retries of its own,
            # so a hung Redis holds this loop (signals, reaping) for one timeout at a time.
            self._connection = connect(self.settings, client_name="sreplat-scheduler", retry_timeouts=False)
            self._scheduler = RQScheduler(
                [self.settings.queue],
                connection=self._connection,
                interval=self.settings.scheduler_seconds,
                serializer=JSONSerializer,
                name=worker_name(),
            )
            self._scheduler.prepare_registries([self.settings.queue])
        return self._scheduler

    def tick(self) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
        from rq.scripts import acquire_or_refresh_lock

        try:
            scheduler = self._ready()
            outcome = acquire_or_refresh_lock(
                scheduler.connection,
                scheduler.get_locking_key(self.settings.queue),
                scheduler.name,
                self.lock_ttl,
            )
            if outcome in ("acquired", "refreshed"):
                scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
            self._warned = False
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if not self._warned:  # once per outage, not once per tick
                log.warning("scheduler cannot reach redis: %s", exc)
                self._warned = True

    def close(self) -> None:
        from redis.exceptions import RedisError
        from rq.scripts import release_lock

        if self._scheduler is None:
            return
        with contextlib.suppress(RedisError):
            release_lock(
                self._scheduler.connection,
                self._scheduler.get_locking_key(self.settings.queue),
                self._scheduler.name,
            )
