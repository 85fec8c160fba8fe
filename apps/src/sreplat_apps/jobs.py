"""The job contract shared by the API and the worker: Redis connections, enqueue, job lookup.

Jobs are RQ jobs serialised as JSON (never pickle) with an explicit ``job_timeout``,
``result_ttl``, ``failure_ttl`` and a ``Retry`` with backoff. ``job.meta`` carries the task name,
the W3C trace context of the request that enqueued it, and (for idempotent requests) a
fingerprint of the request body.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sreplat_apps.contract import TASKS, JobStatus, JobView, TaskRequest, TaskSpec
from sreplat_apps.settings import Settings

if TYPE_CHECKING:
    from redis import Redis
    from redis.typing import EncodableT
    from rq import Queue
    from rq.job import Job

# RQ statuses folded into the four the contract exposes.
_STATUS: dict[str, JobStatus] = {
    "queued": "queued",
    "deferred": "queued",
    "scheduled": "queued",  # waiting for a retry
    "rate_limited": "queued",
    "started": "started",
    "finished": "finished",
    "failed": "failed",
    "stopped": "failed",
    "canceled": "failed",
}


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used for a different request body."""


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    created: bool  # False: an earlier request with the same Idempotency-Key made this job


def connect(settings: Settings, *, client_name: str, retries: int = 1, retry_timeouts: bool = True) -> Redis:
    """A Redis client with short timeouts: a dead Redis must give a 503 quickly, not a hang.

    ``retries=1`` lets a pooled connection that Redis closed (restart) be replaced transparently.
    ``retry_timeouts=False`` (the API): a timeout is not retried, so a call that hangs costs one
    ``redis_timeout_seconds``, not one per attempt; a refused or reset connection still is.
    """
    from redis import Redis
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from redis.retry import Retry

    errors: tuple[type[Exception], ...] = (RedisConnectionError,)
    if retry_timeouts:
        errors += (RedisTimeoutError, TimeoutError)
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries, supported_errors=errors),
        health_check_interval=30,
        client_name=client_name,
    )


def make_queue(settings: Settings, connection: Redis) -> Queue:
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(settings.queue, connection=connection, serializer=JSONSerializer)


def idempotent_job_id(key: str) -> str:
    # Derived, not stored: one atomic "create unless it exists" in Redis (RQ's unique enqueue).
    return hashlib.sha256(b"sreplat-idempotency:" + key.encode()).hexdigest()[:32]


def request_fingerprint(request: TaskRequest) -> str:
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()


class _PinnedConnection(threading.local):
    connection: Any = None  # a redis-py Connection (its methods carry no type hints)


