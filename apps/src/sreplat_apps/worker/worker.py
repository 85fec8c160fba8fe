"""The RQ worker class: jobs run in the worker process itself (no fork per job).

RQ's default ``Worker`` forks a work horse for every job, which costs more than an ``echo``
job itself. ``SimpleWorker`` runs the job in-process; what the fork gave is kept:

- Job timeouts: RQ's SIGALRM death penalty works in the main thread, where the job runs.
- Liveness: a heartbeat thread refreshes the running job's entry in the StartedJobRegistry
  every ``heartbeat_seconds``. If the process dies (SIGKILL, OOM) the entry expires
  ``abandon_grace_seconds`` later, and RQ's registry maintenance (every
  ``maintenance_seconds``, on any worker) retries the job per its ``Retry``.
- Warm shutdown: SIGTERM lets the running job finish, then the worker exits.

Each job runs inside a CONSUMER span that continues the trace of the request that enqueued it
(``job.meta["trace"]``), and updates the worker metrics.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from rq.job import JobStatus
from rq.utils import now
from rq.worker import SimpleWorker, WorkerStatus

from sreplat_apps.telemetry import metrics, tracing

if TYPE_CHECKING:
    from redis.client import Pipeline
    from rq.executions import Execution
    from rq.job import Job
    from rq.queue import Queue

log = logging.getLogger("sreplat_apps.worker.job")

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class SreplatWorker(SimpleWorker):
    def __init__(
        self,
        *args: Any,
        tracer: trace.Tracer,
        abandon_grace_seconds: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.tracer = tracer
        self.abandon_grace_seconds = abandon_grace_seconds
        self.shutdown_requested = False
        self._long_beat_at: float | None = None
        self._heartbeat = _JobHeartbeat(self)

    # --- fewer Redis round trips per job -------------------------------------------------------
    # RQ's loop sends the same worker heartbeat (3 commands, one round trip each) three times
    # per job, rewrites an unchanged state and stamps the job hash just before saving it whole.
    # That is ~20 round trips per job; these overrides make it ~11. The worker record is then
    # refreshed at most once a second, against a TTL of worker_ttl + 60 s.
    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        if pipeline is not None:  # part of RQ's job bookkeeping, with a job-sized TTL
            self._long_beat_at = None
            super().heartbeat(timeout, pipeline=pipeline)
            return
        now_ = time.monotonic()
        if timeout is None and self._long_beat_at is not None and now_ - self._long_beat_at < 1.0:
            return  # a full-TTL (worker_ttl + 60 s) beat went out less than a second ago
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipeline=pipe)
            pipe.execute()
        self._long_beat_at = now_ if timeout is None else None

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline=pipeline)

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        if job.success_callback is not None or job.failure_callback is not None:
            super().handle_execution_ended(job, queue, heartbeat_ttl)
            return
        # No callback will run: the job hash is saved whole right after, last_heartbeat included.
        job.ended_at = job.last_heartbeat = now()

    # --- liveness ---------------------------------------------------------------------------
    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # RQ adds a fixed 60 s of grace; ours is configurable so abandoned jobs are found fast.
        interval = float(self.job_monitoring_interval)
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - working_time, interval)
        return max(1, int(interval)) + self.abandon_grace_seconds

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        self._heartbeat.watch(job, execution)
        try:
            self.perform_job(job, queue, execution)
        finally:
            self._heartbeat.clear()
        self.set_state(WorkerStatus.IDLE)

    # --- stopping ---------------------------------------------------------------------------
    # RQ stops an idle worker by raising StopRequested from the signal handler, wherever the
    # main thread happens to be. The supervisor's child blocks SIGTERM/SIGINT until the work loop
    # runs (so an early signal is neither lost nor fatal), and maintenance defers them (so a stop
    # never leaves RQ's 15-minute maintenance lock behind).
    def request_stop(self, signum: int, frame: object) -> None:
        self.shutdown_requested = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def check_for_suspension(self, burst: bool) -> None:
        # First thing inside RQ's work loop: from here a StopRequested ends the loop cleanly.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        super().check_for_suspension(burst)

    def clean_registries(self) -> None:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            super().clean_registries()  # type: ignore[no-untyped-call]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def teardown(self) -> None:
        self._heartbeat.stop()
        super().teardown()  # type: ignore[no-untyped-call]

    # --- one job: span, metrics, log line -----------------------------------------------------
    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        task = str(job.meta.get("task") or job.func_name)
        if job.enqueued_at is not None:
            # Both UTC (aware or naive, by RQ version); the API's and worker's clocks may differ a little.
            waited = (now().replace(tzinfo=None) - job.enqueued_at.replace(tzinfo=None)).total_seconds()
            metrics.JOB_QUEUE_WAIT.labels(task).observe(max(0.0, waited))
        parent = tracing.extract(job.meta.get("trace"))
        attributes = {
            "messaging.system": "rq",
            "messaging.operation.type": "process",
            "messaging.destination.name": queue.name,
            "messaging.message.id": job.id,
            "sreplat.task": task,
        }
        with self.tracer.start_as_current_span(
            f"job {task}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        ) as span:
            in_progress = metrics.JOBS_IN_PROGRESS.labels(task)
            in_progress.inc()
            started = time.perf_counter()
            try:
                ok: bool = super().perform_job(job, queue, execution)
            finally:
                in_progress.dec()
            elapsed = time.perf_counter() - started
            status = job.get_status(refresh=False)
            outcome = "finished" if ok else "failed"
            metrics.JOBS_PROCESSED.labels(task, outcome).inc()
            metrics.JOB_DURATION.labels(task).observe(elapsed)
            if status == JobStatus.FAILED:
                metrics.JOBS_FAILED.labels(task).inc()
            if not ok:
                span.set_status(Status(StatusCode.ERROR))
            span.set_attribute("sreplat.job.status", str(getattr(status, "value", status)))
            log.log(
                logging.INFO if ok else logging.WARNING,
                f"job {outcome}",
                extra={
                    "job_id": job.id,
                    "task": task,
                    "outcome": outcome,
                    "job_status": getattr(status, "value", status),
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
        return ok


class _JobHeartbeat:
    """One thread per worker process that keeps the running job's registry entry fresh."""

    def __init__(self, worker: SreplatWorker) -> None:
        self.worker = worker
        self._lock = threading.Lock()
        self._current: tuple[Job, Execution] | None = None
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def watch(self, job: Job, execution: Execution) -> None:
        with self._lock:
            self._current = (job, execution)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)
                self._thread.start()

    def clear(self) -> None:
        with self._lock:
            self._current = None

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def _run(self) -> None:
        interval = float(self.worker.job_monitoring_interval)
        while not self._wake.wait(interval) and not self._stopped:
            with self._lock:
                current = self._current
                if current is None:
                    continue
                try:
                    self.worker.maintain_heartbeats(*current)
                except Exception:  # a missed beat is retried next interval; never kill the thread
                    log.warning("job heartbeat failed", exc_info=True)
