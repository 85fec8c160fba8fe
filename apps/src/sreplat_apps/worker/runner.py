"""One worker process: connect, build the tracer, run the RQ work loop until told to stop."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence

from opentelemetry.sdk.trace.export import SpanExporter

from sreplat_apps.settings import Settings


def worker_name() -> str:
    # Host and pid say where a job ran; the suffix keeps a restarted pod (same hostname, same
    # pid 7) from colliding with the previous worker's record, which RQ would refuse.
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def run_worker(
    settings: Settings,
    *,
    burst: bool,
    span_exporters: Sequence[SpanExporter] = (),
) -> int:
    """Work the queue; return 0 after a requested stop or a drained burst, 1 otherwise."""
    from rq.serializers import JSONSerializer

    from sreplat_apps.jobs import connect
    from sreplat_apps.telemetry import logs, tracing
    from sreplat_apps.worker.worker import SreplatWorker

    connection = connect(settings, client_name="sreplat-worker", retries=3)
    provider = tracing.build_provider(
        "worker", settings.release, config=settings.tracing, extra_exporters=span_exporters
    )
    worker = SreplatWorker(
        [settings.queue],
        name=worker_name(),
        connection=connection,
        serializer=JSONSerializer,
        default_result_ttl=settings.result_ttl,
        # Idle workers block on Redis for (worker_ttl - 15) s between maintenance checks, so this
        # bounds how long an abandoned job can wait for an idle worker to notice it.
        worker_ttl=settings.maintenance_seconds + 15,
        maintenance_interval=settings.maintenance_seconds,
        job_monitoring_interval=settings.heartbeat_seconds,
        log_job_description=False,
        tracer=provider.get_tracer(tracing.INSTRUMENTATION),
        abandon_grace_seconds=settings.abandon_grace_seconds,
    )
    try:
        worker.work(burst=burst, with_scheduler=False, logging_level=logs.rq_level(settings.log_level))
    finally:
        provider.shutdown()  # flush spans still batched for export
    return 0 if burst or worker.shutdown_requested else 1
