"""A circuit breaker in front of the API's Redis (issue 15): fail fast while Redis does not answer.

Without it, a Redis that hangs (connections open, no replies) makes every request wait out its
own socket timeout, one after another on each serving thread, so answers queue behind each other
for many seconds. With it, the first timeout or connection failure opens the circuit: from then
on every Redis call in this process raises ``CircuitOpen`` at once (the API answers 503 with
``Retry-After``), and a background thread probes Redis with a PING on its own connection every
``probe_interval`` seconds; the first answer closes the circuit again. So each request waits on
Redis for at most one timeout (``SREPLAT_REDIS_TIMEOUT_SECONDS``; the API's client does not retry
timeouts), and only the requests already waiting when Redis stopped answering wait at all.

One circuit per process (per gunicorn worker), shared by its serving threads; the probe thread
is started on the first failure, after the fork.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

REDIS_FAILURES = (RedisConnectionError, RedisTimeoutError)


class CircuitOpen(RedisConnectionError):
    """Redis failed recently and no probe has had an answer since: the call was not attempted.

    A redis ``ConnectionError``, so whatever handles an unreachable Redis handles this too."""


class RedisCircuit:
    def __init__(self, probe: Callable[[], object], *, probe_interval: float = 0.5) -> None:
        self._probe = probe
        self._probe_interval = probe_interval
        self._lock = threading.Lock()
        self._open = False
        self._wake = threading.Event()
        self._closed_for_good = False

    @property
    def is_open(self) -> bool:
        return self._open

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Run a Redis call: refused at once while the circuit is open; a failure opens it."""
        if self._open:
            raise CircuitOpen("redis did not answer recently; waiting for a probe to get through")
        try:
            yield
        except REDIS_FAILURES as exc:
            self.trip(exc)
            raise

    def trip(self, exc: BaseException) -> None:
        with self._lock:
            if self._open or self._closed_for_good:
                return
            self._open = True
        log.warning("redis unreachable, failing fast until it answers: %s", exc)
        threading.Thread(target=self._probe_until_it_answers, name="redis-probe", daemon=True).start()

    def close(self) -> None:
        """Stop probing (the application is shutting down)."""
        self._closed_for_good = True
        self._wake.set()

    def _probe_until_it_answers(self) -> None:
        while not self._wake.wait(self._probe_interval):
            try:
                self._probe()
            except Exception as exc:  # still down (timeout, refused, loading...): probe again later
                log.debug("redis probe failed: %s", exc)
                continue
            with self._lock:
                self._open = False
            log.info("redis answers again")
            return
