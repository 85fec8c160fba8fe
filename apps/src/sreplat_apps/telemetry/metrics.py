"""The Prometheus metrics of docs/contracts.md.

prometheus_client decides when first imported whether values live in per-process files
(``PROMETHEUS_MULTIPROC_DIR`` set, as ``boot.paths.activate_metrics_dir`` does for every
gunicorn and RQ worker process) or in memory (one process: tests, ``flask run``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_JOB_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0)

HTTP_REQUESTS = Counter("sreplat_http_requests", "HTTP requests served.", ["route", "method", "status"])
HTTP_DURATION = Histogram(
    "sreplat_http_request_duration_seconds",
    "Time to serve an HTTP request.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
JOBS_ENQUEUED = Counter("sreplat_jobs_enqueued", "Jobs enqueued by the API.", ["task"])
JOBS_PROCESSED = Counter(
    "sreplat_jobs_processed", "Job executions by outcome (finished/failed).", ["task", "outcome"]
)
JOBS_FAILED = Counter("sreplat_jobs_failed", "Jobs that failed for good (retries exhausted).", ["task"])
JOB_DURATION = Histogram("sreplat_job_duration_seconds", "Time to run a job.", ["task"], buckets=_JOB_BUCKETS)
# Time a job waited in the queue (enqueue, or re-enqueue of a retry, to a worker starting it): the
# job-freshness SLI (slo/job-freshness.yaml) counts the jobs under a threshold, which must be one of
# these bounds.
QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
JOB_QUEUE_WAIT = Histogram(
    "sreplat_job_queue_wait_seconds",
    "Time from a job's enqueue to a worker starting it.",
    ["task"],
    buckets=QUEUE_WAIT_BUCKETS,
)
JOBS_IN_PROGRESS = Gauge(
    "sreplat_jobs_in_progress", "Jobs running now.", ["task"], multiprocess_mode="livesum"
)
BUILD_INFO = Gauge(
    "sreplat_build_info",
    "Always 1; labels say what runs.",
    ["release", "service"],
    multiprocess_mode="livemax",
)


class QueueDepthCollector(Collector):
    """``sreplat_queue_depth``, read from Redis at scrape time; absent while Redis is unreachable."""

    def __init__(self, queue: str, depth: Callable[[], int]) -> None:
        self.queue = queue
        self.depth = depth

    def collect(self) -> Iterable[Metric]:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        family = GaugeMetricFamily("sreplat_queue_depth", "Jobs waiting in the queue.", labels=["queue"])
        try:
            family.add_metric([self.queue], self.depth())
        except (RedisConnectionError, RedisTimeoutError):
            return []
        return [family]


def multiprocess_mode() -> bool:
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """All values (every process's, live and dead, in multiprocess mode) plus ``extra``."""
    registry = CollectorRegistry()
    for collector in extra:
        registry.register(collector)
    if not multiprocess_mode():
        return generate_latest(REGISTRY) + generate_latest(registry)
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