class JobStore:
    """Every Redis call of the API, each behind the process's circuit breaker (``circuit``)."""

    def __init__(self, settings: Settings, connection: Redis) -> None:
        from sreplat_apps.circuit import RedisCircuit

        self.settings = settings
        self.connection = connection
        self.queue = make_queue(settings, connection)
        self.circuit = RedisCircuit(connection.ping)
        self._templates: dict[str, dict[EncodableT, EncodableT]] = {}
        self._pinned = _PinnedConnection()

    def enqueue(
        self, request: TaskRequest, *, idempotency_key: str | None, trace_context: dict[str, str]
    ) -> Enqueued:
        with self.circuit.guard():
            return self._enqueue(request, idempotency_key, trace_context)

    def _enqueue(
        self, request: TaskRequest, idempotency_key: str | None, trace_context: dict[str, str]
    ) -> Enqueued:
        spec = TASKS[request.task]
        meta: dict[str, Any] = {"task": spec.name, "trace": trace_context}
        if idempotency_key is None:
            job_id = uuid.uuid4().hex
            self._push(
                job_id, self._job_hash(spec, spec.arguments(request), spec.timeout_seconds(request), meta)
            )
            return Enqueued(job_id, created=True)
        meta["request_sha256"] = request_fingerprint(request)
        job = self.rq_job(
            spec,
            idempotent_job_id(idempotency_key),
            spec.arguments(request),
            spec.timeout_seconds(request),
            meta,
        )
        return self._enqueue_once(job, meta["request_sha256"])

    def rq_job(
        self, spec: TaskSpec, job_id: str, kwargs: dict[str, Any], timeout: int, meta: dict[str, Any]
    ) -> Job:
        """The job as RQ itself builds it (the reference for ``_job_hash``)."""
        from rq import Retry

        retry = (
            Retry(max=self.settings.retry_max, interval=list(self.settings.retry_intervals))
            if self.settings.retry_max > 0
            else None
        )
        return self.queue.create_job(
            spec.function,
            kwargs=kwargs,
            timeout=timeout,
            result_ttl=self.settings.result_ttl,
            failure_ttl=self.settings.failure_ttl,
            description=spec.name,  # not the call string: payloads stay out of logs and keys
            job_id=job_id,
            meta=meta,
            retry=retry,
        )

    def _job_hash(
        self, spec: TaskSpec, kwargs: dict[str, Any], timeout: int, meta: dict[str, Any]
    ) -> dict[EncodableT, EncodableT]:
        """The Redis hash RQ would write for this job, without building RQ's Job object.

        RQ's ``Job.create`` + ``enqueue_job`` cost ~0.1 ms of CPU per request (a typing-protocol
        check of the serializer on every call, strftime, argument parsing), most of the API's own
        share of a request. The fields that never vary per task come from ``Job.to_dict()`` of a
        template job built once by RQ; the per-job ones are filled in exactly as RQ formats them.
        tests/apps/test_jobs.py compares the result with RQ's own hash field by field.
        """
        template = self._templates.get(spec.name)
        if template is None:
            job = self.rq_job(spec, "0" * 32, {}, 1, {})
            job.origin = self.queue.name
            template = {
                key: value
                for key, value in job.to_dict().items()
                if key not in ("created_at", "enqueued_at", "data", "timeout", "meta", "status")
            }
            self._templates[spec.name] = template
        serializer = self.queue.serializer
        stamp = _rq_timestamp()
        return {
            **template,
            "created_at": stamp,
            "enqueued_at": stamp,
            "data": zlib.compress(serializer.dumps((spec.function, None, (), kwargs))),
            "timeout": timeout,
            "meta": serializer.dumps(meta),
            "status": "queued",
        }

    def _push(self, job_id: str, job_hash: dict[EncodableT, EncodableT]) -> None:
        # One round trip, as RQ's enqueue with a pipeline: queue registration, job hash, push,
        # in one MULTI/EXEC so a worker never sees the id before the hash.
        fields: list[EncodableT] = []
        for name, value in job_hash.items():
            fields += (name, value)
        self._transaction(
            ("SADD", self.queue.redis_queues_keys, self.queue.key),
            ("HSET", self.queue.job_class.key_for(job_id), *fields),
            ("RPUSH", self.queue.key, job_id),
        )

    def _transaction(self, *commands: tuple[EncodableT, ...]) -> None:
        """``MULTI commands EXEC`` on this thread's own connection, retried as redis-py would.

        Equivalent to ``pipeline().execute()``, without most of its per-call cost (~50 us of CPU
        here): redis-py takes a connection from the pool for every call, with a lock, checks and
        metric bookkeeping each time. A connection pinned to the serving thread needs none of
        that: any failure disconnects it (the next call reconnects), so it never holds half-read
        replies. It is still one of the client's pool, so ``Redis.close()`` closes it.
        """
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import ResponseError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        connection = self._pinned.connection
        if connection is None:
            connection = self._pinned.connection = self.connection.connection_pool.get_connection()
        else:
            # The one check the pool makes that matters (a poll, no read): a connection the
            # server closed meanwhile (restart, idle timeout) is replaced instead of failing.
            try:
                stale = connection.can_read()
            except (RedisConnectionError, RedisTimeoutError, OSError):
                stale = True
            if stale:
                connection.disconnect()
        packed = _pack_transaction(connection, commands)

        def attempt() -> list[Any]:
            connection.send_packed_command(packed)
            for _ in range(len(commands) + 1):
                connection.read_response()  # +OK, then +QUEUED per command (errors raise)
            replies: list[Any] = connection.read_response()
            return replies

        try:
            replies = connection.retry.call_with_retry(attempt, lambda _error: connection.disconnect())
        except BaseException:
            connection.disconnect()  # whatever was left unread goes with the socket
            raise
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply

    def _enqueue_once(self, job: Job, fingerprint: str) -> Enqueued:
        from rq.exceptions import DuplicateJobError, NoSuchJobError
        from rq.job import Job

        try:
            self.queue.enqueue_job(job, unique=True)
            return Enqueued(job.id, created=True)
        except DuplicateJobError:
            pass
        try:
            existing = Job.fetch(job.id, connection=self.connection, serializer=self.queue.serializer)
        except NoSuchJobError:  # expired between the two calls: the key is free again
            self.queue.enqueue_job(job, unique=True)
            return Enqueued(job.id, created=True)
        if existing.meta.get("request_sha256") != fingerprint:
            raise IdempotencyConflict(job.id)
        return Enqueued(job.id, created=False)

    def get(self, job_id: str) -> JobView | None:
        with self.circuit.guard():
            return self._get(job_id)

    def _get(self, job_id: str) -> JobView | None:
        from rq.exceptions import DeserializationError, NoSuchJobError
        from rq.job import Job

        try:
            job = Job.fetch(job_id, connection=self.connection, serializer=self.queue.serializer)
        except (NoSuchJobError, DeserializationError):
            return None
        raw_status = job.get_status(refresh=False)
        status = _STATUS.get(getattr(raw_status, "value", str(raw_status)), "queued")
        result: Any = None
        error: str | None = None
        if status == "finished":
            result = job.return_value()
        elif status == "failed":
            latest = job.latest_result()
            error = _last_line(latest.exc_string) if latest is not None and latest.exc_string else "failed"
        return JobView(
            job_id=job.id,
            task=str(job.meta.get("task") or job.func_name),
            status=status,
            result=result,
            error=error,
            enqueued_at=_aware(job.enqueued_at),
            ended_at=_aware(job.ended_at),
        )

    def ping(self) -> None:
        with self.circuit.guard():
            self.connection.ping()

    def depth(self) -> int:
        with self.circuit.guard():
            return int(self.queue.count)


_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"


def _pack_transaction(connection: Any, commands: tuple[tuple[EncodableT, ...], ...]) -> list[bytes]:
    """RESP bytes of ``MULTI commands EXEC``. hiredis packs a command in C; redis-py's own packer
    adds a Python pass over every argument (a job hash has ~40), so it is used only without it."""
    try:
        from hiredis import pack_command
    except ImportError:
        packed: list[bytes] = connection.pack_commands([("MULTI",), *commands, ("EXEC",)])
        return packed
    # (hiredis's stub types its argument as a 1-tuple.)
    return [b"".join([_MULTI, *(pack_command(cast(Any, command)) for command in commands), _EXEC])]


def _rq_timestamp() -> str:
    # RQ's utcformat ("%Y-%m-%dT%H:%M:%S.%fZ"), without strftime's cost.
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def _last_line(text: str) -> str:
    # The exception line of a traceback, not the traceback itself.
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else "failed"


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
