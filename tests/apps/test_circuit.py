"""The API's circuit breaker in front of Redis (``sreplat_apps.circuit``), against a real Redis
that is stopped and started again: no call reaches a Redis known to be down, a probe closes it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sreplat_apps.circuit import CircuitOpen
from sreplat_apps.contract import EchoRequest
from sreplat_apps.jobs import JobStore, connect
from sreplat_apps.settings import Settings

from tests.support.apps import wait_for
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

ECHO = EchoRequest(task="echo", payload={"n": 1})


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    (tmp_path / "r").mkdir()
    server = RedisServer(tmp_path / "r")
    server.start()
    yield server
    server.stop()


def test_the_circuit_opens_on_a_failure_refuses_at_once_and_a_probe_closes_it(
    own_redis: RedisServer, settings: Settings
) -> None:
    settings = replace(settings, redis_url=own_redis.url, redis_timeout_seconds=0.5)
    client = connect(settings, client_name="test", retry_timeouts=False)
    store = JobStore(settings, client)
    store.enqueue(ECHO, idempotency_key=None, trace_context={})
    calls: list[str] = []
    store.circuit._probe = lambda: (calls.append("probe"), client.ping())  # type: ignore[method-assign]

    own_redis.stop()
    with pytest.raises(RedisConnectionError) as first:
        store.enqueue(ECHO, idempotency_key=None, trace_context={})
    assert not isinstance(first.value, CircuitOpen)  # this one really tried
    assert store.circuit.is_open

    started = time.monotonic()
    for call in (store.ping, store.depth, lambda: store.get("0" * 32)):
        with pytest.raises(CircuitOpen):
            call()
    assert time.monotonic() - started < 0.5  # refused without a connection attempt

    wait_for(lambda: len(calls) >= 2, 10, "the probe to run while Redis is down")
    assert store.circuit.is_open
    own_redis.start()  # same port
    wait_for(lambda: not store.circuit.is_open, 10, "a probe to close the circuit")
    assert store.enqueue(ECHO, idempotency_key=None, trace_context={}).created
    client.close()
